"""Detection quality: average precision per class, mean AP at IoU 0.5 and COCO-style mAP.

How a detection counts (the same rule at every IoU threshold ``t``):

1. Detections of one class, pooled over all images, are visited in order of decreasing
   score (ties keep their input order).
2. Each takes the ground-truth box of that class *in its own image* that it overlaps most
   (IoU, F9) among those not yet taken. If that IoU is >= ``t``, the detection is a true
   positive and the ground truth is taken; otherwise it is a false positive. So one ground
   truth is matched at most once: a second detection of an already-found object -- a
   duplicate -- is a false positive. (The PASCAL VOC devkit instead lets a detection look
   only at its single best ground truth, taken or not; the two rules differ only when
   several objects of a class overlap a detection above ``t``. Ours is COCO's.)
   *Difficult* ground truth (PASCAL VOC's ``difficult`` flag: objects too small, occluded or
   ambiguous to demand) neither helps nor hurts: it is not counted in G, and a detection
   that finds no free ordinary ground truth at ``t`` but overlaps a difficult box of its
   class with IoU >= ``t`` is *ignored* -- neither a true nor a false positive -- as in the
   VOC devkit (so any number of detections on one difficult object are all ignored).
3. Precision after the n-th detection is TP_n / n, recall is TP_n / G (G = number of
   ground-truth boxes of the class), and the AP is the area under the precision-recall
   curve (see :func:`average_precision`).

``map50`` is the mean over classes of the AP at IoU 0.5 (PASCAL VOC's measure);
``map`` averages the mean AP over IoU 0.50, 0.55, ..., 0.95 (COCO's measure, computed
here with the same all-point AP as VOC rather than COCO's 101 sampled recall levels, and
without COCO's 100-detections-per-image cap -- so it can differ slightly from
pycocotools). A class with no ground-truth box in the whole set has no defined recall: it
is left out of both means and its AP is reported as ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from minirpn.boxes import as_boxes
from minirpn.ops import box_iou

VOC_IOU_THRESHOLD = 0.5
COCO_IOU_THRESHOLDS = tuple(np.round(np.arange(0.50, 0.96, 0.05), 2).tolist())  # 0.50..0.95
ELEVEN_RECALL_LEVELS = np.linspace(0.0, 1.0, 11)  # VOC 2007: 0, 0.1, ..., 1


def average_precision(
    recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = False
) -> float:
    """Area under a precision-recall curve.

    recall, precision: (n,) float, the values after each of the n ranked detections
                       (recall non-decreasing).
    use_07_metric:     False -- all-point interpolation (PASCAL VOC 2010 onwards): make
                       precision non-increasing by taking, at each recall, the best
                       precision at that recall or any higher one, then sum
                       precision x recall step.
                       True -- the VOC 2007 11-point measure: the mean, over recall levels
                       r in {0, 0.1, ..., 1}, of the best precision at recall >= r (0 if
                       that recall is never reached).
    Returns the AP in [0, 1]; 0.0 for an empty curve.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if recall.ndim != 1 or recall.shape != precision.shape:
        raise ValueError(
            f"recall and precision must be 1-D of one length, "
            f"got shapes {recall.shape} and {precision.shape}"
        )
    if not (np.isfinite(recall).all() and np.isfinite(precision).all()):
        raise ValueError("recall and precision must be finite, got NaN or infinity")
    if recall.size == 0:
        return 0.0

    if use_07_metric:
        best = [precision[recall >= level].max(initial=0.0) for level in ELEVEN_RECALL_LEVELS]
        return float(np.mean(best))

    # Sentinels: the curve starts at recall 0 and ends at precision 0.
    rec = np.concatenate([[0.0], recall, [1.0]])
    prec = np.concatenate([[0.0], precision, [0.0]])
    envelope = np.maximum.accumulate(prec[::-1])[::-1]  # best precision at recall >= r
    steps = np.flatnonzero(rec[1:] != rec[:-1]) + 1  # where recall increases
    return float(np.sum((rec[steps] - rec[steps - 1]) * envelope[steps]))


def evaluate(
    detections: Sequence,
    ground_truths: Sequence,
    num_classes: int,
    iou_thresholds: Sequence[float] = COCO_IOU_THRESHOLDS,
    use_07_metric: bool = False,
) -> dict:
    """AP per class and mean AP of detections against ground truth (rules: module docstring).

    detections:     one entry per image, ``(boxes (D, 4), scores (D,), labels (D,))``: boxes
                    float continuous corners (x1, y1, x2, y2), labels int in 1..num_classes.
    ground_truths:  one entry per image (same order), ``(boxes (G, 4), labels (G,))`` or
                    ``(boxes (G, 4), labels (G,), difficult (G,) bool)``; difficult boxes
                    are ignored as the module docstring says (:func:`ground_truth` builds
                    this entry from a :class:`minirpn.data.Sample`).
    num_classes:    C, the number of object classes (background excluded).
    iou_thresholds: the thresholds ``map`` averages over; 0.5 must be one of them.
    use_07_metric:  use the VOC 2007 11-point AP instead of all-point interpolation.

    Returns a dict (JSON-ready: floats, ints, None):
      ``map50``            mean AP at IoU 0.5 over classes with ground truth (None if none),
      ``map``              mean over ``iou_thresholds`` of the mean AP at that threshold,
      ``ap50_per_class``   {label: AP at 0.5, or None for a class without ground truth},
      ``ap_per_class``     {label: AP averaged over ``iou_thresholds``, or None},
      ``num_ground_truth`` {label: number of ground-truth boxes, difficult ones excluded},
      ``num_detections``   {label: number of detections}.
    """
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, (int, np.integer))
        or num_classes < 1
    ):
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if len(detections) != len(ground_truths):
        raise ValueError(
            f"detections and ground_truths must have one entry per image, "
            f"got {len(detections)} and {len(ground_truths)}"
        )
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    if (
        thresholds.ndim != 1
        or thresholds.size == 0
        or not ((thresholds > 0) & (thresholds <= 1)).all()
    ):
        raise ValueError(
            f"iou_thresholds must be a non-empty list in (0, 1], got {iou_thresholds!r}"
        )
    voc_index = np.flatnonzero(np.isclose(thresholds, VOC_IOU_THRESHOLD))
    if voc_index.size == 0:
        raise ValueError(f"iou_thresholds must include {VOC_IOU_THRESHOLD}, got {iou_thresholds!r}")

    images = [
        _check_image(i, det, gt, num_classes)
        for i, (det, gt) in enumerate(zip(detections, ground_truths, strict=True))
    ]

    ap = {}  # label -> (T,) AP at each threshold, or None
    num_gt, num_det = {}, {}
    for label in range(1, num_classes + 1):
        num_gt[label] = sum(int(((im.gt_labels == label) & ~im.difficult).sum()) for im in images)
        num_det[label] = sum(int((im.labels == label).sum()) for im in images)
        if num_gt[label] == 0:
            ap[label] = None
            continue
        ranked = _rank_class(images, label)
        ap[label] = np.array(
            [
                average_precision(
                    *_precision_recall(ranked, num_gt[label], t), use_07_metric=use_07_metric
                )
                for t in thresholds
            ]
        )

    scored = [a for a in ap.values() if a is not None]
    mean_per_threshold = np.mean(scored, axis=0) if scored else None  # (T,)
    return {
        "map50": None if not scored else float(mean_per_threshold[voc_index[0]]),
        "map": None if not scored else float(mean_per_threshold.mean()),
        "ap50_per_class": {k: None if a is None else float(a[voc_index[0]]) for k, a in ap.items()},
        "ap_per_class": {k: None if a is None else float(a.mean()) for k, a in ap.items()},
        "num_ground_truth": num_gt,
        "num_detections": num_det,
    }


def ground_truth(sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ground-truth entry of :func:`evaluate` for a :class:`minirpn.data.Sample`.

    Returns ``(boxes (G, 4), labels (G,), difficult (G,) bool)``: the sample's training boxes
    followed by its difficult ones (``sample.difficult_boxes``, which training never sees
    and evaluation ignores).
    """
    boxes = np.concatenate([sample.boxes, sample.difficult_boxes]).reshape(-1, 4)
    labels = np.concatenate([sample.labels, sample.difficult_labels])
    difficult = np.arange(len(labels)) >= len(sample.labels)
    return boxes, labels, difficult


class _Image(NamedTuple):
    """One image's validated detections and ground truth (see :func:`evaluate`)."""

    boxes: np.ndarray  # (D, 4) float64
    scores: np.ndarray  # (D,) float64
    labels: np.ndarray  # (D,) int64
    gt_boxes: np.ndarray  # (G, 4) float64
    gt_labels: np.ndarray  # (G,) int64
    difficult: np.ndarray  # (G,) bool


class _RankedClass(NamedTuple):
    """The detections of one class over all images, best score first.

    images:    (n,) int, the image of each detection.
    rows:      (n,) int, its row in ``ious[image]``.
    ious:      per image, (D_c, G_c) float IoU of its detections and ground truth of the class.
    difficult: per image, (G_c,) bool, which of that ground truth is difficult.
    """

    images: np.ndarray
    rows: np.ndarray
    ious: list
    difficult: list


def _rank_class(images: list[_Image], label: int) -> _RankedClass:
    """Gather and rank one class's detections; their IoUs are computed once for all thresholds."""
    det_images, det_rows, det_scores, ious, difficult = [], [], [], [], []
    for image_index, im in enumerate(images):
        mine, theirs = im.labels == label, im.gt_labels == label
        ious.append(box_iou(im.boxes[mine], im.gt_boxes[theirs]))  # (D_c, G_c)
        difficult.append(im.difficult[theirs])  # (G_c,)
        det_images.append(np.full(mine.sum(), image_index))
        det_rows.append(np.arange(mine.sum()))
        det_scores.append(im.scores[mine])
    # Decreasing score; a stable sort keeps ties in input order, so results are reproducible.
    order = np.argsort(-np.concatenate(det_scores), kind="stable")
    return _RankedClass(
        np.concatenate(det_images)[order], np.concatenate(det_rows)[order], ious, difficult
    )


def _precision_recall(ranked: _RankedClass, num_gt: int, threshold: float):
    """Greedy matching at one IoU threshold -> (recall (n,), precision (n,)) in rank order.

    Ignored detections (on a difficult box) are left out of the ranking, so n counts only
    the true and false positives.
    """
    taken = [np.zeros(iou.shape[1], dtype=bool) for iou in ranked.ious]
    true_positive = np.zeros(len(ranked.images), dtype=bool)
    ignored = np.zeros(len(ranked.images), dtype=bool)
    for rank, (image, row) in enumerate(zip(ranked.images, ranked.rows, strict=True)):
        iou, hard = ranked.ious[image][row], ranked.difficult[image]  # (G_c,) each
        overlaps = np.where(taken[image] | hard, -1.0, iou)  # taken or difficult: -1
        if overlaps.size and overlaps.max() >= threshold:
            taken[image][overlaps.argmax()] = True
            true_positive[rank] = True
        elif (iou[hard] >= threshold).any():
            ignored[rank] = True
    tp = np.cumsum(true_positive[~ignored])
    recall = tp / num_gt
    precision = tp / np.arange(1, len(tp) + 1)
    return recall, precision


def _check_image(index: int, detection, ground_truth, num_classes: int) -> _Image:
    """Validate one image's entries -> an :class:`_Image` of arrays."""
    try:
        boxes, scores, labels = detection
        gt_boxes, gt_labels, *difficult = ground_truth
        if len(difficult) > 1:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(
            f"image {index}: a detection entry must be (boxes, scores, labels) and "
            f"a ground-truth entry (boxes, labels) or (boxes, labels, difficult)"
        ) from None
    boxes = as_boxes(boxes, f"image {index}: detection boxes").astype(np.float64)
    gt_boxes = as_boxes(gt_boxes, f"image {index}: ground-truth boxes").astype(np.float64)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    gt_labels = np.asarray(gt_labels).reshape(-1)
    for name, array, rows in (
        ("detection boxes", boxes, len(scores)),
        ("ground-truth boxes", gt_boxes, len(gt_labels)),
    ):
        if array.ndim != 2 or array.shape != (rows, 4):
            raise ValueError(
                f"image {index}: {name} must have shape ({rows}, 4), got {array.shape}"
            )
        if not np.isfinite(array).all():
            raise ValueError(f"image {index}: {name} must be finite, got NaN or infinity")
    if labels.shape != scores.shape:
        raise ValueError(
            f"image {index}: detection labels must have shape {scores.shape}, got {labels.shape}"
        )
    if not np.isfinite(scores).all():
        raise ValueError(f"image {index}: detection scores must be finite, got NaN or infinity")
    for name, lab in (("detection labels", labels), ("ground-truth labels", gt_labels)):
        if lab.size and (
            not np.issubdtype(lab.dtype, np.integer) or lab.min() < 1 or lab.max() > num_classes
        ):
            raise ValueError(
                f"image {index}: {name} must be ints in 1..{num_classes}, got {lab.tolist()}"
            )
    if difficult:
        difficult = np.asarray(difficult[0]).reshape(-1)
        if difficult.dtype != bool or difficult.shape != gt_labels.shape:
            raise ValueError(
                f"image {index}: difficult must be a bool array of shape {gt_labels.shape}, "
                f"got dtype {difficult.dtype} and shape {difficult.shape}"
            )
    else:
        difficult = np.zeros(gt_labels.shape, dtype=bool)
    return _Image(
        boxes, scores, labels.astype(np.int64), gt_boxes, gt_labels.astype(np.int64), difficult
    )


def evaluate_detector(detector, dataset, class_names, num_images: int | None = None) -> dict:
    """Run a :class:`minirpn.model.Detector` over ``dataset`` (its first ``num_images``, None: all).

    Returns mAP@0.5, COCO mAP and per-class APs by class name (:mod:`minirpn.evaluation`).
    """
    count = len(dataset) if num_images is None else min(num_images, len(dataset))
    detections, ground_truths = [], []
    for index in range(count):
        sample = dataset[index]
        detections.append(detector.detect(sample.image))
        ground_truths.append(ground_truth(sample))  # difficult boxes flagged, to be ignored
    result = evaluate(detections, ground_truths, num_classes=len(class_names))
    return {
        "map50": result["map50"],
        "map": result["map"],
        "per_class_ap50": {
            name: result["ap50_per_class"][label] for label, name in enumerate(class_names, start=1)
        },
        "per_class_ap": {
            name: result["ap_per_class"][label] for label, name in enumerate(class_names, start=1)
        },
        "num_images": count,
    }
