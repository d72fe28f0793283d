"""Training schemes (F20): the seam that lets a scheme freeze a stage, the coordinate path of
non-approximate joint training, alternating training's four phases."""

import numpy as np
import pytest

from minirpn import Config
from minirpn import train as train_module
from minirpn.batching import Batch, load_batch
from minirpn.checkpoint import load_checkpoint
from minirpn.data import CocoDataset
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.ground_truth import GroundTruth
from minirpn.model import Detector
from minirpn.nn import SGD
from minirpn.runs import CHECKPOINT_NAME, load_run
from minirpn.schemes import (
    LOSS_NAMES,
    SCHEMES,
    STAGES,
    ApproximateJoint,
    NonApproximateJoint,
    Phase,
    scheme_phases,
)
from minirpn.schemes.alternating import Alternating, step_iterations
from minirpn.schemes.steps import GROUND_TRUTH, roi_boxes, roi_boxes_backward

NUM_CLASSES = 3


def scene():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, size=(2, 48, 48, 3))
    targets = [
        GroundTruth(np.array([[4.0, 6.0, 30.0, 26.0]]), np.array([1])),
        GroundTruth(np.array([[10.0, 8.0, 24.0, 40.0]]), np.array([3])),
    ]
    return Batch(images, targets, np.arange(2))


def grads_with(frozen, samples=None):
    """The detector's gradients after one step with ``frozen`` stages, on fixed samples."""
    detector = Detector(Config.tiny(roi_batch_size=16), NUM_CLASSES, seed=1, dtype=np.float64)
    step = ApproximateJoint(detector, frozen=frozen)
    detector.zero_grad()
    _, tape = step.forward(scene(), np.random.default_rng(5), samples=samples)
    step.backward(tape)
    return {name: grad.copy() for name, grad in detector.grads.items()}, step, tape.samples


def test_frozen_stages_keep_their_grads_and_leave_the_optimiser():
    full, _, samples = grads_with(())
    for stage in ("backbone", "rpn", "roi_head"):
        grads, frozen_step, _ = grads_with({stage}, samples)
        for name, grad in grads.items():
            if name.startswith(stage + "."):
                assert not grad.any(), f"{name} moved although {stage} is frozen"
            elif not name.startswith("backbone."):  # the other head is unaffected
                np.testing.assert_array_equal(grad, full[name], err_msg=name)
        names = {name for name, _, _ in frozen_step.parameters()}
        assert names == {n for n in full if not n.startswith(stage + ".")}


def test_the_shared_map_adds_the_two_paths():
    """Backbone gradient of the joint step = RPN path alone + head path alone (F20)."""
    full, _, samples = grads_with(())
    rpn_only, _, _ = grads_with({"roi_head"}, samples)
    head_only, _, _ = grads_with({"rpn"}, samples)
    for name in full:
        if name.startswith("backbone."):
            assert np.abs(rpn_only[name]).max() > 0 and np.abs(head_only[name]).max() > 0
            np.testing.assert_allclose(
                full[name], rpn_only[name] + head_only[name], rtol=1e-10, atol=1e-14
            )


def test_scheme_names_phases_and_bad_arguments():
    """The joint schemes are one phase of every stage with their own step; a scheme's name
    outside the registry and a stage's outside STAGES are refused."""
    assert sorted(SCHEMES) == ["alternating", "approximate-joint", "non-approximate-joint"]
    cfg = Config.tiny(max_iters=12)
    for name, step in (
        ("approximate-joint", ApproximateJoint),
        ("non-approximate-joint", NonApproximateJoint),
    ):
        assert scheme_phases(name, cfg) == [Phase("joint", 12, cfg, STAGES, step)]
    with pytest.raises(ValueError, match="scheme must be one of"):
        scheme_phases("joint", cfg)
    with pytest.raises(ValueError, match="frozen must name stages"):
        ApproximateJoint(Detector(Config.tiny(), NUM_CLASSES), frozen={"head"})


def test_given_proposals_are_the_rois_candidates_and_must_cover_the_batch():
    """A step with proposals made beforehand samples its RoIs from them (and the ground
    truth), never from the RPN; an image without proposals is refused by its index."""
    batch = scene()._replace(indices=np.array([7, 3]))
    detector = Detector(Config.tiny(roi_batch_size=16), NUM_CLASSES, seed=1)
    given = {7: np.array([[1.0, 2.0, 20.0, 30.0]], np.float32), 3: np.zeros((0, 4), np.float32)}
    _, tape = ApproximateJoint(detector, proposals=given).forward(batch, np.random.default_rng(0))
    assert tape.samples.roi_anchors is None  # no anchor to trace a given box back to
    for roi in tape.samples.rois:
        b = int(roi[0])
        pool = np.vstack([given[int(batch.indices[b])], batch.targets[b].boxes])
        assert (pool == roi[1:]).all(axis=1).any(), roi
    assert (tape.samples.rois[:, 0] == 1).any()  # the image with no proposal: its gt box
    with pytest.raises(ValueError, match=r"no proposals were made for the dataset images \[3\]"):
        ApproximateJoint(detector, proposals={7: given[7]}).forward(batch, np.random.default_rng(0))


@pytest.mark.parametrize(
    "roi_op, step_type",
    [("pool", ApproximateJoint), ("align", ApproximateJoint), ("align", NonApproximateJoint)],
)
def test_a_step_on_an_image_with_no_ground_truth_and_no_proposal(roi_op, step_type):
    """Issue 21 R10: no ground truth, and no proposal survives the minimum size (200 px on a
    64 px image): zero RoIs reach the head. The step runs with finite losses (the head's are
    0), the RPN still learns its negatives, no gradient reaches the head's weights."""
    detector = Detector(Config.tiny(rpn_min_size=200.0, roi_op=roi_op), NUM_CLASSES, seed=1)
    image = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    nothing = GroundTruth(np.zeros((0, 4)), np.zeros(0, np.int64))
    step = step_type(detector)
    detector.zero_grad()
    losses, tape = step.forward(Batch(image, [nothing], np.arange(1)), np.random.default_rng(0))
    assert tape.samples.rois.shape == (0, 5)
    assert np.isfinite(losses["rpn_cls"]) and losses["rpn_cls"] > 0
    assert losses["rpn_reg"] == losses["cls"] == losses["reg"] == 0.0
    step.backward(tape)
    learns = ("backbone.", "rpn.conv.", "rpn.cls_score.")  # no positive anchor: no regression
    for name, grad in detector.grads.items():
        assert np.isfinite(grad).all() and grad.any() == name.startswith(learns), name


# --- non-approximate joint training (F20 (3)) -------------------------------------------


def joint_scene(weight=1.0):
    """A float64 detector with RoIAlign, larger weights (gradients well above the noise).

    ``weight`` is the config's ``roi_coord_grad_weight``: 1, the exact gradient, by default.
    """
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, size=(2, 64, 64, 3))
    targets = [
        GroundTruth(np.array([[4.0, 6.0, 30.0, 26.0], [30.0, 28.0, 60.0, 62.0]]), np.array([1, 3])),
        GroundTruth(
            np.array([[10.0, 8.0, 24.0, 50.0], [34.0, 10.0, 58.0, 30.0]]), np.array([2, 1])
        ),
    ]
    cfg = Config.tiny(roi_batch_size=16, roi_op="align", roi_coord_grad_weight=weight)
    detector = Detector(cfg, NUM_CLASSES, seed=1, dtype=np.float64)
    for param in detector.params.values():
        param += rng.normal(0.0, 0.05, size=param.shape)
    return detector, Batch(images, targets, np.arange(2))


def total_loss_of(step, batch, samples):
    def total_loss():
        out, _ = step.forward(batch, None, samples=samples)
        return sum(out[name] for name in LOSS_NAMES)

    return total_loss


def test_non_approximate_joint_whole_model_gradient_check_float64():
    """The analytic gradient of the total loss equals centred differences in which the RoIs
    are recomputed from the perturbed RPN deltas, with the same selections (F20 (3)).

    The samples and proposal indices are fixed (``samples=``); every perturbation of an RPN
    weight moves the proposal RoIs, and the loss sees that through RoIAlign. The RPN's
    bbox_pred is checked on the entries the path changes most (that is where it enters),
    the layers before it on their largest entries. Approximate joint training's gradient,
    which leaves the path out, fails the same check.
    """
    detector, batch = joint_scene()
    step = NonApproximateJoint(detector)
    detector.zero_grad()
    losses, tape = step.forward(batch, np.random.default_rng(5))
    samples = tape.samples
    from_proposals = samples.roi_anchors != GROUND_TRUTH
    assert from_proposals.sum() >= 4 and (~from_proposals).any()
    assert (samples.roi_targets.labels[from_proposals] > 0).any(), "needs foreground proposals"
    step.backward(tape)
    analytic = {name: grad.copy() for name, grad in detector.grads.items()}
    total_loss = total_loss_of(step, batch, samples)
    assert total_loss() == pytest.approx(sum(losses.values()), rel=1e-12)

    approximate = ApproximateJoint(detector)
    detector.zero_grad()
    approximate.backward(approximate.forward(batch, None, samples=samples)[1])
    without_path = detector.grads["rpn.bbox_pred.weight"].copy()

    def check(name, entries):
        flat = detector.params[name].reshape(-1)  # a view: perturbing it perturbs the model
        numeric = np.array(
            [numerical_gradient(total_loss, flat[i : i + 1], h=1e-6)[0] for i in entries]
        )
        return relative_error(analytic[name].reshape(-1)[entries], numeric), numeric

    # bbox_pred: the entries the path changes most, and those with the largest gradient.
    path = np.abs(analytic["rpn.bbox_pred.weight"] - without_path).reshape(-1)
    largest = np.abs(analytic["rpn.bbox_pred.weight"]).reshape(-1)
    entries = np.union1d(np.argsort(-path)[:4], np.argsort(-largest)[:2])
    errors = {}
    errors["rpn.bbox_pred.weight"], numeric = check("rpn.bbox_pred.weight", entries)
    assert relative_error(without_path.reshape(-1)[entries], numeric) > 1e-3  # path matters
    for name in ("rpn.bbox_pred.bias", "rpn.conv.weight", "backbone.6.weight"):
        entries = np.sort(np.argsort(-np.abs(analytic[name]).reshape(-1))[:2])
        errors[name], _ = check(name, entries)
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, errors


def test_non_approximate_joint_holds_the_selections_and_targets_fixed():
    """What stays constant (F20 (3)): the selections, the ground-truth RoIs, the targets."""
    detector, batch = joint_scene()
    step = NonApproximateJoint(detector)
    _, tape = step.forward(batch, np.random.default_rng(5))
    samples = tape.samples
    features, _ = detector.features(batch.images)
    rpn_out, _ = detector.rpn.forward(features)
    # The RoIs are their anchors decoded and clipped: at the sampling deltas, bit for bit.
    rois = roi_boxes(samples.rois, samples.roi_anchors, rpn_out, (64, 64))
    np.testing.assert_array_equal(rois, samples.rois)
    # Other deltas move the proposal RoIs (same anchors), never the ground-truth ones.
    shifted = rpn_out._replace(deltas=[d + 0.01 for d in rpn_out.deltas])
    moved = roi_boxes(samples.rois, samples.roi_anchors, shifted, (64, 64))
    gt_rows = samples.roi_anchors == GROUND_TRUTH
    np.testing.assert_array_equal(moved[gt_rows], samples.rois[gt_rows])
    np.testing.assert_array_equal(moved[:, 0], samples.rois[:, 0])
    assert (moved[~gt_rows, 1:] != samples.rois[~gt_rows, 1:]).any(axis=1).all()
    gt_of_image = [batch.targets[int(b)].boxes for b in samples.rois[gt_rows, 0]]
    assert all(
        (g == r).all(axis=1).any()
        for g, r in zip(gt_of_image, samples.rois[gt_rows, 1:], strict=True)
    )
    # A gradient on the ground-truth RoIs reaches no delta.
    drois = np.where(gt_rows[:, None], 1.0, 0.0) * np.ones_like(samples.rois)
    back = roi_boxes_backward(drois, samples.rois, samples.roi_anchors, rpn_out, (64, 64))
    assert len(back) == 1 and not back[0].any()
    # A forward on fixed samples keeps them: same samples, same regression targets.
    detector.params["rpn.bbox_pred.bias"] += 0.01
    _, tape = step.forward(batch, None, samples=samples)
    assert tape.samples is samples


def test_non_approximate_joint_coordinate_gradient_weight():
    """``roi_coord_grad_weight`` scales the coordinate path alone; 0 is approximate joint."""
    paths, samples = {}, None
    for weight in (1.0, 0.1, 0.0):
        detector, batch = joint_scene(weight)
        grads = {}
        for step_type in (NonApproximateJoint, ApproximateJoint):
            step = step_type(detector)
            detector.zero_grad()
            _, tape = step.forward(batch, np.random.default_rng(5), samples=samples)
            samples = tape.samples  # the first sample, reused by every other step
            step.backward(tape)
            grads[step_type] = {k: g.copy() for k, g in detector.grads.items()}
        for name in ("rpn.bbox_pred.weight", "rpn.bbox_pred.bias", "rpn.conv.weight"):
            path = grads[NonApproximateJoint][name] - grads[ApproximateJoint][name]
            paths[weight, name] = path
            if weight == 0.0:
                assert not path.any(), name
            else:
                assert np.abs(path).max() > 1e-3, name
        # The RPN's scores and the head see no difference.
        for name in ("rpn.cls_score.weight", "roi_head.cls_score.weight"):
            np.testing.assert_array_equal(
                grads[NonApproximateJoint][name], grads[ApproximateJoint][name]
            )
    for name in ("rpn.bbox_pred.weight", "rpn.bbox_pred.bias", "rpn.conv.weight"):
        np.testing.assert_allclose(
            paths[0.1, name], 0.1 * paths[1.0, name], rtol=1e-7, atol=1e-12, err_msg=name
        )


def test_non_approximate_joint_frozen_stages_and_bad_arguments():
    detector, batch = joint_scene()
    grads = {}
    samples = None
    for name, step_type, frozen in (
        ("joint", NonApproximateJoint, ()),
        ("no head", NonApproximateJoint, {"roi_head"}),
        ("approximate, no head", ApproximateJoint, {"roi_head"}),
        ("no rpn", NonApproximateJoint, {"rpn"}),
    ):
        step = step_type(detector, frozen=frozen)
        detector.zero_grad()
        _, tape = step.forward(batch, np.random.default_rng(5), samples=samples)
        samples = tape.samples
        step.backward(tape)
        grads[name] = {k: g.copy() for k, g in detector.grads.items()}
    # With the head frozen no coordinate gradient exists: the RPN trains as approximately.
    for key, grad in grads["no head"].items():
        np.testing.assert_array_equal(grad, grads["approximate, no head"][key], err_msg=key)
    assert not grads["no rpn"]["rpn.bbox_pred.weight"].any()
    assert grads["joint"]["rpn.bbox_pred.weight"].any()
    with pytest.raises(ValueError, match="cfg.roi_op 'pool' has none \\(use 'align'\\)"):
        NonApproximateJoint(Detector(Config.tiny(), NUM_CLASSES))
    with pytest.raises(ValueError, match="differentiates its own proposals"):
        NonApproximateJoint(detector, proposals={0: np.zeros((0, 4))})
    with pytest.raises(ValueError, match="roi_anchors"):
        NonApproximateJoint(detector).forward(
            batch, None, samples=samples._replace(roi_anchors=None)
        )
    assert SCHEMES["non-approximate-joint"] is NonApproximateJoint


# --- alternating training (F20 (1)) -----------------------------------------------------
TRAINS = [{"backbone", "rpn"}, {"backbone", "roi_head"}, {"rpn"}, {"roi_head"}]
FRESH = [set(), {"backbone", "roi_head"}, {"rpn"}, set()]  # re-initialised at the start


def test_alternating_phases_split_the_budget_2_1_2_1_each_with_its_own_schedule():
    assert step_iterations(Config.tiny()) == (833, 417, 833, 417)  # 2500 iterations
    assert step_iterations(Config()) == (23333, 11667, 23333, 11667)
    assert step_iterations(Config.tiny(max_iters=4)) == (1, 1, 1, 1)
    cfg = Config.tiny(max_iters=10, alternating_iters=(4, 1, 3, 2))
    phases = scheme_phases("alternating", cfg)
    assert phases == Alternating.phases(cfg)
    assert [p.name for p in phases] == ["1-rpn", "2-detector", "3-rpn", "4-detector"]
    assert [p.iterations for p in phases] == [4, 1, 3, 2]
    assert [set(p.trains) for p in phases] == TRAINS
    assert [set(p.fresh) for p in phases] == FRESH
    assert [p.given_proposals for p in phases] == [False, True, False, True]
    assert all(p.step is ApproximateJoint for p in phases)
    offsets = [p.seed_offset for p in phases[1:3]]  # fresh weights are not step 1's
    assert 0 not in offsets and offsets[0] != offsets[1]
    # Step 3 runs 3 of the 10 iterations: the tiny preset's warm-up (100) and rate step
    # (2000 of 2500) shrink to 30 and 600, counted from the step's first iteration.
    schedule = phases[2].schedule
    assert (schedule.max_iters, schedule.warmup_iters, schedule.lr_steps) == (3, 30, (600,))
    with pytest.raises(ValueError, match="max_iters >= 4"):
        scheme_phases("alternating", Config.tiny(max_iters=3))


def snapshot(detector):
    return {name: param.copy() for name, param in detector.params.items()}


def proposals_of(params, cfg, num_classes, dataset, index):
    """The training proposals (F15, F16) of one image by a detector holding ``params``."""
    detector = Detector(cfg, num_classes)
    detector.load_params(params)
    images = load_batch(dataset, np.array([index]), None).images
    features, _ = detector.features(images)
    rpn_out, _ = detector.rpn.forward(features)
    return detector.rpn.propose(rpn_out, images.shape[1:3], train=True)[0].boxes


def test_alternating_phases_train_their_stages_on_proposals_made_once_by_the_right_network(
    small_data, tmp_path, monkeypatch
):
    """Each phase as the loop runs it: a new solver over the stages it trains, and only those
    get gradients; the stages it starts afresh hold a fresh initialisation at its first
    iteration, the others what the previous phase left; the proposals of phases 2 and 4 are
    made once, at the phase's start, by the network as the previous phase left it, for
    exactly the images the phase trains on, and the phase's RoIs come from them or from the
    ground truth, never from the RPN."""
    seed = 3
    cfg = Config.tiny(
        roi_batch_size=16, max_iters=8, alternating_iters=(2, 2, 2, 2), warmup_iters=0
    )
    solvers, seen, after_step = [], [], []
    real_init, real_step = SGD.__init__, SGD.step
    real_forward, real_backward = ApproximateJoint.forward, ApproximateJoint.backward

    def sgd_init(self, named_params, **kwargs):
        named_params = list(named_params)
        solvers.append({name.split(".")[0] for name, _, _ in named_params})
        real_init(self, named_params, **kwargs)

    def sgd_step(self):
        real_step(self)
        after_step.append(snapshot(seen[-1]["step"].detector))

    def forward(self, batch, rng, samples=None):
        record = {"step": self, "before": snapshot(self.detector), "batch": batch}
        losses, record["tape"] = real_forward(self, batch, rng, samples)
        seen.append(record)
        return losses, record["tape"]

    def backward(self, tape):
        real_backward(self, tape)
        seen[-1]["grads"] = {n.split(".")[0] for n, g in self.detector.grads.items() if g.any()}

    for cls, name, value in (
        (SGD, "__init__", sgd_init),
        (SGD, "step", sgd_step),
        (ApproximateJoint, "forward", forward),
        (ApproximateJoint, "backward", backward),
    ):
        monkeypatch.setattr(cls, name, value)
    train_module.train(
        cfg, tmp_path, data=small_data, seed=seed, scheme="alternating", progress=False
    )
    monkeypatch.undo()

    dataset = CocoDataset(small_data / "train")
    num_classes = len(dataset.class_names)
    phases = scheme_phases("alternating", cfg)
    assert solvers == TRAINS and len(seen) == len(after_step) == 8
    fresh = {
        p: Detector(cfg, num_classes, seed=seed + phases[p].seed_offset).params for p in (1, 2)
    }
    for i, record in enumerate(seen):
        p, step = i // 2, record["step"]
        assert step.frozen == set(STAGES) - TRAINS[p] and record["grads"] == TRAINS[p], i
        previous = snapshot(Detector(cfg, num_classes, seed=seed)) if i == 0 else after_step[i - 1]
        for name, value in record["before"].items():
            starts_fresh = i % 2 == 0 and name.split(".")[0] in FRESH[p]
            expected = fresh[p][name] if starts_fresh else previous[name]
            np.testing.assert_array_equal(value, expected, err_msg=f"iteration {i}: {name}")
        if not phases[p].given_proposals:
            assert step.given_proposals is None
            continue
        assert seen[2 * p + 1]["step"] is step  # made once for the phase
        made = step.given_proposals
        assert set(made) == {int(j) for r in seen[2 * p : 2 * p + 2] for j in r["batch"].indices}
        with np.load(tmp_path / f"proposals-{phases[p].name}.npz") as saved:
            assert {int(k.split("/")[1]): saved[k] for k in saved.files}.keys() == made.keys()
            for key in saved.files:
                np.testing.assert_array_equal(saved[key], made[int(key.split("/")[1])])
        for index, boxes in made.items():
            expected = proposals_of(after_step[2 * p - 1], cfg, num_classes, dataset, index)
            np.testing.assert_array_equal(boxes, expected, err_msg=f"phase {p + 1}: {index}")
        batch, rois = record["batch"], record["tape"].samples.rois
        for roi in rois:
            b = int(roi[0])
            pool = np.vstack([made[int(batch.indices[b])], batch.targets[b].boxes])
            assert (pool == roi[1:]).all(axis=1).any(), roi
        if p == 1 and i % 2 == 0:  # step 1's network made them, not step 2's fresh backbone
            index = int(batch.indices[0])
            by_fresh = proposals_of(record["before"], cfg, num_classes, dataset, index)
            assert by_fresh.shape != made[index].shape or (by_fresh != made[index]).any()


def test_alternating_run_end_to_end(tmp_path):
    """4 iterations on the toy data, one per phase: a loadable run whose state says so."""
    cfg = Config.tiny(max_iters=4, images_per_batch=1, warmup_iters=0)
    result = train_module.train(cfg, tmp_path, scheme="alternating", progress=False)
    assert result.iteration == 4 and not result.interrupted
    assert result.loss_names == LOSS_NAMES and result.loss_history.shape == (4, 4)
    assert np.isfinite(result.loss_history).all()
    run = load_run(tmp_path)
    assert run.detector.detect(np.zeros((64, 64, 3), np.uint8))[0].shape[1] == 4
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert (state.run.scheme, state.run.phase, state.iteration) == ("alternating", 4, 4)
    assert sorted(p.name for p in tmp_path.glob("proposals-*.npz")) == [
        "proposals-2-detector.npz",
        "proposals-4-detector.npz",
    ]
    # A finished run resumed has nothing left to do: the same weights.
    again = train_module.train(cfg, tmp_path, resume=True, progress=False)
    assert again.iteration == 4
    for name, param in result.detector.params.items():
        np.testing.assert_array_equal(again.detector.params[name], param, err_msg=name)
