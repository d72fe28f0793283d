"""Time the Cython kernels of ``minirpn.ops`` against their NumPy twins at paper scale.

Workloads (Faster R-CNN, VGG16, a ~600 x 800 image):
* box_iou of the 17,100 anchors of a 38 x 50 map x 9 against 20 ground-truth boxes, and of
  2,000 x 2,000 proposals;
* nms at 0.7 of 12,000 clustered proposals, as the proposal layer sees them in training:
  a few dozen objects each covered by hundreds of jittered boxes, plus background boxes;
  also against a lean vectorised greedy NumPy NMS (one vector of IoUs per kept box);
* roi_pool forward and backward of 128 RoIs, 7 x 7, over a 1 x 512 x 38 x 50 map at 1/16;
* roi_align forward and backward (features and coordinates), same RoIs and map, sampling 2;
  when torchvision is installed, also against its forward + backward (one thread; the
  equality check and the target ratio are in ``benchmarks/roi_align_torch.py``).

Each figure is the median of several steady-state runs, the two versions alternating.
Run: ``python benchmarks/kernels.py``.
"""

import time

import numpy as np

from minirpn import ops
from minirpn.ops import reference

try:
    import torch
    import torchvision
except (ImportError, RuntimeError, OSError):  # a torchvision built for another torch raises
    torch = torchvision = None

SEED = 0
IMAGE_HEIGHT, IMAGE_WIDTH = 600, 800
FEATURE_STRIDE = 16
NUM_OBJECTS = 40
NUM_PROPOSALS = 12_000
NUM_BACKGROUND = 2_000
NMS_THRESHOLD = 0.7
NUM_ROIS, POOLED_SIZE, FEATURE_SHAPE, SAMPLING_RATIO = 128, 7, (1, 512, 38, 50), 2


def median_ms_pair(fast, slow, repeats):
    """Median steady-state wall times of ``fast()`` and ``slow()`` in milliseconds.

    The two alternate, so that both see the same load on a shared machine and the ratio
    stays meaningful when the absolute times drift. Each turn starts with one untimed call:
    after the other side has freed its large temporaries, the allocator hands that memory
    back to the system, and the next call's output buffer costs fresh page faults (for
    box_iou 17,100 x 20 that alone more than doubles the kernel's time) -- a cost of the
    switch, not of either implementation.
    """
    fast_times, slow_times = [], []
    for _ in range(repeats):
        for function, times in ((fast, fast_times), (slow, slow_times)):
            function()
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(fast_times)), 1000.0 * float(np.median(slow_times))


def random_boxes(rng, count, min_size, max_size):
    """(count, 4) float32 boxes of random size and position inside the image."""
    size = rng.uniform(min_size, max_size, (count, 2))
    x1 = rng.uniform(0, IMAGE_WIDTH - size[:, 0])
    y1 = rng.uniform(0, IMAGE_HEIGHT - size[:, 1])
    return np.stack([x1, y1, x1 + size[:, 0], y1 + size[:, 1]], axis=1).astype(np.float32)


def clustered_proposals(rng):
    """12,000 proposals: jittered copies of a few dozen objects, then background boxes."""
    objects = random_boxes(rng, NUM_OBJECTS, 30, 400)
    per_object = (NUM_PROPOSALS - NUM_BACKGROUND) // NUM_OBJECTS
    centre = (objects[:, :2] + objects[:, 2:]) / 2  # (objects, 2)
    size = objects[:, 2:] - objects[:, :2]  # (objects, 2)
    # Each copy: centre moved by ~15% of the object's size (one standard deviation), width
    # and height scaled by exp(N(0, 0.2)), mostly 0.7 ... 1.4.
    shift = rng.normal(0, 0.15, (NUM_OBJECTS, per_object, 2)) * size[:, None]
    scale = np.exp(rng.normal(0, 0.2, (NUM_OBJECTS, per_object, 2)))
    jittered_centre = centre[:, None] + shift  # (objects, per_object, 2)
    jittered_half = size[:, None] * scale / 2
    jittered = np.concatenate(
        [jittered_centre - jittered_half, jittered_centre + jittered_half], axis=2
    )  # (objects, per_object, 4)
    boxes = np.concatenate([jittered.reshape(-1, 4), random_boxes(rng, NUM_BACKGROUND, 16, 300)])
    # Boxes close to an object score high, background boxes low.
    offset = np.abs(shift / size[:, None]).sum(axis=2) + np.abs(np.log(scale)).sum(axis=2)
    closeness = np.exp(-offset)  # (objects, per_object)
    scores = np.concatenate([closeness.ravel(), 0.3 * rng.random(NUM_BACKGROUND)])
    return boxes.astype(np.float32), scores.astype(np.float32)


def vectorised_greedy_nms(boxes, scores, iou_threshold):
    """The usual NumPy NMS: per kept box, one vector of IoUs against all remaining boxes."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    remaining = np.argsort(-scores, kind="stable")
    keep = []
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        keep.append(best)
        inter_w = np.maximum(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0.0)
        inter_h = np.maximum(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0.0)
        inter = inter_w * inter_h
        iou = inter / (areas[best] + areas[rest] - inter)
        remaining = rest[iou <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def anchors_like(rng):
    """17,100 boxes (38 x 50 positions x 9 shapes), standing in for the anchors."""
    rows, cols = IMAGE_HEIGHT // FEATURE_STRIDE + 1, IMAGE_WIDTH // FEATURE_STRIDE
    centres = np.stack(np.meshgrid(np.arange(cols), np.arange(rows)), axis=-1).reshape(-1, 1, 2)
    centres = (centres + 0.5) * FEATURE_STRIDE  # (rows * cols, 1, 2)
    # (9, 2) widths and heights: 3 scales x 3 aspect ratios (h / w = r)
    sizes = np.array([[s / r**0.5, s * r**0.5] for s in (128, 256, 512) for r in (0.5, 1, 2)])
    anchors = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=2)  # (cells, 9, 4)
    return anchors.reshape(-1, 4).astype(np.float32)


def roi_align_workload(rng):
    """Paper-scale RoIAlign input: features, rois (R, 5), grad_out, output_size, sampling."""
    features = rng.standard_normal(FEATURE_SHAPE).astype(np.float32)
    coords = random_boxes(rng, NUM_ROIS, 32, 500)
    rois = np.concatenate([np.zeros((NUM_ROIS, 1)), coords], axis=1)
    grad_shape = (NUM_ROIS, FEATURE_SHAPE[1], POOLED_SIZE, POOLED_SIZE)
    grad = rng.standard_normal(grad_shape).astype(np.float32)
    return features, rois, grad, POOLED_SIZE, SAMPLING_RATIO


def roi_align_rows(rng):
    """Rows timing roi_align: forward, backward, and both against torchvision if present."""
    features, rois, grad, size, ratio = roi_align_workload(rng)
    scale = 1.0 / FEATURE_STRIDE
    rows = [
        (
            f"roi_align fwd sampling {ratio}",
            lambda: ops.roi_align(features, rois, size, scale, ratio),
            lambda: reference.roi_align(features, rois, size, scale, ratio),
            5,
        ),
        (
            "roi_align bwd (features + coordinates)",
            lambda: ops.roi_align_backward(grad, features, rois, size, scale, ratio),
            lambda: reference.roi_align_backward(grad, features, rois, size, scale, ratio),
            5,
        ),
    ]
    if torchvision is not None:
        torch.set_num_threads(1)
        x = torch.from_numpy(features).requires_grad_(True)
        boxes = torch.from_numpy(rois.astype(np.float32))
        grad_t = torch.from_numpy(grad)

        def ours():
            ops.roi_align(features, rois, size, scale, ratio)
            ops.roi_align_backward(grad, features, rois, size, scale, ratio)

        def theirs():  # torchvision's backward gives no gradient to the boxes
            x.grad = None
            torchvision.ops.roi_align(x, boxes, size, scale, ratio, True).backward(grad_t)

        rows.append(("roi_align fwd+bwd vs torchvision (1 thread)", ours, theirs, 7))
    return rows


def main():
    rng = np.random.default_rng(SEED)
    rows = []

    anchors = anchors_like(rng)
    gt = random_boxes(rng, 20, 40, 400)
    rows.append(
        (
            f"box_iou {len(anchors):,} x {len(gt)}",
            lambda: ops.box_iou(anchors, gt),
            lambda: reference.box_iou(anchors, gt),
            20,
        )
    )
    proposals = random_boxes(rng, 2000, 16, 400)
    rows.append(
        (
            "box_iou 2,000 x 2,000",
            lambda: ops.box_iou(proposals, proposals),
            lambda: reference.box_iou(proposals, proposals),
            5,
        )
    )

    boxes, scores = clustered_proposals(rng)
    keep = ops.nms(boxes, scores, NMS_THRESHOLD)
    assert np.array_equal(keep, reference.nms(boxes, scores, NMS_THRESHOLD))
    rows.append(
        (
            f"nms {NMS_THRESHOLD} of {len(boxes):,} (keeps {len(keep):,})",
            lambda: ops.nms(boxes, scores, NMS_THRESHOLD),
            lambda: reference.nms(boxes, scores, NMS_THRESHOLD),
            5,
        )
    )
    vectorised_row = (
        "  vs vectorised greedy NumPy",
        rows[-1][1],
        lambda: vectorised_greedy_nms(boxes, scores, NMS_THRESHOLD),
        5,
    )
    rows.append(vectorised_row)

    features = rng.standard_normal((1, 512, 38, 50)).astype(np.float32)
    rois = np.concatenate([np.zeros((128, 1)), random_boxes(rng, 128, 32, 500)], axis=1)
    output_size, scale = 7, 1.0 / FEATURE_STRIDE
    pooled, argmax = ops.roi_pool(features, rois, output_size, scale)
    grad = rng.standard_normal(pooled.shape).astype(np.float32)
    rows.append(
        (
            "roi_pool fwd 128 RoIs 7x7, 512x38x50",
            lambda: ops.roi_pool(features, rois, output_size, scale),
            lambda: reference.roi_pool(features, rois, output_size, scale),
            9,
        )
    )
    rows.append(
        (
            "roi_pool bwd",
            lambda: ops.roi_pool_backward(grad, rois, argmax, features.shape),
            lambda: reference.roi_pool_backward(grad, rois, argmax, features.shape),
            9,
        )
    )

    rows.extend(roi_align_rows(rng))
    if torchvision is None:
        print("(torchvision not installed: no roi_align comparison with it)")

    print(f"{'kernel':<44} {'Cython ms':>10} {'NumPy ms':>10} {'speed-up':>9}")
    for name, fast, slow, repeats in rows:
        fast_ms, slow_ms = median_ms_pair(fast, slow, repeats)
        print(f"{name:<44} {fast_ms:>10.2f} {slow_ms:>10.2f} {slow_ms / fast_ms:>8.1f}x")


if __name__ == "__main__":
    main()
