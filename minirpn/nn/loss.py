"""Losses of the detector: softmax cross-entropy (F11's L_cls, F17) and smooth L1 (F12).

Each returns ``(loss, gradient)`` at once: a loss is the end of the graph, so there is no
cache to keep and nothing to call later.
"""

from __future__ import annotations

import numpy as np

from minirpn.nn._checks import check_array

# Up to this many classes log_softmax reduces each row over its columns, one whole column at a
# time; NumPy's own reductions over a row that short cost a function call per row.
FEW_CLASSES = 7


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log softmax of (N, K) logits: ``logits - log(sum(exp(logits)))`` per row.

    Each row is first shifted by its maximum (the log-sum-exp trick), so the largest
    entry is 0 and ``exp`` can neither overflow nor lose all precision to underflow.

    For C-contiguous logits with at most :data:`FEW_CLASSES` columns, the row maxima and
    sums are taken column by column over a transposed copy, with the same bits as NumPy's
    reductions along a row: a row of fewer than 8 numbers is summed left to right (from 8
    on NumPy sums in eight interleaved parts), and of two maxima that are zeros of
    opposite sign either may be taken, since the row's sum is then at least 2 and the sign
    vanishes in the result.
    """
    num_classes = logits.shape[1]
    if not (logits.flags.c_contiguous and 2 <= num_classes <= FEW_CLASSES):
        shifted = logits - logits.max(axis=1, keepdims=True)  # (N, K), row maxima 0
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    columns = np.ascontiguousarray(logits.T)  # (K, N)
    row_max = columns[0].copy()
    for column in columns[1:]:
        np.maximum(row_max, column, out=row_max)
    shifted = columns - row_max  # (K, N), row maxima 0
    exp = np.exp(shifted)
    total = exp[0] + exp[1]
    for column in exp[2:]:  # left to right
        total += column
    return (shifted - np.log(total)).T  # (N, K)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits: class probabilities, each row summing to 1."""
    return np.exp(log_softmax(logits))


def softmax_cross_entropy(logits: np.ndarray, labels: np.ndarray, ignore_index: int = -1):
    """Mean softmax log loss over the rows whose label is not ``ignore_index`` (F11, F17).

    loss = -(1/M) * sum_i log softmax(logits_i)[labels_i], summed over the M kept rows.
    The softmax uses the log-sum-exp shift (subtract each row's max), so large logits
    neither overflow nor lose precision.

    Args:
        logits: (N, C) float array of unnormalised class scores.
        labels: (N,) integer array; each entry in [0, C) or equal to ``ignore_index``.
        ignore_index: label value of rows that take no part (the RPN's "don't care"
            anchors, F8 (d)). Must lie outside [0, C).

    Returns:
        loss: Python float, 0.0 when every row is ignored.
        dlogits: (N, C) array, dtype of ``logits``; d loss / d logits, zero on ignored rows
            (all zero, never NaN, when every row is ignored).
    """
    check_array(logits, "logits", 2)
    n, num_classes = logits.shape
    if not isinstance(labels, np.ndarray) or not np.issubdtype(labels.dtype, np.integer):
        got = getattr(labels, "dtype", type(labels).__name__)
        raise TypeError(f"labels must be an integer numpy array, got {got}")
    if labels.shape != (n,):
        raise ValueError(
            f"labels must have shape ({n},) to match logits {logits.shape}, got {labels.shape}"
        )
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index={ignore_index} is a valid class index for {num_classes} classes"
        )
    kept = np.flatnonzero(labels != ignore_index)  # (M,) the rows that take part
    target = labels[kept]  # (M,)
    bad = (target < 0) | (target >= num_classes)
    if bad.any():
        raise ValueError(
            f"labels must lie in [0, {num_classes}) or equal ignore_index={ignore_index}, "
            f"got {target[bad][:5].tolist()}"
        )
    dlogits = np.zeros_like(logits)
    num_kept = len(kept)
    if num_kept == 0:
        return 0.0, dlogits

    log_prob = log_softmax(logits[kept])  # (M, C)
    picked = np.arange(num_kept)
    loss = -float(log_prob[picked, target].sum()) / num_kept

    grad = np.exp(log_prob)  # softmax, (M, C)
    grad[picked, target] -= 1.0
    dlogits[kept] = grad / num_kept
    return loss, dlogits


def smooth_l1(pred, target, sigma: float = 1.0, inside_weights=None, outside_weights=None):
    """Summed smooth-L1 loss with py-faster-rcnn's sigma and weights (F12).

    With x = inside * (pred - target):
        smoothL1_sigma(x) = 0.5 * (sigma * x)**2   if |x| < 1 / sigma**2
                            |x| - 0.5 / sigma**2   otherwise
        loss = sum(outside * smoothL1_sigma(x))
    The two pieces meet with equal value and slope at |x| = 1 / sigma**2; sigma = 1 gives
    the paper's plain smooth L1, sigma = 3 the RPN's. The sum is not normalised: the caller
    divides by N_reg (F11) or puts the normaliser into ``outside_weights``.

    Args:
        pred: float array of any shape, e.g. (N, 4) box deltas t.
        target: array of ``pred``'s shape and dtype, e.g. the regression targets t*.
        sigma: positive float.
        inside_weights: None (ones) or an array broadcastable to ``pred``'s shape; zero
            entries switch coordinates off (e.g. negative anchors, F11's p_i*).
        outside_weights: None (ones) or an array broadcastable to ``pred``'s shape.

    Returns:
        loss: Python float.
        dpred: array of ``pred``'s shape and dtype, d loss / d pred.
    """
    if not isinstance(pred, np.ndarray) or not np.issubdtype(pred.dtype, np.floating):
        raise TypeError(f"pred must be a floating-point numpy array, got {type(pred).__name__}")
    if not isinstance(target, np.ndarray) or target.shape != pred.shape:
        raise ValueError(
            f"target must be an array of pred's shape {pred.shape}, "
            f"got {getattr(target, 'shape', target)!r}"
        )
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma!r}")
    inside = _weights(inside_weights, "inside_weights", pred)
    outside = _weights(outside_weights, "outside_weights", pred)

    sigma2 = sigma * sigma
    x = inside * (pred - target)
    abs_x = np.abs(x)
    quadratic = abs_x < 1.0 / sigma2
    per_entry = np.where(quadratic, 0.5 * sigma2 * x * x, abs_x - 0.5 / sigma2)
    loss = float((outside * per_entry).sum())
    dx = np.where(quadratic, sigma2 * x, np.sign(x))  # d smoothL1 / d x
    dpred = (outside * inside * dx).astype(pred.dtype, copy=False)
    return loss, dpred


def _weights(weights, name: str, pred: np.ndarray):
    """Validate an optional weight array against ``pred``; None means all ones."""
    if weights is None:
        return pred.dtype.type(1.0)
    weights = np.asarray(weights)
    try:
        np.broadcast_shapes(weights.shape, pred.shape)
    except ValueError:
        raise ValueError(
            f"{name} of shape {weights.shape} does not broadcast to pred's shape {pred.shape}"
        ) from None
    if np.broadcast_shapes(weights.shape, pred.shape) != pred.shape:
        raise ValueError(f"{name} of shape {weights.shape} would enlarge pred's shape {pred.shape}")
    return weights.astype(pred.dtype, copy=False)
