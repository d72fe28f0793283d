"""Training schemes (F20): the seam that lets a scheme freeze a stage."""

import numpy as np
import pytest

from minirpn import Config
from minirpn import train as train_module
from minirpn.backbone import preprocess
from minirpn.checkpoint import load_checkpoint
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.model import Detector
from minirpn.proposal import proposal_layer
from minirpn.runs import CHECKPOINT_NAME, load_run
from minirpn.schemes import LOSS_NAMES, SCHEMES, ApproximateJoint, NonApproximateJoint, make_scheme
from minirpn.schemes.alternating import Alternating, step_iterations
from minirpn.schemes.steps import GROUND_TRUTH, roi_boxes, roi_boxes_backward

NUM_CLASSES = 3


def scene():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, size=(2, 48, 48, 3))
    boxes = [np.array([[4.0, 6.0, 30.0, 26.0]]), np.array([[10.0, 8.0, 24.0, 40.0]])]
    labels = [np.array([1]), np.array([3])]
    return images, boxes, labels


def grads_with(frozen, targets=None):
    """The detector's gradients after one step with ``frozen`` stages, on fixed targets."""
    detector = Detector(Config.tiny(roi_batch_size=16), NUM_CLASSES, seed=1, dtype=np.float64)
    scheme = ApproximateJoint(detector, frozen=frozen)
    detector.zero_grad()
    images, boxes, labels = scene()
    scheme.forward(images, boxes, labels, np.random.default_rng(5), targets=targets)
    scheme.backward()
    return {name: grad.copy() for name, grad in detector.grads.items()}, scheme


def test_frozen_stages_keep_their_grads_and_leave_the_optimiser():
    full, scheme = grads_with(())
    targets = scheme.last_targets
    for stage in ("backbone", "rpn", "roi_head"):
        grads, frozen_scheme = grads_with({stage}, targets)
        for name, grad in grads.items():
            if name.startswith(stage + "."):
                assert not grad.any(), f"{name} moved although {stage} is frozen"
            elif not name.startswith("backbone."):  # the other head is unaffected
                np.testing.assert_array_equal(grad, full[name], err_msg=name)
        names = {name for name, _, _ in frozen_scheme.parameters()}
        assert names == {n for n in full if not n.startswith(stage + ".")}


def test_the_shared_map_adds_the_two_paths():
    """Backbone gradient of the joint step = RPN path alone + head path alone (F20)."""
    full, scheme = grads_with(())
    rpn_only, _ = grads_with({"roi_head"}, scheme.last_targets)
    head_only, _ = grads_with({"rpn"}, scheme.last_targets)
    for name in full:
        if name.startswith("backbone."):
            assert np.abs(rpn_only[name]).max() > 0 and np.abs(head_only[name]).max() > 0
            np.testing.assert_allclose(
                full[name], rpn_only[name] + head_only[name], rtol=1e-10, atol=1e-14
            )


def test_scheme_names_and_bad_arguments():
    assert sorted(SCHEMES) == ["alternating", "approximate-joint", "non-approximate-joint"]
    detector = Detector(Config.tiny(), NUM_CLASSES)
    assert isinstance(make_scheme("approximate-joint", detector), ApproximateJoint)
    with pytest.raises(ValueError, match="scheme must be one of"):
        make_scheme("joint", detector)
    with pytest.raises(ValueError, match="frozen must name stages"):
        ApproximateJoint(detector, frozen={"head"})


# --- non-approximate joint training (F20 (3)) -------------------------------------------


def joint_scene(weight=1.0):
    """A float64 detector with RoIAlign, larger weights (gradients well above the noise).

    ``weight`` is the config's ``roi_coord_grad_weight``: 1, the exact gradient, by default.
    """
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, size=(2, 64, 64, 3))
    boxes = [
        np.array([[4.0, 6.0, 30.0, 26.0], [30.0, 28.0, 60.0, 62.0]]),
        np.array([[10.0, 8.0, 24.0, 50.0], [34.0, 10.0, 58.0, 30.0]]),
    ]
    labels = [np.array([1, 3]), np.array([2, 1])]
    cfg = Config.tiny(roi_batch_size=16, roi_op="align", roi_coord_grad_weight=weight)
    detector = Detector(cfg, NUM_CLASSES, seed=1, dtype=np.float64)
    for param in detector.params.values():
        param += rng.normal(0.0, 0.05, size=param.shape)
    return detector, images, boxes, labels


def total_loss_of(scheme, images, boxes, labels, targets):
    def total_loss():
        out = scheme.forward(images, boxes, labels, None, targets=targets)
        return sum(out[name] for name in LOSS_NAMES)

    return total_loss


def test_non_approximate_joint_whole_model_gradient_check_float64():
    """The analytic gradient of the total loss equals centred differences in which the RoIs
    are recomputed from the perturbed RPN deltas, with the same selections (F20 (3)).

    The sampled targets and proposal indices are fixed (``targets=``); every perturbation
    of an RPN weight moves the proposal RoIs, and the loss sees that through RoIAlign. The
    RPN's bbox_pred is checked on the entries the path changes most (that is where it
    enters), the layers before it on their largest entries. Approximate joint training's
    gradient, which leaves the path out, fails the same check.
    """
    detector, images, boxes, labels = joint_scene()
    scheme = NonApproximateJoint(detector)
    detector.zero_grad()
    losses = scheme.forward(images, boxes, labels, np.random.default_rng(5))
    targets = scheme.last_targets
    from_proposals = targets.roi_anchors != GROUND_TRUTH
    assert from_proposals.sum() >= 4 and (~from_proposals).any()
    assert (targets.roi_targets.labels[from_proposals] > 0).any(), "needs foreground proposals"
    scheme.backward()
    analytic = {name: grad.copy() for name, grad in detector.grads.items()}
    total_loss = total_loss_of(scheme, images, boxes, labels, targets)
    assert total_loss() == pytest.approx(sum(losses.values()), rel=1e-12)

    approximate = ApproximateJoint(detector)
    detector.zero_grad()
    approximate.forward(images, boxes, labels, None, targets=targets)
    approximate.backward()
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
    detector, images, boxes, labels = joint_scene()
    scheme = NonApproximateJoint(detector)
    scheme.forward(images, boxes, labels, np.random.default_rng(5))
    targets = scheme.last_targets
    features = detector.backbone.forward(preprocess(images, np.float64))
    _, deltas = detector.rpn.forward(features)
    anchors = detector.anchors(*deltas.shape[2:])
    # The RoIs are their anchors decoded and clipped: at the sampling deltas, bit for bit.
    rois = roi_boxes(targets.rois, targets.roi_anchors, deltas, anchors, (64, 64))
    np.testing.assert_array_equal(rois, targets.rois)
    # Other deltas move the proposal RoIs (same anchors), never the ground-truth ones.
    moved = roi_boxes(targets.rois, targets.roi_anchors, deltas + 0.01, anchors, (64, 64))
    gt_rows = targets.roi_anchors == GROUND_TRUTH
    np.testing.assert_array_equal(moved[gt_rows], targets.rois[gt_rows])
    np.testing.assert_array_equal(moved[:, 0], targets.rois[:, 0])
    assert (moved[~gt_rows, 1:] != targets.rois[~gt_rows, 1:]).any(axis=1).all()
    gt_of_image = [boxes[int(b)] for b in targets.rois[gt_rows, 0]]
    assert all(
        (g == r).all(axis=1).any()
        for g, r in zip(gt_of_image, targets.rois[gt_rows, 1:], strict=True)
    )
    # A gradient on the ground-truth RoIs reaches no delta.
    drois = np.where(gt_rows[:, None], 1.0, 0.0) * np.ones_like(targets.rois)
    assert not roi_boxes_backward(
        drois, targets.rois, targets.roi_anchors, deltas, anchors, (64, 64)
    ).any()
    # A forward on fixed targets keeps them: same samples, same regression targets.
    detector.params["rpn.bbox_pred.bias"] += 0.01
    scheme.forward(images, boxes, labels, None, targets=targets)
    assert scheme.last_targets is targets


def test_non_approximate_joint_coordinate_gradient_weight():
    """``roi_coord_grad_weight`` scales the coordinate path alone; 0 is approximate joint."""
    paths, targets = {}, None
    for weight in (1.0, 0.1, 0.0):
        detector, images, boxes, labels = joint_scene(weight)
        grads = {}
        for scheme_type in (NonApproximateJoint, ApproximateJoint):
            scheme = scheme_type(detector)
            detector.zero_grad()
            scheme.forward(images, boxes, labels, np.random.default_rng(5), targets=targets)
            targets = scheme.last_targets  # the first sample, reused by every other step
            scheme.backward()
            grads[scheme_type] = {k: g.copy() for k, g in detector.grads.items()}
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
    detector, images, boxes, labels = joint_scene()
    grads = {}
    for name, scheme_type, frozen in (
        ("joint", NonApproximateJoint, ()),
        ("no head", NonApproximateJoint, {"roi_head"}),
        ("approximate, no head", ApproximateJoint, {"roi_head"}),
        ("no rpn", NonApproximateJoint, {"rpn"}),
    ):
        scheme = scheme_type(detector, frozen=frozen)
        detector.zero_grad()
        targets = grads.get("targets")
        scheme.forward(images, boxes, labels, np.random.default_rng(5), targets=targets)
        grads.setdefault("targets", scheme.last_targets)
        scheme.backward()
        grads[name] = {k: g.copy() for k, g in detector.grads.items()}
    # With the head frozen no coordinate gradient exists: the RPN trains as approximately.
    for key, grad in grads["no head"].items():
        np.testing.assert_array_equal(grad, grads["approximate, no head"][key], err_msg=key)
    assert not grads["no rpn"]["rpn.bbox_pred.weight"].any()
    assert grads["joint"]["rpn.bbox_pred.weight"].any()
    with pytest.raises(ValueError, match="cfg.roi_op 'align'; got 'pool'"):
        NonApproximateJoint(Detector(Config.tiny(), NUM_CLASSES))
    with pytest.raises(ValueError, match="roi_anchors"):
        NonApproximateJoint(detector).forward(
            images, boxes, labels, None, targets=grads["targets"]._replace(roi_anchors=None)
        )
    assert isinstance(make_scheme("non-approximate-joint", detector), NonApproximateJoint)


# --- alternating training (F20 (1)) -----------------------------------------------------


def test_alternating_step_iterations_split_the_budget_2_1_2_1():
    assert step_iterations(Config.tiny()) == (833, 417, 833, 417)  # 2500 iterations
    assert step_iterations(Config()) == (23333, 11667, 23333, 11667)
    assert step_iterations(Config.tiny(max_iters=4)) == (1, 1, 1, 1)
    cfg = Config.tiny(max_iters=10, alternating_iters=(4, 1, 3, 2))
    assert step_iterations(cfg) == (4, 1, 3, 2)
    scheme = Alternating(Detector(cfg, NUM_CLASSES))
    assert [scheme.step_of(i) for i in range(10)] == [0] * 4 + [1] + [2] * 3 + [3] * 2
    assert list(scheme.step_range(2)) == [5, 6, 7]
    step_cfg, at = scheme.schedule(6)  # each step its own schedule, scaled to its length
    assert at == 1 and step_cfg.max_iters == 3 and step_cfg.lr_steps == (600,)
    with pytest.raises(ValueError, match="max_iters >= 4"):
        Alternating(Detector(Config.tiny(max_iters=3), NUM_CLASSES))
    with pytest.raises(RuntimeError, match="begin_iteration"):
        scheme.parameters()


def proposals_of(detector, image):
    features = detector.backbone.forward(preprocess(image[None], detector.dtype))
    scores, deltas = detector.rpn.forward(features)
    anchors = detector.anchors(*features.shape[2:])
    return proposal_layer(scores, deltas, anchors, image.shape[:2], detector.cfg, train=True)[0]


def test_alternating_steps_train_their_stages_on_proposals_made_once_by_the_right_network():
    """Each step: which stages train (grads, optimiser set), which are re-initialised, and
    where the RoIs of steps 2 and 4 come from (proposals made once, at the step's start)."""
    images, boxes, labels = scene()
    cfg = Config.tiny(roi_batch_size=16, max_iters=8, alternating_iters=(2, 2, 2, 2))
    detector = Detector(cfg, NUM_CLASSES, seed=1, dtype=np.float64)
    scheme = Alternating(detector, seed=3)
    loads = []

    def load(index):
        loads.append(index)
        return images[index]

    trains = [{"backbone", "rpn"}, {"backbone", "roi_head"}, {"rpn"}, {"roi_head"}]
    fresh = [set(), {"backbone", "roi_head"}, {"rpn"}, set()]  # re-initialised at the start
    for iteration in range(8):
        step = iteration // 2
        before = {k: v.copy() for k, v in detector.params.items()}
        expected = {i: proposals_of(detector, images[i]) for i in (0, 1)}
        loads.clear()
        started = scheme.begin_iteration(iteration, [0, 1], lambda s: [0, 1], load)
        assert started == (iteration % 2 == 0) and scheme.step == step
        # Proposals for steps 2 and 4: once per step, from the network the step starts from.
        assert loads == ([0, 1] if started and step in (1, 3) else [])
        if started and step in (1, 3):
            for i in (0, 1):
                np.testing.assert_array_equal(scheme.proposals[i], expected[i])
            made = {i: p.copy() for i, p in scheme.proposals.items()}
        for name, param in detector.params.items():
            if name.endswith(".weight"):  # biases start at 0, fresh ones too
                changed = not np.array_equal(param, before[name])
                assert changed == (started and name.split(".")[0] in fresh[step]), name
        assert {n.split(".")[0] for n, _, _ in scheme.parameters()} == trains[step]
        assert {n for n, _, _ in scheme.parameters()} == {
            n for n in detector.params if n.split(".")[0] in trains[step]
        }
        detector.zero_grad()
        scheme.forward(images, boxes, labels, np.random.default_rng(iteration))
        scheme.backward()
        for name, grad in detector.grads.items():
            assert grad.any() == (name.split(".")[0] in trains[step]), name
        if step in (1, 3):  # the head's RoIs: the stored proposals or ground truth, not new
            rois = scheme.last_targets.rois
            for roi in rois:
                b = int(roi[0])
                pool = np.vstack([made[b], boxes[b]])
                assert (pool == roi[1:]).all(axis=1).any()
            if step == 1:  # step 1's network made them, not the fresh backbone's
                assert not np.array_equal(proposals_of(detector, images[0]), made[0])


def test_alternating_run_end_to_end_and_resume_is_refused(tmp_path, monkeypatch):
    """4 iterations, one per step: one solver per step over its stages, a loadable run."""
    built = []

    class RecordingSGD(train_module.SGD):
        def __init__(self, named_params, **kwargs):
            named_params = list(named_params)
            built.append({name.split(".")[0] for name, _, _ in named_params})
            super().__init__(named_params, **kwargs)

    monkeypatch.setattr(train_module, "SGD", RecordingSGD)
    cfg = Config.tiny(max_iters=4, images_per_batch=1, warmup_iters=0)
    result = train_module.train(cfg, tmp_path, scheme="alternating", progress=False)
    assert result.iteration == 4 and np.isfinite(result.loss_history).all()
    assert built == [{"backbone", "rpn"}, {"backbone", "roi_head"}, {"rpn"}, {"roi_head"}]
    run = load_run(tmp_path)
    assert run.detector.detect(np.zeros((64, 64, 3), np.uint8))[0].shape[1] == 4
    state = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert state.extra["scheme"] == "alternating" and state.extra["scheme_step"] == 3
    with pytest.raises(ValueError, match="'alternating' run, which cannot be resumed"):
        train_module.train(cfg, tmp_path, resume=True, progress=False)
