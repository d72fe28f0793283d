"""Training: it learns, it resumes bit for bit, it stops cleanly on Ctrl-C and on NaN."""

import signal

import numpy as np
import pytest

from minirpn import Config
from minirpn.batching import PAD_VALUE, batch_indices, load_batch
from minirpn.checkpoint import load_checkpoint
from minirpn.data import Sample, ToyShapes
from minirpn.ops import box_iou
from minirpn.runs import CHECKPOINT_NAME
from minirpn.train import TrainingDiverged, learning_rate, train

QUICK = dict(max_iters=6, images_per_batch=1, warmup_iters=2, lr_steps=(4,))


def test_short_training_lowers_the_loss_and_finds_objects(tmp_path):
    """~15-30 s: 400 iterations of 2 images (0.4 epochs of the toy data; the default is 2.5)."""
    cfg = Config.tiny(max_iters=400, images_per_batch=2, warmup_iters=20, lr_steps=(320,))
    result = train(cfg, tmp_path, seed=0, progress=False)
    history = result.loss_history
    assert history.shape == (400, 4) and np.isfinite(history).all()
    first, last = history[:20].mean(axis=0), history[-20:].mean(axis=0)  # (4,) each
    assert last.sum() < 0.6 * first.sum(), f"total loss {first.sum():.3f} -> {last.sum():.3f}"
    # The RPN's objectness learns fastest (about 0.5 -> 0.08 here).
    assert last[0] < 0.3 * first[0], f"rpn_cls went from {first[0]:.3f} to {last[0]:.3f}"

    # Found objects: on validation images, how many ground-truth boxes have a detection
    # of the right class with IoU >= 0.5 among the image's 10 best detections.
    val = ToyShapes("val", num_images=8)
    found = total = 0
    for index in range(len(val)):
        sample = val[index]
        boxes, scores, labels = result.detector.detect(sample.image)
        boxes, labels = boxes[:10], labels[:10]
        if len(boxes):
            iou = box_iou(sample.boxes, boxes)  # (G, D)
            iou[sample.labels[:, None] != labels[None, :]] = 0.0
            found += int((iou.max(axis=1) >= 0.5).sum())
        total += len(sample.boxes)
    assert found >= 0.6 * total, f"found {found} of {total} objects"


def test_resume_after_ctrl_c_ends_with_identical_weights(tmp_path):
    cfg = Config.tiny(**QUICK)
    straight = train(cfg, tmp_path / "straight", seed=3, progress=False)

    def press_ctrl_c(iteration, losses):
        if iteration == 3:
            signal.raise_signal(signal.SIGINT)  # the handler turns it into a clean stop

    stopped = train(cfg, tmp_path / "resumed", seed=3, progress=False, on_iteration=press_ctrl_c)
    assert stopped.interrupted and stopped.iteration == 3
    assert load_checkpoint(tmp_path / "resumed" / CHECKPOINT_NAME).iteration == 3
    # resume=True takes config and seed from the checkpoint, whatever is passed here.
    resumed = train(Config.tiny(), tmp_path / "resumed", seed=99, resume=True, progress=False)
    assert resumed.iteration == 6 and not resumed.interrupted

    for name, param in straight.detector.params.items():
        assert np.array_equal(param, resumed.detector.params[name]), name
    np.testing.assert_array_equal(straight.loss_history, resumed.loss_history)
    a = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)
    b = load_checkpoint(tmp_path / "resumed" / CHECKPOINT_NAME)
    assert a.rng_state == b.rng_state
    for name in a.momentum:
        assert np.array_equal(a.momentum[name], b.momentum[name]), name


def test_nan_loss_stops_with_a_message_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = Config.tiny(max_iters=30, images_per_batch=1, learning_rate=1e4, warmup_iters=0)
    with pytest.raises(TrainingDiverged, match=r"diverged at iteration \d+.*last good checkpoint"):
        train(cfg, tmp_path, seed=0, progress=False, checkpoint_every=1)
    good = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert good.iteration >= 1
    assert all(np.isfinite(p).all() for p in good.params.values())
    assert all(np.isfinite(row).all() for row in good.extra["loss_history"])


def test_learning_rate_warm_up_then_steps():
    cfg = Config.tiny(
        learning_rate=0.02, warmup_iters=10, warmup_factor=0.25, lr_steps=(100, 200), lr_gamma=0.1
    )
    assert learning_rate(cfg, 0) == pytest.approx(0.005)
    assert learning_rate(cfg, 5) == pytest.approx(0.02 * (0.25 * 0.5 + 0.5))
    assert learning_rate(cfg, 10) == pytest.approx(0.02)
    assert learning_rate(cfg, 99) == pytest.approx(0.02)
    assert learning_rate(cfg, 100) == pytest.approx(0.002)
    assert learning_rate(cfg, 250) == pytest.approx(0.0002)


def test_batch_indices_are_epochs_of_permutations_fixed_by_seed_and_iteration():
    num_images, batch = 10, 3
    # 10 iterations of 3 = 3 epochs of 10 images.
    order = np.concatenate([batch_indices(7, it, batch, num_images) for it in range(10)])
    for epoch in range(3):
        assert sorted(order[epoch * 10 : (epoch + 1) * 10]) == list(range(10))
    assert not np.array_equal(order[:10], order[10:20])  # reshuffled each epoch
    # Any iteration on its own gives the same images (what resuming relies on).
    np.testing.assert_array_equal(batch_indices(7, 4, batch, num_images), order[12:15])
    assert not np.array_equal(batch_indices(8, 0, 10, num_images), order[:10])


def test_images_of_different_sizes_are_padded_bottom_right():
    small = Sample(
        np.full((10, 12, 3), 7, np.uint8), np.array([[1.0, 2.0, 5.0, 6.0]]), np.array([1]), "a.png"
    )
    wide = Sample(
        np.full((8, 16, 3), 9, np.uint8), np.zeros((0, 4)), np.zeros(0, np.int64), "b.png"
    )
    images, boxes, labels = load_batch([small, wide], np.array([1, 0]), cache=None)
    assert images.shape == (2, 10, 16, 3) and images.dtype == np.uint8
    assert (images[0, :8] == 9).all() and (images[0, 8:] == PAD_VALUE).all()
    assert (images[1, :, :12] == 7).all() and (images[1, :, 12:] == PAD_VALUE).all()
    np.testing.assert_array_equal(boxes[1], small.boxes)  # boxes do not move
    assert [len(b) for b in boxes] == [0, 1] and labels[1].tolist() == [1]
