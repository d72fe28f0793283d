"""The memory estimate of a training batch: checked against a measurement; too big is refused."""

import tracemalloc

import numpy as np
import pytest

from minirpn import Config, memory
from minirpn.batching import Batch
from minirpn.ground_truth import GroundTruth
from minirpn.memory import available_memory_bytes, batch_memory_bytes, check_batch_memory
from minirpn.model import Detector
from minirpn.schemes import ApproximateJoint


def detector_for(batch_size):
    return Detector(Config.tiny(images_per_batch=batch_size), num_classes=4, seed=0)


@pytest.mark.parametrize("batch, side", [(1, 96), (2, 160), (1, 320)])
def test_estimate_is_slightly_above_the_measured_peak(batch, side):
    """The estimate against tracemalloc's peak of one real training iteration (forward, the
    tape held, backward) plus the model: parameters, gradients and momentum."""
    detector = detector_for(batch)
    images = np.random.default_rng(1).integers(0, 256, (batch, side, side, 3), dtype=np.uint8)
    target = GroundTruth(
        np.array([[10, 10, 60, 60], [30, 40, 80, 90]], np.float32), np.array([1, 2])
    )
    step_batch = Batch(images, [target] * batch, np.arange(batch))
    tracemalloc.start()  # NumPy reports its allocations to tracemalloc
    try:
        step = ApproximateJoint(detector)
        detector.zero_grad()
        step.backward(step.forward(step_batch, np.random.default_rng(0))[1])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    peak += 3 * sum(p.nbytes for p in detector.params.values())  # exist before the iteration
    estimate = batch_memory_bytes(detector, batch, side, side)
    assert 1.0 <= estimate / peak <= 1.7, (estimate, peak)


def test_a_batch_that_does_not_fit_is_refused_naming_batch_size_and_the_estimate():
    detector = detector_for(100000)
    need = batch_memory_bytes(detector, 100000, 128, 128)
    with pytest.raises(ValueError) as info:
        check_batch_memory(detector, 128, 128, available=2 * 1024**3)
    message = str(info.value)
    assert message.startswith("--batch-size 100000 would need about ")
    assert f"{need / 1024**3:.1f} GB" in message and "2.0 GB is available" in message
    assert "use --batch-size" in message
    # The advice is right: the batch it names fits, one more does not.
    fits = int(message.split("use --batch-size ")[1].split()[0])
    check_batch_memory(detector_for(fits), 128, 128, available=2 * 1024**3)
    with pytest.raises(ValueError):
        check_batch_memory(detector_for(fits + 1), 128, 128, 2 * 1024**3)


def test_even_one_image_too_big_and_fallback_without_meminfo(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="even one image does not fit"):
        check_batch_memory(detector_for(1), 128, 128, available=1024)
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "no_meminfo")
    assert available_memory_bytes() is None
    assert check_batch_memory(detector_for(10**6), 128, 128) > 0  # nothing to compare: not refused
    (tmp_path / "meminfo").write_text("MemTotal: 100 kB\nMemAvailable:    2048 kB\n")
    monkeypatch.setattr(memory, "MEMINFO", tmp_path / "meminfo")
    assert available_memory_bytes() == 2048 * 1024


@pytest.mark.parametrize("height, width", [(200, 320), (512, 512)])
def test_inference_estimate_is_slightly_above_the_measured_peak_of_detect(height, width):
    """Images large enough for the per-pixel part to dominate: on a tiny image the estimate's
    rpn_post_nms_top_n_test RoIs are more than NMS leaves, so it is far above on purpose."""
    cfg = Config.tiny()
    detector = Detector(cfg, num_classes=4, seed=0).eval()
    image = np.random.default_rng(2).integers(0, 256, (height, width, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        detector.detect(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = memory.inference_memory_bytes(detector, height, width)
    assert 1.0 <= estimate / peak <= 1.7, (estimate, peak)


def test_an_image_too_large_to_detect_in_is_refused_naming_it():
    detector = Detector(Config.tiny(), num_classes=4)
    need = memory.inference_memory_bytes(detector, 12000, 12000)
    with pytest.raises(ValueError) as info:
        memory.check_inference_memory(detector, 12000, 12000, "image 'big.png'", available=need)
    message = str(info.value)
    assert message.startswith("image 'big.png' is 12000x12000: detecting objects in it")
    assert f"{need / 1024**3:.1f} GB" in message
    assert memory.check_inference_memory(detector, 12000, 12000, available=2 * need) == need


def test_tape_bytes_counts_an_array_once_a_view_as_its_base_and_no_excluded_array():
    """By hand: an array held twice counts once, a view costs nothing beyond the array it
    views, and the arrays in ``exclude`` (the parameters a cache refers to) and their views
    not at all."""
    kept = np.zeros((10, 10))  # 800 bytes
    mask = np.zeros(7, dtype=bool)  # 7 bytes
    weight = np.ones((3, 4))  # 96 bytes
    tape = (kept, [kept[2:5], (mask, mask)], weight, weight.T, "not an array", None)
    assert memory.tape_bytes(tape) == 800 + 7 + 96
    assert memory.tape_bytes(tape, exclude=[weight]) == 800 + 7


def test_per_pixel_bytes_is_what_the_backbone_and_the_rpn_keep_of_an_image():
    """tracemalloc's count of what the backbone and the RPN allocate and keep for a 128 x 128
    image (the features, every cache, the RPN's outputs) is per_pixel_bytes times its
    pixels: the probe's measurement scales, and the parameters the caches refer to (which
    exist before any image) are not part of it."""
    detector = detector_for(1)
    per_pixel = memory.per_pixel_bytes(detector)
    image = np.zeros((1, 128, 128, 3), dtype=np.uint8)
    tracemalloc.start()
    try:
        features, features_cache = detector.features(image)
        rpn_out, rpn_cache = detector.rpn.forward(features)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held == pytest.approx(per_pixel * 128**2, rel=0.02)
