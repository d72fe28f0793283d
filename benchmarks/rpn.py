"""Time the proposal layer and the anchor-target layer at the paper's scale, step by step.

Setting: a 600 x 1000 input image through VGG-16 up to conv5_3 — four 2x2 max-poolings of
stride 2 in Caffe's ceil mode (600 -> 300 -> 150 -> 75 -> 38, 1000 -> 500 -> 250 -> 125 -> 63),
so a 38 x 63 feature map, stride 16, 9 anchors per cell: 21,546 anchors — with 20 random
ground-truth boxes and the paper's ``Config()``. The RPN outputs are random (scores N(0, 1),
deltas N(0, 0.2²)), which gives NMS a realistic amount of work (thousands of boxes).

For each layer it prints the median time of a whole call, then the median time of each of
its steps run on their own (the same package functions the layer calls) and each step's
share of the whole call (and the fastest run beside it). Medians of REPEATS rounds after a
warm-up round; in each round the whole call and every step run once, interleaved, so they
see the same machine load.

Run: python benchmarks/rpn.py
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

import numpy as np

from minirpn import Config
from minirpn.anchor_target import anchor_targets, inside_image, label_anchors
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.boxes import clip_boxes, decode, encode, remove_small_boxes
from minirpn.matching import match, max_positive, sample_balanced
from minirpn.ops import box_iou, nms
from minirpn.proposal import objectness, proposal_layer
from minirpn.rpn_head import flatten_deltas

IMAGE_SIZE = (600, 1000)  # (height, width)
VGG_POOLINGS = 4
NUM_GT = 20
REPEATS = 21


def vgg_feature_size(size: int) -> int:
    """conv5_3 size of one input side (F1): 3x3 convs keep it, ceil-mode 2x2/2 pools halve it."""
    for _ in range(VGG_POOLINGS):
        size = math.ceil((size - 2) / 2) + 1
    return size


def interleaved_ms(fns: dict[str, Callable[[], object]]) -> dict[str, tuple[float, float]]:
    """(median, min) ms of each function over REPEATS rounds, each round calling every
    function once.

    Interleaving puts the whole call and its steps under the same load from other processes
    on a shared machine. The median is the figure reported; the minimum, the least disturbed
    run, is printed beside it because on a loaded machine a 2 ms call is often preempted.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for round_ in range(REPEATS + 1):  # round 0 is a warm-up
        for name, fn in fns.items():
            tic = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - tic
            if round_:
                times[name].append(elapsed)
    return {name: (1e3 * statistics.median(t), 1e3 * min(t)) for name, t in times.items()}


def report(title: str, whole_call: Callable[[], object], steps: dict[str, Callable]) -> None:
    """Time the call and its steps; print each step's median, share of the whole call, min.

    The remainder is the glue (input checks, allocating and scattering the full-size
    outputs). Timing noise can make the sum of the steps exceed the call; the remainder is
    then shown as 0.
    """
    ms = interleaved_ms({"whole call": whole_call, **steps})
    total, total_min = ms.pop("whole call")
    ms["rest (checks, glue)"] = (
        max(total - sum(m for m, _ in ms.values()), 0.0),
        max(total_min - sum(m for _, m in ms.values()), 0.0),
    )
    print(f"\n{title}: {total:.2f} ms per call (median), {total_min:.2f} ms (min)")
    print(f"  {'step':<40} {'median ms':>9} {'share':>7} {'min ms':>7}")
    for name, (median, minimum) in ms.items():
        print(f"  {name:<40} {median:9.2f} {100 * median / total:6.1f}% {minimum:7.2f}")


def random_gt(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    sizes = rng.uniform(30, 400, size=(NUM_GT, 2))  # (w, h)
    x1 = rng.uniform(0, width - sizes[:, 0])
    y1 = rng.uniform(0, height - sizes[:, 1])
    return np.stack([x1, y1, x1 + sizes[:, 0], y1 + sizes[:, 1]], axis=1)


def bench_proposal(cfg: Config, anchors, scores, deltas, train: bool) -> None:
    pre_n = cfg.rpn_pre_nms_top_n_train if train else cfg.rpn_pre_nms_top_n_test
    post_n = cfg.rpn_post_nms_top_n_train if train else cfg.rpn_post_nms_top_n_test

    # The intermediate results each step starts from.
    anchors32 = anchors.astype(deltas.dtype)
    probs = objectness(scores)
    decoded = decode(anchors32, flatten_deltas(deltas[0]))
    clipped = clip_boxes(decoded, IMAGE_SIZE)
    keep = remove_small_boxes(clipped, cfg.rpn_min_size)
    kept_boxes, kept_probs = clipped[keep], probs[keep]
    order = np.argsort(-kept_probs, kind="stable")[:pre_n]
    top_boxes, top_probs = kept_boxes[order], kept_probs[order]
    survivors = nms(top_boxes, top_probs, cfg.rpn_nms_thresh)

    steps = {
        "objectness (softmax)": lambda: objectness(scores),
        "decode (flatten + F10)": lambda: decode(anchors32, flatten_deltas(deltas[0])),
        "clip to image": lambda: clip_boxes(decoded, IMAGE_SIZE),
        "min-size filter (+ gather)": lambda: (lambda k: (clipped[k], probs[k]))(
            remove_small_boxes(clipped, cfg.rpn_min_size)
        ),
        f"top-{pre_n} sort (+ gather)": lambda: (lambda o: (kept_boxes[o], kept_probs[o]))(
            np.argsort(-kept_probs, kind="stable")[:pre_n]
        ),
        f"NMS {cfg.rpn_nms_thresh} on {len(top_boxes)} boxes": lambda: nms(
            top_boxes, top_probs, cfg.rpn_nms_thresh
        ),
        f"top-{post_n} (+ gather)": lambda: (
            top_boxes[survivors[:post_n]],
            top_probs[survivors[:post_n]],
        ),
    }
    mode = "train" if train else "test"
    report(
        f"proposal layer ({mode}: {len(keep)} boxes after min size, {len(survivors)} after NMS, "
        f"{min(len(survivors), post_n)} kept)",
        lambda: proposal_layer(scores, deltas, anchors, IMAGE_SIZE, cfg, train=train),
        steps,
    )


def full_size_targets(anchors, gt, positive, matched):
    """The targets step as the layer does it: (A, 4) outputs, filled for the positives."""
    bbox_targets = np.zeros((len(anchors), 4))
    inside_weights = np.zeros((len(anchors), 4))
    bbox_targets[positive] = encode(anchors[positive], gt[matched[positive]])
    inside_weights[positive] = 1.0
    return bbox_targets, inside_weights


def bench_anchor_targets(cfg: Config, anchors, gt) -> None:
    rng = np.random.default_rng(0)

    inside = np.flatnonzero(inside_image(anchors, IMAGE_SIZE, cfg.rpn_allowed_border))
    inside_anchors = anchors[inside]
    iou = box_iou(inside_anchors, gt)
    labels_in = label_anchors(iou, cfg)
    matched_in, _ = match(iou)
    quota = max_positive(cfg.rpn_fg_fraction, cfg.rpn_batch_size)
    labels = np.full(len(anchors), -1, dtype=np.int64)
    labels[inside] = labels_in
    sampled = sample_balanced(labels, cfg.rpn_batch_size, quota, rng)
    positive = np.flatnonzero(sampled == 1)
    matched = np.full(len(anchors), -1, dtype=np.int64)
    matched[inside] = matched_in

    steps = {
        "border filter (+ gather)": lambda: anchors[
            np.flatnonzero(inside_image(anchors, IMAGE_SIZE, cfg.rpn_allowed_border))
        ],
        f"IoU {len(inside)} x {len(gt)}": lambda: box_iou(inside_anchors, gt),
        "labelling (F8 rules)": lambda: label_anchors(iou, cfg),
        "sampling (F13)": lambda: sample_balanced(labels, cfg.rpn_batch_size, quota, rng),
        f"targets of {len(positive)} positives (F10, + arrays)": lambda: full_size_targets(
            anchors, gt, positive, matched
        ),
    }
    report(
        f"anchor targets ({len(anchors)} anchors, {len(inside)} inside, {len(positive)} positive "
        f"+ {np.count_nonzero(sampled == 0)} negative sampled)",
        lambda: anchor_targets(anchors, gt, IMAGE_SIZE, cfg, rng),
        steps,
    )


def main() -> None:
    cfg = Config()
    height, width = IMAGE_SIZE
    feat_h, feat_w = vgg_feature_size(height), vgg_feature_size(width)
    base = generate_base_anchors(cfg.anchor_base_size, cfg.anchor_ratios, cfg.anchor_scales)
    anchors = grid_anchors(base, feat_h, feat_w, cfg.feat_stride)
    rng = np.random.default_rng(0)
    num_anchors = cfg.num_anchors
    scores = rng.standard_normal((1, 2 * num_anchors, feat_h, feat_w)).astype(np.float32)
    deltas = (0.2 * rng.standard_normal((1, 4 * num_anchors, feat_h, feat_w))).astype(np.float32)
    gt = random_gt(rng, height, width)

    print(
        f"image {height} x {width}, feature map {feat_h} x {feat_w} (stride {cfg.feat_stride}), "
        f"{num_anchors} anchors per cell = {len(anchors)} anchors, {len(gt)} gt boxes, "
        "paper Config()"
    )
    bench_proposal(cfg, anchors, scores, deltas, train=True)
    bench_proposal(cfg, anchors, scores, deltas, train=False)
    bench_anchor_targets(cfg, anchors, gt)


if __name__ == "__main__":
    main()
