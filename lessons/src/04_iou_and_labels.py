# %% [markdown]
# # Lesson 04 — IoU and anchor labels (F9, F8, F13)
#
# **You will learn** to compute the overlap of two boxes (F9), the five rules that make an
# anchor positive, negative or ignored (F8), and how 256 of them are drawn into one
# training minibatch (F13).
#
# **Why it is needed.** The RPN learns "is there an object here?" from labelled anchors.
# An image has thousands of anchors and a handful of objects, so which anchors count as
# object, which as background and which are left out decides what the RPN learns.

# %%
import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from minirpn import ops
from minirpn.anchor_target import anchor_targets, inside_image, label_anchors
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.blas import use_one_thread
from minirpn.config import Config
from minirpn.data import ToyShapes
from minirpn.exercises import check
from minirpn.matching import (
    IGNORE,
    NEGATIVE,
    POSITIVE,
    best_for_each_gt,
    match,
    sample_balanced,
    threshold_labels,
)
from minirpn.model import Detector
from minirpn.ops import reference
from minirpn.timing import best_time
from minirpn.visualize import charts, stages

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## The formula (F9)
#
# The intersection over union of boxes $A$ and $B$ is
#
# $$\mathrm{IoU}(A, B) = \frac{\operatorname{area}(A \cap B)}{\operatorname{area}(A \cup B)}
# = \frac{I}{\operatorname{area}(A) + \operatorname{area}(B) - I} \qquad \text{(F9)}$$
#
# With continuous corners $(x_1, y_1, x_2, y_2)$ the intersection is the box
# $(\max x_1, \max y_1, \min x_2, \min y_2)$, of width $\min x_2 - \max x_1$ **if that is
# positive**, else 0 (the boxes miss each other). By hand for $A = (0, 0, 10, 10)$ and
# $B = (5, 5, 15, 15)$: $I = 5 \cdot 5 = 25$, union $= 100 + 100 - 25 = 175$, IoU $=
# 1/7 \approx 0.143$. Two squares shifted by half their side overlap by only 0.14.
#
# A deliberately naive version, one pair at a time, to compare the package with:


# %%
def iou_by_hand(a, b):
    """F9 for two boxes (x1, y1, x2, y2), written out in plain Python."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union


A, B = np.array([[0.0, 0, 10, 10]]), np.array([[5.0, 5, 15, 15]])
print(
    "by hand:",
    iou_by_hand(A[0], B[0]),
    " Cython:",
    ops.box_iou(A, B)[0, 0],
    " NumPy:",
    reference.box_iou(A, B)[0, 0],
)
assert iou_by_hand(A[0], B[0]) == ops.box_iou(A, B)[0, 0] == reference.box_iou(A, B)[0, 0] == 1 / 7

# %% [markdown]
# The package has the IoU twice, with one signature: `ops.box_iou` calls a Cython kernel
# (two plain loops over the pairs, compiled to C), `ops.reference.box_iou` is its NumPy
# twin (the whole (N, K) matrix at once by broadcasting). Both on the anchors of a
# 600×1000 image (lesson 03) against 8 random boxes, and our naive loop on the same pairs:

# %%
cell_anchors = generate_base_anchors()  # the paper's 9
anchors_big = grid_anchors(cell_anchors, 38, 63, stride=16)  # (21546, 4)
rng = np.random.default_rng(0)
corners = rng.uniform(0, [1000, 600], size=(8, 2))
gt_big = np.hstack([corners, corners + rng.uniform(40, 400, size=(8, 2))])  # (8, 4)


t_hand, by_hand = best_time(
    lambda: np.array([[iou_by_hand(a, g) for g in gt_big] for a in anchors_big]), repeats=1
)
t_cython, fast = best_time(lambda: ops.box_iou(anchors_big, gt_big), repeats=20)
t_numpy, twin = best_time(lambda: reference.box_iou(anchors_big, gt_big), repeats=20)
print(
    f"{fast.size:,} pairs; largest differences: Cython vs NumPy "
    f"{np.abs(fast - twin).max():.1e}, Cython vs by hand {np.abs(fast - by_hand).max():.1e}"
)
assert np.allclose(fast, twin, rtol=0, atol=1e-15) and np.allclose(fast, by_hand, atol=1e-15)
for label, t in [("by hand", t_hand), ("Cython", t_cython), ("NumPy", t_numpy)]:
    print(f"{label:8} {t * 1e3:8.2f} ms  {t / fast.size * 1e9:7.1f} ns per pair")

# %% [markdown]
# * **largest differences: 0** (or 1e-16): the three compute the same additions and
#   divisions in float64.
# * **by hand**: microseconds per pair: every pair is several Python calls.
# * **Cython**: nanoseconds per pair, a thousand times faster or so: the same loop, but
#   compiled, with no Python object per number.
# * **NumPy**: in between, several times slower than the kernel: it is vectorised, but it
#   builds about ten temporary (N, K) arrays and goes through memory once for each.
#
# (Times depend on the machine and its load; the ratios hold roughly everywhere.)
#
# The training loop calls the IoU once per image; the proposal layer's NMS (lesson 07)
# calls it thousands of times, where the kernel matters most.

# %%
fig, ax = plt.subplots(figsize=(8, 2.6), layout="constrained")
charts.timing_bars(
    ax, ["by hand (Python loops)", "Cython kernel", "NumPy twin"], [t_hand, t_cython, t_numpy]
)
ax.set_title(f"IoU of {fast.size:,} anchor-box pairs (F9)")
plt.show()

# %% [markdown]
# ## The labelling rules (F8)
#
# Every anchor gets one label, from its IoU with the ground-truth boxes:
#
# * **(a)** for each ground truth, the anchor(s) with the highest IoU are **positive**;
# * **(b)** an anchor with IoU ≥ 0.7 with some ground truth is **positive**;
# * **(c)** an anchor with IoU < 0.3 with every ground truth is **negative**;
# * **(d)** the rest take no part (**ignored**): neither clearly object nor background;
# * **(e)** anchors crossing the image border take no part at all.
#
# `minirpn.matching` has one small function per rule, so we can apply each alone. The
# toy image: validation image 10 of the toy data, 128×128 with three shapes, and the tiny
# detector's 16·16·9 = 2,304 anchors (stride 8; sides 16, 32, 64).

# %%
cfg = Config.tiny(rpn_batch_size=256)  # the tiny model, with the paper's minibatch of 256
detector = Detector(cfg, num_classes=4, seed=0)
sample = ToyShapes("val", num_images=11)[10]
image, gt = sample.image, sample.boxes  # (128, 128, 3) uint8, (3, 4)
anchors = detector.rpn.anchors(16, 16)  # (2304, 4)
print("ground truth:", [ToyShapes.class_names[c - 1] for c in sample.labels], gt.tolist())

# %% [markdown]
# **Rule (e), the border.** `inside_image` keeps the anchors within the image (the paper
# allows 0 pixels of overhang: `cfg.rpn_allowed_border`). The others never get an IoU.

# %%
inside = inside_image(anchors, image.shape[:2], cfg.rpn_allowed_border)  # (2304,) bool
print(
    f"rule (e): {(~inside).sum():,} of {len(anchors):,} anchors cross the border, "
    f"{inside.sum():,} stay"
)
assert inside.sum() == 1176

# %% [markdown]
# Half of them go: on a 128-pixel image a 64-pixel anchor fits only where its centre is 32
# pixels from every edge. The paper's images lose more than half too (lesson 03: 8,151 of
# 21,546 stay).
#
# **Rules (b), (c), (d), thresholds.** `match` gives each anchor its best ground truth and
# that IoU; `threshold_labels` turns the IoU into a label:

# %%
iou = ops.box_iou(anchors[inside], gt)  # (1176, 3), F9
matched, max_iou = match(iou)  # (1176,) index of the best ground truth and that IoU
by_threshold = threshold_labels(max_iou, cfg.rpn_positive_overlap, (0.0, cfg.rpn_negative_overlap))
counts = {
    name: int(np.sum(by_threshold == code))
    for name, code in [("positive", POSITIVE), ("negative", NEGATIVE), ("ignored", IGNORE)]
}
print("rules (b), (c), (d):", counts)
print("best IoU of each ground truth:", np.round(iou.max(axis=0), 2))
assert counts == {"positive": 4, "negative": 1046, "ignored": 126}

# %% [markdown]
# * **4 positives by (b)**, all for the first box (its best IoU is 0.88); the other two
#   boxes' best anchors reach only 0.61: no anchor of theirs passes 0.7.
# * **1,046 negatives by (c)**: most of the image is background.
# * **126 ignored (d)**: anchors overlapping a shape by 0.3 to 0.7, too ambiguous to
#   call either way.
#
# **Rule (a), the best anchor of each ground truth.** Without it two of the three shapes
# would have no positive anchor at all, and the RPN would learn that they are background.
# `best_for_each_gt` marks, for each column of the IoU matrix, the rows holding its maximum:

# %%
best = best_for_each_gt(iou)  # (1176,) bool
rescued = best & (by_threshold != POSITIVE)
print(f"rule (a): {best.sum()} anchors, {rescued.sum()} of them not positive by rule (b)")
print("their best IoU:", np.round(max_iou[best], 2), "-> ground truth", matched[best])
assert best.sum() == 3 and rescued.sum() == 2

# %% [markdown]
# Three anchors, one per box; the first box's was already positive by (b), the other two
# are positive only thanks to (a), at IoU 0.61. (Rule (a) comes after (c), so it overrides
# a negative; it matters whenever a shape falls between the anchor sizes or positions.)
#
# Each rule alone, drawn: on the left rule (b)'s positives, on the right rule (a)'s, on the
# image (`draw_minibatch` draws the anchors it is given: green positives, blue negatives).


# %%
def labels_of(mask):
    """A full-length label array: POSITIVE where ``mask`` (over inside anchors) holds."""
    labels = np.full(len(anchors), IGNORE)
    labels[np.flatnonzero(inside)[mask]] = POSITIVE
    return labels


fig, (left, right) = plt.subplots(1, 2, figsize=(12, 6.6), layout="constrained")
stages.draw_minibatch(image, anchors, labels_of(by_threshold == POSITIVE), gt, ax=left)
left.set_title(f"rule (b) alone: IoU ≥ 0.7 → {counts['positive']} positives, all on one box")
stages.draw_minibatch(image, anchors, labels_of(best), gt, ax=right)
right.set_title(f"rule (a) alone: each box's best anchor → {best.sum()} positives")
plt.show()

# %% [markdown]
# And the two rules that concern thousands of anchors, as mosaics: one 16×16 tile per
# anchor shape, each square one cell (`draw_label_map`). Left, rule (e) alone: grey
# anchors cross the border. Right, rule (c) alone among the anchors inside: blue
# background, orange the rest. (In these two, the legend's "neither" means "not decided
# by this rule".)


# %%
def everything(**kinds):
    """Categories for draw_label_map: the given masks, every other anchor 'neither'."""
    masks = {name: np.zeros(len(anchors), bool) for name in stages.LABEL_COLORS}
    masks.update(kinds)
    masks["neither"] = ~np.any([m for n, m in masks.items() if n != "neither"], axis=0)
    return masks


negative = np.zeros(len(anchors), bool)
negative[np.flatnonzero(inside)[by_threshold == NEGATIVE]] = True
none_sampled = np.zeros(len(anchors), bool)
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 7), layout="constrained")
stages.draw_label_map(
    everything(outside=~inside),
    none_sampled,
    (16, 16),
    cell_anchors=detector.rpn.base_anchors,
    num_ratios=3,
    ax=left,
)
left.set_title("rule (e) alone: anchors crossing the border (grey)", fontsize=10)
stages.draw_label_map(
    everything(outside=~inside, negative=negative),
    none_sampled,
    (16, 16),
    cell_anchors=detector.rpn.base_anchors,
    num_ratios=3,
    ax=right,
)
right.set_title("rule (c) alone, inside: IoU < 0.3 with every box (blue)", fontsize=10)
plt.show()

# %% [markdown]
# The grey frame grows with the anchor size: the 16-pixel anchors (left column) lose only
# the outermost cells, the 64-pixel ones (right column) keep only the middle 8×8. Among
# the anchors inside, blue (negative) is everywhere except around the shapes, where the
# orange ring of "neither" anchors sits.
#
# **All rules together**, in the order of the original code: (e), then (c), then (a)
# overriding it, then (b). `label_anchors` is that order; it must equal our pieces:

# %%
combined = by_threshold.copy()
combined[best] = POSITIVE  # (a) after (c), (b) already in by_threshold
assert np.array_equal(label_anchors(iou, cfg), combined)
print(
    "label_anchors = rules (c), (a), (b) applied in order:",
    {"positive": int(np.sum(combined == POSITIVE)), "negative": int(np.sum(combined == NEGATIVE))},
)

# %% [markdown]
# 6 positives (4 by (b), 2 more by (a)) and 1,046 negatives.
#
# ## The minibatch (F13)
#
# Training on all 1,052 labelled anchors would let the 1,046 negatives swamp the 6
# positives. So each image contributes a minibatch of 256 anchors, at most half (128)
# positive, chosen at random; when there are fewer positives, negatives fill the batch.
# `sample_balanced` does this; the anchors left out become IGNORE:

# %%
labels_all = np.full(len(anchors), IGNORE)
labels_all[inside] = combined
batch = sample_balanced(labels_all, batch_size=256, max_positive=128, rng=np.random.default_rng(0))
n_pos, n_neg = int(np.sum(batch == POSITIVE)), int(np.sum(batch == NEGATIVE))
print(f"this image: {n_pos} positive + {n_neg} negative = {n_pos + n_neg}")
assert (n_pos, n_neg) == (6, 250)

# an image with many positives (made up): 300 positive, 5,000 negative candidates
crowded = np.r_[np.full(300, POSITIVE), np.full(5000, NEGATIVE)]
crowded_batch = sample_balanced(crowded, 256, 128, np.random.default_rng(0))
print(
    f"a crowded image: {np.sum(crowded_batch == POSITIVE)} positive + "
    f"{np.sum(crowded_batch == NEGATIVE)} negative"
)
assert np.sum(crowded_batch == POSITIVE) == 128 == np.sum(crowded_batch == NEGATIVE)

# %% [markdown]
# * **this image: 6 + 250 = 256**: all 6 positives, and 250 of the 1,046 negatives drawn
#   at random. The ratio is far from 1:1; the paper pads with negatives rather than
#   repeating positives.
# * **a crowded image: 128 + 128**: 128 of the 300 positives are drawn, and as many
#   negatives, the paper's 1:1.
#
# `anchor_targets` does all of it (F8 a–e, F13, and the regression targets of lesson 05)
# in one call; with the same seed it gives the same minibatch. The labels picture shows
# the result: left the minibatch on the image, right every anchor's label before sampling,
# the dots marking the sampled ones.

# %%
targets = anchor_targets(anchors, gt, image.shape[:2], cfg, np.random.default_rng(0))
assert np.array_equal(targets.labels, batch)
keep_all = dataclasses.replace(cfg, rpn_batch_size=2 * len(anchors))  # no sampling: F8 only
before = anchor_targets(anchors, gt, image.shape[:2], keep_all, np.random.default_rng(0))
print(
    f"anchor_targets: {np.sum(targets.labels == POSITIVE)} positive, "
    f"{np.sum(targets.labels == NEGATIVE)} negative in the minibatch"
)

fig, (left, right) = plt.subplots(1, 2, figsize=(13, 7.4), layout="constrained")
stages.draw_minibatch(image, anchors, targets.labels, gt, ax=left)
stages.draw_label_map(
    stages.label_categories(before.labels, inside),
    targets.labels != IGNORE,
    (16, 16),
    detector.rpn.base_anchors,
    len(cfg.anchor_ratios),
    ax=right,
)
plt.show()

# %% [markdown]
# On the left the blue negatives are spread over the whole image — background anywhere
# is background — and the green positives sit on the three shapes. On the right, the
# dots (sampled) cover the blue tiles thinly, about one negative in four, and every green
# cell.
#
# ## Summary
#
# * F9: IoU = intersection / union, the intersection clamped at 0; by hand, the Cython
#   kernel and the NumPy twin agree exactly, the kernel hundreds of times faster than
#   Python loops.
# * F8 on a toy image: (e) removes 1,128 of 2,304 anchors at the border; (c) makes 1,046
#   negative; (b) makes 4 positive, all on one box; (a) adds the 2 best anchors of the
#   other two boxes, which no anchor covered at IoU 0.7.
# * F13: 256 anchors per image, at most 128 positive: here 6 + 250, and 128 + 128 when
#   positives abound.
#
# ## Exercises
#
# **1.** Write the IoU of two boxes as a function of `a` and `b`, each `(x1, y1, x2, y2)`,
# without looking at `iou_by_hand`. The check compares it with `ops.box_iou` on pairs that
# overlap, touch, nest and miss each other.

# %%
my_iou = ...  # a function: my_iou(a, b) -> float

# %%
check("04.iou_function", my_iou)

# %% [markdown]
# **2.** A 16×16 ground-truth square and an identical anchor, shifted horizontally by $d$
# pixels. What is the largest whole shift $d$ that still gives IoU ≥ 0.7 (rule b)? Write
# the IoU as a function of $d$ first. The tiny model's anchors sit 8 pixels apart; what
# does your answer say about how often rule (b) can fire?

# %%
largest_shift = ...  # an int, in pixels

# %%
check("04.largest_shift", largest_shift)
