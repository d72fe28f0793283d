"""Time the proposal layer and the anchor-target layer at the paper's scale, step by step.

Setting: a 600 x 1000 input image through VGG-16 up to conv5_3 — four 2x2 max-poolings of
stride 2 in Caffe's ceil mode (600 -> 300 -> 150 -> 75 -> 38, 1000 -> 500 -> 250 -> 125 -> 63),
so a 38 x 63 feature map, stride 16, 9 anchors per cell: 21,546 anchors — with 20 random
ground-truth boxes and the paper's ``Config()``. The RPN outputs are random (scores N(0, 1),
deltas N(0, 0.2²)), which gives NMS a realistic amount of work (thousands of boxes).

For each layer it prints the median time of a whole call, then the median time of each of
its steps run on their own (the same package functions the layer calls) and each step's
share of the whole call. Medians of REPEATS calls after one warm-up call.

Run: python benchmarks/rpn.py
"""

from __future__ import annotations

import math
import statistics
import time

import numpy as np

from minirpn import Config
from minirpn.anchor_target import anchor_targets, inside_image, label_anchors, subsample_labels
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.boxes import clip_boxes, decode, encode, remove_small_boxes
from minirpn.ops import box_iou, nms
from minirpn.proposal import objectness, proposal_layer
from minirpn.rpn import flatten_deltas

IMAGE_SIZE = (600, 1000)  # (height, width)
VGG_POOLINGS = 4
NUM_GT = 20
REPEATS = 15


def vgg_feature_size(size: int) -> int:
    """conv5_3 size of one input side (F1): 3x3 convs keep it, ceil-mode 2x2/2 pools halve it."""
    for _ in range(VGG_POOLINGS):
        size = math.ceil((size - 2) / 2) + 1
    return size


def median_ms(fn, repeats: int = REPEATS) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return 1e3 * statistics.median(times)


def report(title: str, total_ms: float, steps: dict[str, float]) -> None:
    """Each step's median and its share of the whole call; the remainder is the glue
    (input checks, scattering results back to all anchors). Timing noise can make the sum
    of the steps exceed the call; the remainder is then shown as 0."""
    rest = max(total_ms - sum(steps.values()), 0.0)
    print(f"\n{title}: {total_ms:.2f} ms per call (median)")
    print(f"  {'step':<38} {'ms':>7} {'share':>7}")
    for name, ms in {**steps, "rest (checks, glue)": rest}.items():
        print(f"  {name:<38} {ms:7.2f} {100 * ms / total_ms:6.1f}%")


def random_gt(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    sizes = rng.uniform(30, 400, size=(NUM_GT, 2))  # (w, h)
    x1 = rng.uniform(0, width - sizes[:, 0])
    y1 = rng.uniform(0, height - sizes[:, 1])
    return np.stack([x1, y1, x1 + sizes[:, 0], y1 + sizes[:, 1]], axis=1)


def bench_proposal(cfg: Config, anchors, scores, deltas, train: bool) -> None:
    pre_n = cfg.rpn_pre_nms_top_n_train if train else cfg.rpn_pre_nms_top_n_test
    post_n = cfg.rpn_post_nms_top_n_train if train else cfg.rpn_post_nms_top_n_test
    total = median_ms(lambda: proposal_layer(scores, deltas, anchors, IMAGE_SIZE, cfg, train=train))

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
        "objectness (softmax)": median_ms(lambda: objectness(scores)),
        "decode (flatten + F10)": median_ms(lambda: decode(anchors32, flatten_deltas(deltas[0]))),
        "clip to image": median_ms(lambda: clip_boxes(decoded, IMAGE_SIZE)),
        "min-size filter (+ gather)": median_ms(
            lambda: (lambda k: (clipped[k], probs[k]))(
                remove_small_boxes(clipped, cfg.rpn_min_size)
            )
        ),
        f"top-{pre_n} sort (+ gather)": median_ms(
            lambda: (lambda o: (kept_boxes[o], kept_probs[o]))(
                np.argsort(-kept_probs, kind="stable")[:pre_n]
            )
        ),
        f"NMS {cfg.rpn_nms_thresh} on {len(top_boxes)} boxes": median_ms(
            lambda: nms(top_boxes, top_probs, cfg.rpn_nms_thresh)
        ),
        f"top-{post_n} (+ gather)": median_ms(
            lambda: (top_boxes[survivors[:post_n]], top_probs[survivors[:post_n]])
        ),
    }
    mode = "train" if train else "test"
    report(
        f"proposal layer ({mode}: {len(keep)} boxes after min size, {len(survivors)} after NMS, "
        f"{min(len(survivors), post_n)} kept)",
        total,
        steps,
    )


def bench_anchor_targets(cfg: Config, anchors, gt) -> None:
    rng = np.random.default_rng(0)
    total = median_ms(lambda: anchor_targets(anchors, gt, IMAGE_SIZE, cfg, rng))

    inside = np.flatnonzero(inside_image(anchors, IMAGE_SIZE, cfg.rpn_allowed_border))
    inside_anchors = anchors[inside]
    iou = box_iou(inside_anchors, gt)
    labels_in, matched_in, _ = label_anchors(
        iou, cfg.rpn_positive_overlap, cfg.rpn_negative_overlap
    )
    labels = np.full(len(anchors), -1, dtype=np.int64)
    labels[inside] = labels_in
    sampled = subsample_labels(labels, cfg.rpn_batch_size, cfg.rpn_fg_fraction, rng)
    positive = np.flatnonzero(sampled == 1)
    matched = np.full(len(anchors), -1, dtype=np.int64)
    matched[inside] = matched_in

    steps = {
        "border filter (+ gather)": median_ms(
            lambda: anchors[
                np.flatnonzero(inside_image(anchors, IMAGE_SIZE, cfg.rpn_allowed_border))
            ]
        ),
        f"IoU {len(inside)} x {len(gt)}": median_ms(lambda: box_iou(inside_anchors, gt)),
        "labelling (F8 rules)": median_ms(
            lambda: label_anchors(iou, cfg.rpn_positive_overlap, cfg.rpn_negative_overlap)
        ),
        "sampling (F13)": median_ms(
            lambda: subsample_labels(labels, cfg.rpn_batch_size, cfg.rpn_fg_fraction, rng)
        ),
        f"targets of {len(positive)} positives (F10)": median_ms(
            lambda: encode(anchors[positive], gt[matched[positive]])
        ),
    }
    report(
        f"anchor targets ({len(anchors)} anchors, {len(inside)} inside, {len(positive)} positive "
        f"+ {np.count_nonzero(sampled == 0)} negative sampled)",
        total,
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
