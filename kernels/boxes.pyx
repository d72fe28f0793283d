# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False
# distutils: extra_compile_args = -fno-trapping-math
# (-fno-trapping-math lets GCC turn the comparisons in the inner loops into vector selects;
# unlike -ffast-math it changes no result: IEEE rounding, NaN and inf behave as before.)
"""Box kernels: pairwise IoU (F9) and greedy NMS (F16), float32 or float64.

Called only through ``minirpn.ops``, which validates every argument; the NumPy twins in
``minirpn.ops.reference`` define the results, and these kernels reproduce them bit for bit:
the same formulas, evaluated in the same order and precision. IoU is computed in the
precision of its inputs (float32 boxes in float32: twice the SIMD lanes of float64); NMS
always computes in float64 (greedy_nms receives float64 boxes, greedy_nms_top widens each
box as it reads it), so its keep list never depends on float32 rounding.
"""
import numpy as np

from libc.math cimport INFINITY, fabs, isfinite
from libc.string cimport memmove

include "interrupt.pxi"

ctypedef fused real:
    float
    double

# Relative slack added to the NMS search window so that rounding in the window bounds can
# never exclude a box the exact IoU test would suppress (rounding errors are ~1e-16).
cdef double WINDOW_SLACK = 1e-9


cdef inline real _box_area(real x1, real y1, real x2, real y2) noexcept nogil:
    """Area with inverted extents counted as 0."""
    cdef real zero = 0  # typed, so float32 arithmetic is not promoted to double
    return max(x2 - x1, zero) * max(y2 - y1, zero)


cdef inline real _iou(real ax1, real ay1, real ax2, real ay2, real area_a,
                      real bx1, real by1, real bx2, real by2, real area_b) noexcept nogil:
    """IoU of two boxes given their areas; 0 when the union is empty.

    The union is 0 only when both areas are 0, and then the intersection is 0 too, so
    dividing by 1 instead gives the 0 we want with no branch (the loop stays vectorisable).
    """
    cdef real zero = 0, one = 1
    cdef real inter_w = min(ax2, bx2) - max(ax1, bx1)
    cdef real inter_h = min(ay2, by2) - max(ay1, by1)
    cdef real inter = max(inter_w, zero) * max(inter_h, zero)
    cdef real union = area_a + area_b - inter
    return inter / (union if union > zero else one)


cdef real[:, ::1] _finite_boxes(const real[:, ::1] boxes):
    """Boxes (N, 4) as columns (5, N) of the same precision: ``x1, y1, x2, y2, area``.

    A box with a non-finite coordinate becomes the empty box at the origin (IoU 0 with
    everything), as in the twin. Columns let the inner loops read contiguous memory.
    """
    cdef Py_ssize_t n = boxes.shape[0], i, k
    cdef real[:, ::1] clean = np.zeros((5, n), dtype=np.float32 if real is float else np.float64)
    with nogil:
        for i in range(n):
            if (isfinite(boxes[i, 0]) and isfinite(boxes[i, 1])
                    and isfinite(boxes[i, 2]) and isfinite(boxes[i, 3])):
                for k in range(4):
                    clean[k, i] = boxes[i, k]
                clean[4, i] = _box_area(clean[0, i], clean[1, i], clean[2, i], clean[3, i])
    return clean


def box_iou(const real[:, ::1] boxes1, const real[:, ::1] boxes2, real[:, ::1] out):
    """Fill ``out`` (N, K) with the IoU of boxes1 (N, 4) and boxes2 (K, 4)."""
    cdef real[:, ::1] a = _finite_boxes(boxes1)
    cdef real[:, ::1] b = _finite_boxes(boxes2)
    cdef Py_ssize_t n = a.shape[1], k = b.shape[1], i, j
    if n == 0 or k == 0:
        return
    cdef const real* bx1 = &b[0, 0]
    cdef const real* by1 = &b[1, 0]
    cdef const real* bx2 = &b[2, 0]
    cdef const real* by2 = &b[3, 0]
    cdef const real* b_area = &b[4, 0]
    cdef real* row
    cdef real ax1, ay1, ax2, ay2, a_area
    cdef Py_ssize_t work = 0  # see interrupt.pxi
    with nogil:
        for i in range(n):
            ax1, ay1, ax2, ay2, a_area = a[0, i], a[1, i], a[2, i], a[3, i], a[4, i]
            row = &out[i, 0]
            for j in range(k):
                row[j] = _iou(ax1, ay1, ax2, ay2, a_area,
                              bx1[j], by1[j], bx2[j], by2[j], b_area[j])
            work += k
            if work >= CHECK_EVERY:
                work = 0
                check_signals()


def greedy_nms(const double[:, ::1] boxes, const double[::1] classes, double iou_threshold,
               Py_ssize_t max_output):
    """Greedy NMS over boxes already sorted by decreasing score; boxes only suppress their class.

    Args:
        boxes: (N, 4) float64 boxes in score order (rank 0 is the best).
        classes: (N,) float64 class of each box, as for :func:`greedy_nms_top` (all equal
            for plain NMS).
        iou_threshold: finite float >= 0; a box is dropped when IoU > threshold.
        max_output: stop once this many boxes are kept (>= 0). Whether a box is kept
            depends only on the boxes ranked above it, so the ranks kept are the first
            ``max_output`` of the full result, and the proposal layer, which keeps its
            top N of many more survivors, skips the rest of the work.
    Returns:
        (M,) int64 ranks of the kept boxes, increasing (i.e. decreasing score).

    The greedy loop visits boxes by rank; a box not yet suppressed is kept and then suppresses
    the lower-ranked boxes of its class overlapping it by more than the threshold. Done
    naively that is (kept boxes) x (remaining boxes) IoUs, and on clustered proposals
    thousands of boxes are kept. But boxes far apart cannot overlap, so each kept box only
    needs to look at its neighbours:

    Spatial pruning. Score order says nothing about position, so we keep a second order, by
    the x centre c, and scan it outwards from the kept box i, stopping at a bound on the
    distance d = |c_i - c_j|. The bound comes from the IoU along x alone,
    IoU_x = (x-overlap) / (x-extent of the union): IoU <= IoU_x, because the union has area
    >= (x-extent of the union) * (y-overlap) while the intersection is
    (x-overlap) * (y-overlap). With s = (w_i + w_j) / 2 the x-overlap is at most s - d and
    the x-extent of the union at least s + d, so IoU_x <= (s - d) / (s + d), and IoU > t
    needs d < s (1 - t) / (1 + t). And IoU_x <= min(w_i, w_j) / max(w_i, w_j), so w_j <
    w_i / t and s < w_i (1 + t) / (2 t): together d < (1 - t) / (2 t) * w_i.
    The window [c_i - r, c_i + r], r = (1 - t) / (2 t) * w_i, depends on box i alone (no
    global maximum width that one large background box would inflate); at t = 0.7 it is
    about 0.43 box widths wide. (Sorting by x1 instead gives a window of 0.73 widths, and
    every box clipped to the image's left edge shares one x1.) A uniform grid would need a
    cell size, which no single value suits when box sizes vary by 30x; one sort needs
    none. Pruning only skips pairs whose IoU is at most t, so the kept list equals the
    exhaustive greedy one.

    Classes are handled by a class test in the inner loop rather than the usual trick of
    shifting each class's boxes far apart by an offset: the shift is exact only while the
    shifted coordinates keep every bit, which huge coordinates break.
    """
    cdef Py_ssize_t n = boxes.shape[0]
    cdef double[:, ::1] ranked = _finite_boxes(boxes)  # (5, N) columns, by rank

    # The same boxes laid out by increasing x centre, so the window scans read nearby memory.
    centres = np.asarray(ranked[0]) / 2 + np.asarray(ranked[2]) / 2  # no overflow at 1e308
    by_x = np.argsort(centres, kind="stable")
    cdef double[:, ::1] xs = np.ascontiguousarray(np.asarray(ranked)[:, by_x])  # (5, N)
    cdef const double[::1] centre = centres[by_x]
    cdef const double[::1] xs_class = np.asarray(classes)[by_x]
    position_of_rank = np.empty(n, dtype=np.int64)
    position_of_rank[by_x] = np.arange(n)
    cdef const long long[::1] position = position_of_rank  # rank -> place in centre order
    # Undecided boxes form a doubly linked list in centre order: a box leaves it when it is kept
    # or suppressed, so the scans never revisit decided boxes, and every box still listed
    # ranks below the one being processed.
    cdef long long[::1] next_ = np.arange(1, n + 1, dtype=np.int64)  # n marks the end
    cdef long long[::1] prev = np.arange(-1, n - 1, dtype=np.int64)  # -1 marks the start
    cdef unsigned char[::1] suppressed = np.zeros(n, dtype=np.uint8)  # by place in centre order
    cdef long long[::1] keep = np.empty(n, dtype=np.int64)

    cdef Py_ssize_t rank, i, j, kept = 0
    cdef Py_ssize_t work = 0  # boxes scanned, see interrupt.pxi
    cdef double t = iou_threshold, reach, lo, hi
    with nogil:
        for rank in range(n):
            if kept == max_output:
                break
            if work >= CHECK_EVERY:
                work = 0
                check_signals()
            i = position[rank]
            if suppressed[i]:
                continue
            keep[kept] = rank
            kept += 1
            _unlink(next_, prev, i, n)
            if xs[4, i] <= 0.0:
                continue  # an empty box has IoU 0 with everything: it suppresses nothing
            reach = _reach(xs[0, i], xs[2, i], t)
            hi = centre[i] + reach
            lo = centre[i] - reach
            j = next_[i]
            while j < n and centre[j] < hi:
                _suppress_if_overlapping(xs, xs_class, suppressed, next_, prev, i, j, t)
                j = next_[j]
                work += 1
            j = prev[i]
            while j >= 0 and centre[j] > lo:
                _suppress_if_overlapping(xs, xs_class, suppressed, next_, prev, i, j, t)
                j = prev[j]
                work += 1
    return np.asarray(keep[:kept]).copy()


cdef inline double _reach(double x1, double x2, double t) noexcept nogil:
    """Half-width of the window of x centres that can hold a box overlapping the box
    ``x1..x2`` (of positive width) by IoU > t: (1 - t) / (2 t) widths (see greedy_nms),
    widened by the slack; infinite at t = 0, where any overlap suppresses."""
    if t <= 0.0:
        return INFINITY
    return ((1.0 - t) / (2.0 * t) * (x2 - x1) * (1.0 + WINDOW_SLACK)
            + WINDOW_SLACK * (fabs(x1) + fabs(x2)))


cdef inline Py_ssize_t _first_at_least(const double* values, Py_ssize_t n,
                                       double bound) noexcept nogil:
    """Index of the first of the increasing ``values[:n]`` that is >= bound (n if none)."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < bound:
            lo = mid + 1
        else:
            hi = mid
    return lo


def greedy_nms_top(const real[:, ::1] boxes, const long long[::1] order,
                   const double[::1] classes, double iou_threshold, Py_ssize_t max_output):
    """Greedy NMS that stops after ``max_output`` kept boxes, by testing each candidate against
    the boxes kept so far: the same keep list as :func:`greedy_nms`, for a small max_output.

    Args:
        boxes: (N, 4) float32 or float64 boxes in any order; each is widened to float64
            (exactly) when it is read, so the IoUs are those of :func:`greedy_nms`.
        order: (N,) int64 indices of ``boxes`` by decreasing score (rank 0 is the best).
        classes: (N,) float64 class of each box (indexed like ``boxes``), a whole number
            below 2**53 (the wrapper numbers the classes 0, 1, ...), so equality is exact.
        iou_threshold: finite float >= 0; a box is dropped when IoU > threshold.
        max_output: stop once this many boxes are kept (>= 0).
    Returns:
        (M,) int64 indices into ``boxes`` of the kept boxes, by decreasing score, M <= max_output.

    A box is kept exactly when no kept box of its class, all ranked above it, overlaps it by
    more than the threshold. So the loop walks down the ranks and tests each box against the
    kept ones only, and stops at the first that suppresses it: at most max_output IoUs per
    box, and only the boxes down to the last kept rank are visited (for the proposal
    layer's few hundred kept of a few thousand, far less than :func:`greedy_nms`'s sort of
    all N boxes by centre and its scans). The bound of greedy_nms's window is symmetric in
    the two boxes (swap their roles in its argument: the candidate's width bounds the kept
    box's too), so only the kept boxes whose x centre lies within the candidate's own
    window can suppress it; they are kept in order of x centre to find those by bisection.
    A box that is empty (no area, or a non-finite corner) has IoU 0 with every box: it is
    kept and suppresses nothing, so it is never stored among the kept boxes tested.
    """
    cdef Py_ssize_t n = order.shape[0]
    # The stored kept boxes (those with an area) as columns x1, y1, x2, y2, area, class by
    # the order they were kept in, and their x centres in increasing order with their slots.
    cdef double[:, ::1] kept_boxes = np.empty((6, max_output))
    cdef double[::1] centres = np.empty(max_output)
    cdef Py_ssize_t[::1] slots = np.empty(max_output, dtype=np.intp)
    cdef long long[::1] keep = np.empty(max_output, dtype=np.int64)
    cdef Py_ssize_t rank, box, first, place, m, k, kept = 0, stored = 0
    cdef Py_ssize_t work = 0  # kept boxes looked at, see interrupt.pxi
    cdef double x1, y1, x2, y2, area, label, centre, reach, t = iou_threshold
    cdef bint suppressed
    with nogil:
        for rank in range(n):
            if kept == max_output:
                break
            box = order[rank]
            x1, y1, x2, y2 = boxes[box, 0], boxes[box, 1], boxes[box, 2], boxes[box, 3]
            if not (isfinite(x1) and isfinite(y1) and isfinite(x2) and isfinite(y2)):
                x1 = y1 = x2 = y2 = 0.0  # the empty box at the origin, as in _finite_boxes
            area = _box_area(x1, y1, x2, y2)
            if area > 0.0:
                label = classes[box]
                centre = x1 / 2 + x2 / 2  # no overflow at 1e308
                reach = _reach(x1, x2, t)
                first = _first_at_least(&centres[0], stored, centre - reach)
                suppressed = False
                m = first
                while m < stored and centres[m] <= centre + reach and not suppressed:
                    k = slots[m]
                    # A kept box that misses this one along y has IoU 0 <= t: no division.
                    suppressed = (kept_boxes[5, k] == label
                                  and kept_boxes[1, k] < y2 and kept_boxes[3, k] > y1
                                  and _iou(kept_boxes[0, k], kept_boxes[1, k],
                                           kept_boxes[2, k], kept_boxes[3, k],
                                           kept_boxes[4, k], x1, y1, x2, y2, area) > t)
                    m += 1
                work += m - first + 1
                if work >= CHECK_EVERY:
                    work = 0
                    check_signals()
                if suppressed:
                    continue
                place = _first_at_least(&centres[0], stored, centre)
                memmove(&centres[place + 1], &centres[place], (stored - place) * sizeof(double))
                memmove(&slots[place + 1], &slots[place], (stored - place) * sizeof(Py_ssize_t))
                centres[place], slots[place] = centre, stored
                kept_boxes[0, stored], kept_boxes[1, stored] = x1, y1
                kept_boxes[2, stored], kept_boxes[3, stored] = x2, y2
                kept_boxes[4, stored], kept_boxes[5, stored] = area, label
                stored += 1
            keep[kept] = box
            kept += 1
    return np.asarray(keep[:kept]).copy()

cdef inline void _unlink(long long[::1] next_, long long[::1] prev, Py_ssize_t i,
                         Py_ssize_t n) noexcept nogil:
    """Remove box i from the linked list of undecided boxes (its own links stay usable)."""
    if prev[i] >= 0:
        next_[prev[i]] = next_[i]
    if next_[i] < n:
        prev[next_[i]] = prev[i]


cdef inline void _suppress_if_overlapping(double[:, ::1] xs, const double[::1] xs_class,
                                          unsigned char[::1] suppressed, long long[::1] next_,
                                          long long[::1] prev, Py_ssize_t i, Py_ssize_t j,
                                          double t) noexcept nogil:
    """Suppress undecided box j if it shares kept box i's class and their IoU > t.

    The window was chosen along x; boxes in it that miss box i along y have IoU 0 <= t,
    which two comparisons tell without the division (the kernel's time, on proposals).
    """
    if xs_class[j] != xs_class[i]:
        return
    if xs[1, j] >= xs[3, i] or xs[3, j] <= xs[1, i]:
        return
    if _iou(xs[0, i], xs[1, i], xs[2, i], xs[3, i], xs[4, i],
            xs[0, j], xs[1, j], xs[2, j], xs[3, j], xs[4, j]) > t:
        suppressed[j] = 1
        _unlink(next_, prev, j, xs.shape[1])
