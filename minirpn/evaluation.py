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

:func:`coco_summary` gives the twelve numbers pycocotools' ``summarize()`` prints, from the
same rules: AP at IoU .5:.95, .5 and .75; AP for small, medium and large objects (box area
below 32², between 32² and 96², above 96² pixels: a ground truth of another size is ignored
like a difficult one, and so is a detection of another size that matches nothing); and the
average recall (AR) with at most 1, 10 and 100 detections per image and class, the recall
reached at the end of the ranking averaged over the IoU thresholds and the classes.

Classes are matched by *name* between a trained run and the data it is evaluated on
(:func:`match_classes`): a COCO file may number its categories in any order.
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
# COCO's object sizes by box area in pixels (both ends included, as pycocotools does).
AREA_RANGES = {
    "all": (0.0, np.inf),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, np.inf),
}
COCO_MAX_DETECTIONS = (1, 10, 100)  # detections per image and class for AR (and 100 for AP)


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
    area: str = "all",
    max_detections: int | None = None,
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
    area:           a key of :data:`AREA_RANGES`: only objects of that size count (others
                    are ignored like difficult ones; "all": every object).
    max_detections: at most this many detections per image and class, the best scored
                    (None: all).

    Returns a dict (JSON-ready: floats, ints, None):
      ``map50``            mean AP at IoU 0.5 over classes with ground truth (None if none),
      ``map``              mean over ``iou_thresholds`` of the mean AP at that threshold,
      ``map_at``           {threshold: mean AP at it} (None if no class has ground truth),
      ``mar``              mean over classes and thresholds of the recall at the end of the
                           ranking (the average recall, AR), or None,
      ``ap50_per_class``   {label: AP at 0.5, or None for a class without ground truth},
      ``ap_per_class``     {label: AP averaged over ``iou_thresholds``, or None},
      ``num_ground_truth`` {label: number of ground-truth boxes counted (not difficult, of
                           the ``area``)},
      ``num_detections``   {label: number of detections}.
    """
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    _check_arguments(detections, ground_truths, num_classes, thresholds, area, max_detections)
    voc_index = np.flatnonzero(np.isclose(thresholds, VOC_IOU_THRESHOLD))
    images = [
        _of_size(_check_image(i, det, gt, num_classes), AREA_RANGES[area])
        for i, (det, gt) in enumerate(zip(detections, ground_truths, strict=True))
    ]

    ap, recall = {}, {}  # label -> (T,) AP / final recall at each threshold, or None
    num_gt, num_det = {}, {}
    for label in range(1, num_classes + 1):
        num_gt[label] = sum(int(((im.gt_labels == label) & ~im.difficult).sum()) for im in images)
        num_det[label] = sum(int((im.labels == label).sum()) for im in images)
        if num_gt[label] == 0:
            ap[label] = recall[label] = None
            continue
        ranked = _rank_class(images, label, max_detections)
        curves = [_precision_recall(ranked, num_gt[label], t) for t in thresholds]
        ap[label] = np.array([average_precision(*c, use_07_metric=use_07_metric) for c in curves])
        recall[label] = np.array([c[0][-1] if c[0].size else 0.0 for c in curves])

    scored = [a for a in ap.values() if a is not None]
    mean_per_threshold = np.mean(scored, axis=0) if scored else None  # (T,)
    recalled = [r for r in recall.values() if r is not None]
    at = [None] * len(thresholds) if not scored else [float(m) for m in mean_per_threshold]
    return {
        "map50": None if not scored else float(mean_per_threshold[voc_index[0]]),
        "map": None if not scored else float(mean_per_threshold.mean()),
        "map_at": dict(zip(thresholds.tolist(), at, strict=True)),
        "mar": None if not recalled else float(np.mean(recalled)),
        "ap50_per_class": {k: None if a is None else float(a[voc_index[0]]) for k, a in ap.items()},
        "ap_per_class": {k: None if a is None else float(a.mean()) for k, a in ap.items()},
        "num_ground_truth": num_gt,
        "num_detections": num_det,
    }


def _check_arguments(detections, ground_truths, num_classes, thresholds, area, max_detections):
    """ValueError naming the first argument of :func:`evaluate` that is unusable."""
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
    if (
        thresholds.ndim != 1
        or thresholds.size == 0
        or not ((thresholds > 0) & (thresholds <= 1)).all()
    ):
        raise ValueError(
            f"iou_thresholds must be a non-empty list in (0, 1], got {thresholds.tolist()!r}"
        )
    if not np.isclose(thresholds, VOC_IOU_THRESHOLD).any():
        raise ValueError(
            f"iou_thresholds must include {VOC_IOU_THRESHOLD}, got {thresholds.tolist()!r}"
        )
    if area not in AREA_RANGES:
        raise ValueError(f"area must be one of {list(AREA_RANGES)}, got {area!r}")
    if max_detections is not None and (
        isinstance(max_detections, bool)
        or not isinstance(max_detections, (int, np.integer))
        or max_detections < 1
    ):
        raise ValueError(f"max_detections must be a positive int or None, got {max_detections!r}")


def coco_summary(detections: Sequence, ground_truths: Sequence, num_classes: int) -> dict:
    """The twelve numbers of pycocotools' ``summarize()`` (see the module docstring).

    Arguments as :func:`evaluate`. Returns {name: value or None (no ground truth of that
    size)}: ``AP``, ``AP50``, ``AP75`` (IoU .5:.95, .5, .75), ``AP_small``, ``AP_medium``,
    ``AP_large``, ``AR1``, ``AR10``, ``AR100`` (at most 1, 10, 100 detections per image and
    class), ``AR_small``, ``AR_medium``, ``AR_large``; AP and AR by size with at most 100.
    """
    most = COCO_MAX_DETECTIONS[-1]

    def run(**kwargs):
        return evaluate(detections, ground_truths, num_classes, **kwargs)

    every = run(max_detections=most)
    sizes = {size: run(area=size, max_detections=most) for size in ("small", "medium", "large")}
    summary = {"AP": every["map"], "AP50": every["map50"], "AP75": every["map_at"][0.75]}
    summary.update({f"AP_{size}": result["map"] for size, result in sizes.items()})
    summary.update({f"AR{k}": run(max_detections=k)["mar"] for k in COCO_MAX_DETECTIONS[:-1]})
    summary[f"AR{most}"] = every["mar"]
    summary.update({f"AR_{size}": result["mar"] for size, result in sizes.items()})
    return summary


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
    difficult: np.ndarray  # (G,) bool: ignored (difficult, or not of the size evaluated)
    other_size: np.ndarray | None = None  # (D,) bool: a detection not of the size evaluated


def _area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _of_size(image: _Image, area_range: tuple[float, float]) -> _Image:
    """``image`` evaluated for objects of ``area_range`` only (COCO's rule): ground truth of
    another size is ignored like a difficult box, and so is an unmatched detection of another
    size (:func:`_precision_recall`)."""
    low, high = area_range

    def outside(boxes):
        return (_area(boxes) < low) | (_area(boxes) > high)

    return image._replace(
        difficult=image.difficult | outside(image.gt_boxes), other_size=outside(image.boxes)
    )


class _RankedClass(NamedTuple):
    """The detections of one class over all images, best score first.

    images:     (n,) int, the image of each detection.
    rows:       (n,) int, its row in ``ious[image]``.
    ious:       per image, (D_c, G_c) float IoU of its detections and ground truth of the class.
    difficult:  per image, (G_c,) bool, which of that ground truth is ignored.
    other_size: (n,) bool, detections not of the size evaluated (ignored if unmatched).
    """

    images: np.ndarray
    rows: np.ndarray
    ious: list
    difficult: list
    other_size: np.ndarray


def _rank_class(images: list[_Image], label: int, max_detections: int | None) -> _RankedClass:
    """Gather and rank one class's detections (at most ``max_detections`` per image, the best
    scored); their IoUs are computed once for all thresholds."""
    det_images, det_rows, det_scores, ious, difficult, other = [], [], [], [], [], []
    for image_index, im in enumerate(images):
        mine = np.flatnonzero(im.labels == label)
        # Decreasing score, stable: ties keep their input order, so results are reproducible.
        mine = mine[np.argsort(-im.scores[mine], kind="stable")][:max_detections]
        theirs = im.gt_labels == label
        ious.append(box_iou(im.boxes[mine], im.gt_boxes[theirs]))  # (D_c, G_c)
        difficult.append(im.difficult[theirs])  # (G_c,)
        det_images.append(np.full(mine.size, image_index))
        det_rows.append(np.arange(mine.size))
        det_scores.append(im.scores[mine])
        other.append(np.zeros(mine.size, bool) if im.other_size is None else im.other_size[mine])
    order = np.argsort(-np.concatenate(det_scores), kind="stable")
    return _RankedClass(
        np.concatenate(det_images)[order],
        np.concatenate(det_rows)[order],
        ious,
        difficult,
        np.concatenate(other)[order],
    )


def _precision_recall(ranked: _RankedClass, num_gt: int, threshold: float):
    """Greedy matching at one IoU threshold -> (recall (n,), precision (n,)) in rank order.

    Ignored detections (on a difficult box, or unmatched and not of the size evaluated)
    are left out of the ranking, so n counts only the true and false positives.
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
        elif (iou[hard] >= threshold).any() or ranked.other_size[rank]:
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


def match_classes(data_names: Sequence[str], run_names: Sequence[str]) -> np.ndarray:
    """The run's label of each of the data's labels, matched by class name.

    data_names: the data's class names, labels 1..C in its order (a COCO file's category
                ids may come in any order); run_names: the trained run's.
    Returns (C + 1,) int64 ``to_run`` with ``to_run[data_label]`` the run's label of that
    class (``to_run[0] = 0``). Raises ValueError listing both if the names differ.
    """
    data_names, run_names = [str(n) for n in data_names], [str(n) for n in run_names]
    if sorted(data_names) != sorted(run_names) or len(set(run_names)) != len(run_names):
        raise ValueError(
            f"the data's classes {data_names} are not the run's {run_names}: its detections "
            "would be scored against other classes"
        )
    run_label = {name: label for label, name in enumerate(run_names, start=1)}
    return np.array([0] + [run_label[name] for name in data_names], dtype=np.int64)


def evaluate_detector(
    detector, dataset, class_names, num_images: int | None = None, summary: bool = True
) -> dict:
    """Run a :class:`minirpn.model.Detector` over ``dataset`` (its first ``num_images``, None: all).

    ``class_names`` are the detector's (labels 1..C); the data's classes are matched to them
    by name (:func:`match_classes`). Returns mAP@0.5, COCO mAP and per-class APs by class
    name, with ``summary`` the COCO summary (``coco``, :func:`coco_summary`), ``num_images``
    evaluated and ``split_images``, the number of images in ``dataset``.
    """
    to_run = match_classes(dataset.class_names, class_names)
    count = len(dataset) if num_images is None else min(num_images, len(dataset))
    detections, ground_truths = [], []
    for index in range(count):
        sample = dataset[index]
        detections.append(detector.detect(sample.image))
        boxes, labels, difficult = ground_truth(sample)  # difficult boxes flagged, to be ignored
        ground_truths.append((boxes, to_run[labels], difficult))
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
        **({"coco": coco_summary(detections, ground_truths, len(class_names))} if summary else {}),
        "num_images": count,
        "split_images": len(dataset),
    }
