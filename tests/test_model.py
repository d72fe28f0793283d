"""The whole detector: gradient check of every layer, anchors on the receptive field, inference."""

import numpy as np
import pytest

from minirpn import Config
from minirpn.backbone import FLOAT_PIXEL_SLACK, check_images, preprocess
from minirpn.batching import Batch
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.ground_truth import GroundTruth
from minirpn.model import Detector
from minirpn.proposal import proposal_layer
from minirpn.receptive_field import receptive_field
from minirpn.roi_head import postprocess
from minirpn.schemes import LOSS_NAMES, ApproximateJoint

NUM_CLASSES = 3
IMAGE_SIZE = 64  # an 8 x 8 feature map: small enough for finite differences of the whole net


def scene(rng):
    """A batch of two 64 x 64 noise images, each with two ground-truth boxes."""
    images = rng.uniform(0.0, 1.0, size=(2, IMAGE_SIZE, IMAGE_SIZE, 3))
    targets = [
        GroundTruth(np.array([[4.0, 6.0, 30.0, 26.0], [30.0, 28.0, 60.0, 62.0]]), np.array([1, 3])),
        GroundTruth(
            np.array([[10.0, 8.0, 24.0, 50.0], [34.0, 10.0, 58.0, 30.0]]), np.array([2, 1])
        ),
    ]
    return Batch(images, targets, np.arange(2))


def test_whole_model_gradient_check_float64():
    """Analytic gradients of rpn_cls + rpn_reg + cls + reg against centred differences.

    Float64, fixed seed. The sampled anchors and RoIs are computed once and then held
    fixed (``samples=``): that is exactly what approximate joint training (F20) treats as
    constant, and it makes the loss a smooth function of the weights except at ReLU and
    max-pooling kinks. For every parameter tensor we check the entries with the largest
    analytic gradient (so the comparison is not swamped by rounding noise of entries
    whose gradient is ~0), plus one random entry.

    The step is h = 1e-6: a first-layer weight moves every activation of the network, and
    with h = 1e-5 some of them cross a ReLU or max-pool kink inside [w - h, w + h] (seen
    here as errors ~3e-4 on ``backbone.0``). At 1e-6 no kink is crossed for this seed and
    all errors are below ~1e-8; a wrong backward gives > 1e-2.
    """
    rng = np.random.default_rng(0)
    batch = scene(rng)
    cfg = Config.tiny(roi_batch_size=16)
    detector = Detector(cfg, NUM_CLASSES, seed=1, dtype=np.float64)
    # Larger weights than the Gaussian 0.01 init, so that every layer's gradient is
    # well above finite-difference noise.
    for param in detector.params.values():
        param += rng.normal(0.0, 0.05, size=param.shape)

    step = ApproximateJoint(detector)
    detector.zero_grad()
    losses, tape = step.forward(batch, np.random.default_rng(5))
    samples = tape.samples
    assert (samples.roi_targets.labels > 0).any(), "the check needs foreground RoIs"
    step.backward(tape)
    analytic = {name: grad.copy() for name, grad in detector.grads.items()}

    def total_loss():
        out, _ = step.forward(batch, None, samples=samples)
        return sum(out[name] for name in LOSS_NAMES)

    assert total_loss() == pytest.approx(sum(losses.values()), rel=1e-12)
    pick = np.random.default_rng(2)
    errors = {}
    for name, param in detector.params.items():
        flat = param.reshape(-1)  # a view: perturbing it perturbs the model
        grad = analytic[name].reshape(-1)
        entries = set(np.argsort(-np.abs(grad))[:2].tolist()) | {int(pick.integers(flat.size))}
        numeric = np.array(
            [numerical_gradient(total_loss, flat[i : i + 1], h=1e-6)[0] for i in sorted(entries)]
        )
        errors[name] = relative_error(grad[sorted(entries)], numeric)
        assert np.abs(grad[sorted(entries)]).max() > 1e-6, f"{name}: gradient too small to check"
    worst = max(errors, key=errors.get)
    assert errors[worst] < 1e-6, f"{worst}: relative error {errors[worst]:.2e}"
    # Every layer took part: backbone, RPN head and the second stage.
    assert {n.split(".")[0] for n in errors} == {"backbone", "rpn", "roi_head"}


def test_anchors_sit_on_receptive_field_centres():
    detector = Detector(Config.tiny(), NUM_CLASSES)
    rf = receptive_field(detector.backbone)
    anchors = detector.rpn.anchors(3, 5).reshape(3, 5, -1, 4)  # (h, w, A, 4)
    centres_x = (anchors[..., 0] + anchors[..., 2]) / 2
    centres_y = (anchors[..., 1] + anchors[..., 3]) / 2
    np.testing.assert_allclose(
        centres_x, np.broadcast_to(rf.center(np.arange(5))[None, :, None], centres_x.shape)
    )
    np.testing.assert_allclose(
        centres_y, np.broadcast_to(rf.center(np.arange(3))[:, None, None], centres_y.shape)
    )
    # The tiny backbone: stride 8, cell 0 centred at pixel 3.5, i.e. coordinate 4.0 (F4);
    # size by F3 from the top: 1 -> 3 -> 6 -> 8 -> 16 -> 18 -> 36 -> 38.
    assert rf.stride == 8 and rf.center(0) == 4.0 and rf.size == 38


def test_anchor_center_moves_every_anchor_by_the_same_offset():
    """``cfg.anchor_center`` = 0 puts the anchors on the cells' corners (torchvision's
    choice): every anchor shifts by -4 px in x and y from the receptive-field centres."""
    centred = Detector(Config.tiny(), NUM_CLASSES).rpn.anchors(3, 5)
    corners = Detector(Config.tiny(anchor_center=0.0), NUM_CLASSES).rpn.anchors(3, 5)
    np.testing.assert_array_equal(corners, centred - 4.0)
    # Cell (0, 0)'s square anchor of scale 2 (16 px): (-8, -8, 8, 8).
    square = Config.tiny().anchor_ratios.index(1.0) * 3  # ratio-major order, scale 2 first
    np.testing.assert_array_equal(corners[square], [-8.0, -8.0, 8.0, 8.0])


def test_config_stride_must_match_backbone():
    with pytest.raises(ValueError, match="feat_stride"):
        Detector(Config.tiny(feat_stride=16), NUM_CLASSES)


def test_parameters_by_name_and_shapes():
    cfg = Config.tiny()
    detector = Detector(cfg, NUM_CLASSES)
    params, grads = detector.params, detector.grads
    assert params.keys() == grads.keys()
    assert params["backbone.0.weight"].shape == (16, 3, 3, 3)
    assert params["rpn.conv.weight"].shape == (cfg.rpn_channels, 64, 3, 3)
    assert params["rpn.cls_score.weight"].shape == (2 * cfg.num_anchors, cfg.rpn_channels, 1, 1)
    assert params["roi_head.fc6.weight"].shape == (cfg.fc_channels, 64 * 7 * 7)
    assert params["roi_head.cls_score.weight"].shape == (NUM_CLASSES + 1, cfg.fc_channels)
    assert params["roi_head.bbox_pred.weight"].shape == (4 * (NUM_CLASSES + 1), cfg.fc_channels)
    assert all(p.dtype == np.float32 for p in params.values())
    # The new layers follow the paper's Gaussian init (F14), std 0.01.
    assert params["rpn.conv.weight"].std() == pytest.approx(0.01, rel=0.05)


def test_load_params_rejects_a_mismatch():
    detector = Detector(Config.tiny(), NUM_CLASSES)
    params = {k: v.copy() for k, v in detector.params.items()}
    params["roi_head.fc6.weight"] = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="roi_head.fc6.weight"):
        detector.load_params(params)
    del params["roi_head.fc6.weight"]
    with pytest.raises(ValueError, match="missing"):
        detector.load_params(params)


def test_detect_accepts_any_image_format_and_size():
    detector = Detector(Config.tiny(), NUM_CLASSES).eval()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(100, 75, 3), dtype=np.uint8)
    reference = detector.detect(rgb)
    # The same picture as floats in [0, 1] and with an alpha channel gives the same result.
    for variant in (rgb / 255.0, np.dstack([rgb, np.full((100, 75), 255, np.uint8)])):
        for got, want in zip(detector.detect(variant), reference, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    # Grayscale is the same gray copied into R, G and B: the very same detections.
    gray = rgb[:, :, 0]
    for got, want in zip(
        detector.detect(gray), detector.detect(np.dstack([gray] * 3)), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    boxes, scores, labels = reference
    assert np.all(np.diff(scores) <= 0) and np.all(scores > detector.cfg.test_score_thresh)
    assert np.all((labels >= 1) & (labels <= NUM_CLASSES))
    assert np.all(boxes[:, [0, 2]] >= 0) and np.all(boxes[:, [0, 2]] <= 75)
    assert np.all(boxes[:, [1, 3]] >= 0) and np.all(boxes[:, [1, 3]] <= 100)


def test_detect_refuses_pixels_it_would_misread():
    """D6: a float image in [0, 255] would be read 255 times too bright; NaN would spread."""
    detector = Detector(Config.tiny(), NUM_CLASSES).eval()
    image = np.random.default_rng(0).uniform(0, 255, size=(32, 32, 3))
    with pytest.raises(ValueError, match=r"image are float with values in \[0.*, 25.*\]"):
        detector.detect(image)
    detector.detect(image / 255.0)  # the same picture in [0, 1] is fine
    detector.detect(np.clip(image / 255.0, 0, 1) + 1e-4)  # rounding noise above 1 is fine
    image = image / 255.0
    image[3, 4, 0] = np.nan
    with pytest.raises(
        ValueError, match=r"image has a non-finite pixel value nan at index \(3, 4, 0\)"
    ):
        detector.detect(image)


def test_float_pixels_may_stray_by_the_slack_and_no_further():
    """Resized float images overshoot [0, 1] by rounding; FLOAT_PIXEL_SLACK allows for it."""
    image = np.full((8, 8, 3), 0.5)
    for value in (-FLOAT_PIXEL_SLACK, 1.0 + FLOAT_PIXEL_SLACK, 0.0, 1.0):
        image[2, 3, 1] = value
        assert check_images(image) is image
    for value in (-2 * FLOAT_PIXEL_SLACK, 1.0 + 2 * FLOAT_PIXEL_SLACK, 255.0):
        image[2, 3, 1] = value
        with pytest.raises(ValueError, match="float pixels must lie in"):
            check_images(image)
    for value in (np.nan, np.inf, -np.inf):
        image[2, 3, 1] = value
        with pytest.raises(ValueError, match=r"non-finite pixel value .* at index \(2, 3, 1\)"):
            check_images(image)
    uint8 = np.full((8, 8, 3), 255, np.uint8)
    assert check_images(uint8) is uint8


def test_detect_rejects_too_small_and_malformed_images():
    detector = Detector(Config.tiny(), NUM_CLASSES).eval()
    assert detector.min_image_size == 8  # three 2x2 poolings: 8 pixels make one cell
    detector.detect(np.zeros((8, 8, 3), np.uint8))  # the smallest that works
    with pytest.raises(ValueError, match="at least 8x8"):
        detector.detect(np.zeros((7, 30, 3), np.uint8))
    with pytest.raises(ValueError, match="shape"):
        detector.detect(np.zeros((20, 20, 2), np.uint8))
    with pytest.raises(TypeError, match="dtype"):
        detector.detect(np.zeros((20, 20, 3), np.int32))


def test_preprocess_layout_and_scale():
    images = np.zeros((2, 5, 7, 3), np.uint8)
    images[1, 2, 3] = (255, 0, 128)
    x = preprocess(images)
    assert x.shape == (2, 3, 5, 7) and x.dtype == np.float32
    expected = [(1 - 0.5) / 0.25, (0 - 0.5) / 0.25, (128 / 255 - 0.5) / 0.25]
    np.testing.assert_allclose(x[1, :, 2, 3], expected, rtol=1e-6, atol=1e-6)


def test_loss_terms_are_finite_and_nan_input_gives_nan_losses():
    rng = np.random.default_rng(3)
    batch = scene(rng)
    step = ApproximateJoint(Detector(Config.tiny(), NUM_CLASSES))
    batch = batch._replace(images=batch.images.astype(np.float32))
    losses, tape = step.forward(batch, np.random.default_rng(0))
    assert tuple(losses) == LOSS_NAMES and all(np.isfinite(v) for v in losses.values())
    # A diverging run: weights overflowed to infinity give NaN losses, not an exception,
    # and no tape to run backward on.
    step.detector.params["rpn.conv.weight"][0, 0, 0, 0] = np.inf
    with np.errstate(invalid="ignore", over="ignore"):
        losses, tape = step.forward(batch, np.random.default_rng(0))
    assert all(np.isnan(v) for v in losses.values()) and tape is None
    with pytest.raises(RuntimeError, match="needs the tape of a successful forward"):
        step.backward(tape)


def test_bad_training_input_is_named():
    """D6: NaN or wrongly scaled pixels, a short target list, a missing batch axis."""
    rng = np.random.default_rng(3)
    batch = scene(rng)
    step = ApproximateJoint(Detector(Config.tiny(), NUM_CLASSES))
    nan_images = batch.images.copy()
    nan_images[1, 5, 6, 2] = np.nan
    with pytest.raises(
        ValueError, match=r"images has a non-finite pixel value nan at index \(1, 5, 6, 2\)"
    ):
        step.forward(batch._replace(images=nan_images), rng)
    with pytest.raises(
        ValueError, match=r"values in \[0, 25[0-9.]*\]; float pixels must lie in \[0, 1\]"
    ):
        step.forward(batch._replace(images=batch.images * 255.0), rng)
    with pytest.raises(
        ValueError, match=r"targets must hold one GroundTruth per image of the batch \(2\), got 1"
    ):
        step.forward(batch._replace(targets=batch.targets[:1]), rng)
    with pytest.raises(
        ValueError, match=r"images must have shape \(B, H, W, 3\), got shape \(64, 64, 3\)"
    ):
        step.forward(batch._replace(images=batch.images[0]), rng)


def test_float64_model_keeps_float64():
    detector = Detector(Config.tiny(), NUM_CLASSES, dtype=np.float64)
    assert all(p.dtype == np.float64 for p in detector.params.values())


def test_detect_applies_the_class_specific_deltas_of_the_winning_class():
    """A head rigged by hand: every RoI is class 2 with a known box refinement (F17)."""
    cfg = Config.tiny()
    detector = Detector(cfg, NUM_CLASSES).eval()
    params = detector.params
    params["roi_head.cls_score.weight"][...] = 0.0
    params["roi_head.cls_score.bias"][...] = [0.0, 0.0, 5.0, 0.0]  # background, 1, 2, 3
    params["roi_head.bbox_pred.weight"][...] = 0.0
    params["roi_head.bbox_pred.bias"][...] = 0.0
    params["roi_head.bbox_pred.bias"][8:12] = [1.0, -0.5, 0.5, 0.0]  # class 2's block, normalised
    image = np.random.default_rng(4).integers(0, 256, size=(64, 96, 3), dtype=np.uint8)

    boxes, scores, labels = detector.detect(image)
    assert len(boxes) > 0 and np.all(labels == 2)
    np.testing.assert_allclose(scores, np.exp(5.0) / (np.exp(5.0) + 3.0), rtol=1e-5)

    # Each detection is a proposal moved by t = bias * stds = (0.1, -0.05, 0.5 * 0.2, 0) (F10).
    (features,), _ = detector.features(image[None])
    (scores_rpn,), (deltas_rpn,), (anchors,) = detector.rpn.forward([features])[0]
    proposals, _ = proposal_layer(scores_rpn, deltas_rpn, anchors, (64, 96), cfg, train=False)
    width = proposals[:, 2] - proposals[:, 0]
    height = proposals[:, 3] - proposals[:, 1]
    centre_x = proposals[:, 0] + width / 2 + 0.1 * width
    centre_y = proposals[:, 1] + height / 2 - 0.05 * height
    new_width = width * np.exp(0.1)
    expected = np.stack(
        [
            centre_x - new_width / 2,
            centre_y - height / 2,
            centre_x + new_width / 2,
            centre_y + height / 2,
        ],
        axis=1,
    )
    expected = np.clip(expected, 0, [96, 64, 96, 64])
    distance = np.abs(boxes[:, None, :] - expected[None, :, :]).max(axis=2)  # (D, P)
    assert distance.min(axis=1).max() < 1e-3


# ----------------------------------------------------------------- postprocess boundaries
# The head's outputs rigged by hand: C = 3 classes, so logits have 4 columns (background
# first) and the deltas 4 blocks of 4. Zero deltas leave a proposal where it is.
LOG3 = float(np.log(3.0))


def rigged(proposals, logits, **cfg):
    """postprocess on a 100 x 100 image with zero deltas, under Config.tiny(**cfg)."""
    proposals = np.asarray(proposals, np.float64)
    deltas = np.zeros((len(proposals), 16))
    return postprocess(
        proposals, np.asarray(logits, np.float64), deltas, (100, 100), Config.tiny(**cfg)
    )


def test_postprocess_drops_a_score_exactly_at_the_threshold():
    """Kept only above test_score_thresh (the original's ``>``): 0.25 exactly is dropped."""
    # Logits all 0: every column 1/4 exactly. [0, ln 3, 0, 0]: class 1 at 3/6 = 0.5.
    boxes, scores, labels = rigged(
        [[10, 10, 40, 40], [50, 50, 90, 90]], [[0, 0, 0, 0], [0, LOG3, 0, 0]],
        test_score_thresh=0.25,
    )  # fmt: skip
    np.testing.assert_array_equal(boxes, [[50, 50, 90, 90]])
    np.testing.assert_allclose(scores, [0.5], rtol=1e-6)
    np.testing.assert_array_equal(labels, [1])
    _, scores, labels = rigged([[10, 10, 40, 40]], [[0, 0, 0, 0]], test_score_thresh=0.2499)
    np.testing.assert_array_equal(scores, [0.25, 0.25, 0.25])
    np.testing.assert_array_equal(labels, [1, 2, 3])


def test_postprocess_skips_the_background_column_and_keeps_the_last_class():
    # A confident background gives nothing; a confident class 3 (the last column) is found.
    assert len(rigged([[10, 10, 40, 40]], [[9, 0, 0, 0]])[0]) == 0
    boxes, scores, labels = rigged([[10, 10, 40, 40]], [[0, 0, 0, 5]])
    assert labels.tolist() == [3]
    np.testing.assert_allclose(scores, [np.exp(5) / (np.exp(5) + 3)], rtol=1e-6)


def test_postprocess_decodes_each_class_with_its_own_block():
    """Proposal (10, 20, 50, 60): w = h = 40, centre (30, 40). Class 3's deltas (1, 0.5, 0,
    0) times the stds (0.1, 0.1, 0.2, 0.2) move the centre by (4, 2): (14, 22, 54, 62).
    Class 2's block holds other deltas that must not be used."""
    deltas = np.zeros((1, 16))
    deltas[0, 8:12] = [-3.0, -3.0, 1.0, 1.0]  # class 2
    deltas[0, 12:16] = [1.0, 0.5, 0.0, 0.0]  # class 3
    boxes, _, labels = postprocess(
        np.array([[10.0, 20.0, 50.0, 60.0]]),
        np.array([[0.0, 0.0, 0.0, 5.0]]),
        deltas,
        (100, 100),
        Config.tiny(),
    )
    assert labels.tolist() == [3]
    np.testing.assert_allclose(boxes, [[14, 22, 54, 62]], rtol=1e-6)


def test_postprocess_nms_keeps_iou_exactly_at_test_nms_and_never_crosses_classes():
    # [0, 0, 10, 10] and [0, 0, 10, 5]: IoU 50 / 100 = 0.5 exactly; [0, 0, 10, 6]: 0.6.
    logits = [[0, 6, 0, 0], [0, 5, 0, 0], [0, 4, 0, 0]]
    boxes, _, labels = rigged([[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 6]], logits, test_nms=0.5)
    np.testing.assert_array_equal(boxes, [[0, 0, 10, 10], [0, 0, 10, 5]])  # 0.6 suppressed
    np.testing.assert_array_equal(labels, [1, 1])
    # One box, two confident classes: both detections stay (NMS runs per class).
    boxes, scores, labels = rigged([[20, 20, 60, 60]], [[0, 4, 4, -9]], test_nms=0.3)
    assert sorted(labels.tolist()) == [1, 2]
    np.testing.assert_array_equal(boxes, [[20, 20, 60, 60]] * 2)


def test_postprocess_keeps_exactly_test_max_detections_best_first():
    proposals = [[10 * i, 0, 10 * i + 8, 8] for i in range(5)]  # disjoint
    logits = [[0, 1 + i, 0, 0] for i in range(5)]  # class 1, scores rising with i
    boxes, scores, labels = rigged(proposals, logits, test_max_detections=3, test_score_thresh=0.3)
    np.testing.assert_array_equal(boxes[:, 0], [40, 30, 20])
    assert len(scores) == 3 and np.all(np.diff(scores) < 0)
    boxes, _, _ = rigged(proposals[:3], logits[:3], test_max_detections=3, test_score_thresh=0.3)
    assert len(boxes) == 3


# --------------------------------------------------------------- nothing stays behind (issue 20)


def held_arrays(root):
    """Every ndarray reachable from ``root`` through object attributes, dicts, lists, tuples
    and sets: ``{id: (path, array)}``, and the minirpn objects visited on the way."""
    found, visited = {}, {}

    def visit(item, path):
        if isinstance(item, np.ndarray):
            found[id(item)] = (path, item)
        elif isinstance(item, dict):
            for key, value in item.items():
                visit(value, f"{path}[{key!r}]")
        elif isinstance(item, (list, tuple, set, frozenset)):
            for i, value in enumerate(item):
                visit(value, f"{path}[{i}]")
        elif type(item).__module__.startswith("minirpn") and id(item) not in visited:
            visited[id(item)] = item
            for name, value in vars(item).items():
                visit(value, f"{path}.{name}")

    visit(root, "detector")
    return found, visited


def test_after_detect_no_layer_or_stage_holds_an_array_but_its_parameters_and_gradients():
    """Issue 20: inference keeps nothing (no im2col windows, no ReLU masks, no anchors or
    proposals) on the model once ``detect`` returns; a layer that kept its last cache on
    itself (``self._last = cols``) is caught."""
    detector = Detector(Config.tiny(), NUM_CLASSES).eval()
    image = np.random.default_rng(0).integers(0, 256, size=(96, 80, 3), dtype=np.uint8)
    _, visited = held_arrays(detector)
    boxes, _, _ = detector.detect(image)
    found, after = held_arrays(detector)
    allowed = {id(a) for a in (*detector.params.values(), *detector.grads.values())}
    stray = sorted(path for key, (path, _) in found.items() if key not in allowed)
    assert not stray, f"arrays left on the model after detect: {stray}"
    # The walk reached every layer, down to the RoI layer and the ReLUs.
    layers = [
        *detector.backbone.layers,
        *detector.rpn.head.children.values(),
        *detector.roi_head.children.values(),
    ]
    assert all(id(layer) in after for layer in layers) and after.keys() == visited.keys()
    assert len(found) == 2 * len(detector.params)


def test_detect_with_no_proposal_gives_zero_detections():
    """Issue 21 R10: no proposal survives the minimum size (200 px on a 128 px image): zero
    RoIs reach the head, which gives zero detections of the documented shapes and dtypes."""
    for roi_op in ("pool", "align"):
        detector = Detector(Config.tiny(rpn_min_size=200.0, roi_op=roi_op), NUM_CLASSES).eval()
        image = np.random.default_rng(0).integers(0, 256, size=(128, 128, 3), dtype=np.uint8)
        boxes, scores, labels = detector.detect(image)
        assert (boxes.shape, boxes.dtype) == ((0, 4), np.float32)
        assert (scores.shape, scores.dtype) == ((0,), np.float32)
        assert (labels.shape, labels.dtype) == ((0,), np.int64)
