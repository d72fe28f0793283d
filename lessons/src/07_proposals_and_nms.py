# %% [markdown]
# # Lesson 07 — The proposal layer and NMS (F15, F16)
#
# **You will learn** how the RPN's thousands of scored, shifted anchors become a few hundred
# region proposals, step by step with the count left after each (F15), and how greedy
# non-maximum suppression (F16) removes the duplicates.
#
# **Why it is needed.** The RPN scores and moves *every* anchor: about 20,000 per image in
# the paper. Neighbouring anchors that found the same object predict nearly the same box.
# The second stage should see each object a few times, not hundreds, and only the boxes
# most likely to hold one: 300 per image at test time in the paper.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

from minirpn import ops, pretrained
from minirpn.blas import use_one_thread
from minirpn.boxes import clip_boxes, decode, remove_small_boxes
from minirpn.data import ToyShapes
from minirpn.exercises import check
from minirpn.ops import reference
from minirpn.proposal import objectness, propose_rows
from minirpn.rpn_head import flatten_deltas
from minirpn.timing import best_time
from minirpn.visualize import charts, draw_proposals
from minirpn.visualize.stages import objectness_colorbar

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## The steps (F15)
#
# For one image, given the RPN's scores and deltas for all $H W k$ anchors:
#
# 1. **objectness**: the softmax probability of "object" of every anchor;
# 2. **decode** every anchor with its predicted deltas (F10): one box per anchor;
# 3. **clip** each box to the image;
# 4. **remove small boxes**, narrower or lower than a minimum size (16 pixels of the
#    original image in the paper);
# 5. keep the **top N** by objectness (the original code: 6,000 at test, 12,000 in training);
# 6. **NMS** at IoU 0.7 (F16, below);
# 7. keep the **top M** survivors (300 at test, 2,000 in training).
#
# `minirpn.proposal.propose_rows` does exactly this, on one image's anchors laid out as rows
# (the RPN stage's `propose` calls it for each image; `proposal_layer` for the outputs of one
# map). After it picks the training or the test values of N and M, its lines are the seven
# steps:

# %%
print(inspect.getsource(propose_rows).split('"""')[-1])

# %% [markdown]
# ## On a trained detector
#
# `pretrained("toy")` is the tiny detector trained by the main job, whose weights ship
# with minirpn (lesson 00). Its configuration is the paper's scaled down to 128 × 128 images:
# stride 8, 9 anchors per cell, top N = 1,000 and top M = 100 at test, minimum size 4
# pixels. We run the backbone and the RPN on a validation image: the RPN stage
# (`detector.rpn`) gives the scores, the deltas and the anchors they belong to.

# %%
detector = pretrained("toy")
cfg = detector.cfg
sample = ToyShapes("val")[12]  # four objects on a dark background
image_size = sample.image.shape[:2]
features, _ = detector.features(sample.image[None])  # one map, (1, C, H, W)
rpn_out, _ = detector.rpn.forward(features)
(scores,), (deltas,), (anchors,) = rpn_out  # (1, 2k, H, W), (1, 4k, H, W), (H*W*k, 4)
print(f"image {image_size}, feature map {features[0].shape[2:]}, {len(anchors)} anchors")
print(
    f"top N = {cfg.rpn_pre_nms_top_n_test}, NMS at {cfg.rpn_nms_thresh}, "
    f"top M = {cfg.rpn_post_nms_top_n_test}, min size {cfg.rpn_min_size} px"
)

# %% [markdown]
# Now the seven steps, each with the package's own function, counting the boxes left after
# each. They are a function of top N and top M, because the layer runs with other numbers
# in training (below):


# %%
def proposal_steps(top_n, top_m):
    """F15 on this image's RPN outputs: the count after each step, the boxes and objectness
    before and after NMS, and the final proposals (boxes (M, 4), objectness (M,))."""
    counts = {}
    probs = objectness(scores)  # 1. (H*W*k,)
    boxes = decode(anchors.astype(deltas.dtype), flatten_deltas(deltas[0]))  # 2. (H*W*k, 4)
    counts["anchors, decoded"] = len(boxes)
    boxes = clip_boxes(boxes, image_size)  # 3.
    counts["clipped"] = len(boxes)
    keep = remove_small_boxes(boxes, cfg.rpn_min_size)  # 4.
    boxes, probs = boxes[keep], probs[keep]
    counts[f"at least {cfg.rpn_min_size:g} px"] = len(boxes)
    order = np.argsort(-probs, kind="stable")[:top_n]  # 5.
    boxes, probs = boxes[order], probs[order]
    counts["top N"] = len(boxes)
    before = boxes, probs
    keep = ops.nms(boxes, probs, cfg.rpn_nms_thresh)  # 6.
    after = boxes[keep], probs[keep]
    counts[f"after NMS at {cfg.rpn_nms_thresh}"] = len(keep)
    keep = keep[:top_m]  # 7.
    counts["top M"] = len(keep)
    return counts, before, after, (boxes[keep], probs[keep])


counts, before_nms, after_nms, (boxes, probs) = proposal_steps(
    cfg.rpn_pre_nms_top_n_test, cfg.rpn_post_nms_top_n_test
)
for step, count in counts.items():
    print(f"{step:20} {count:6,}")
assert counts["clipped"] == counts["anchors, decoded"] == len(anchors)  # clipping drops nothing
assert counts[f"at least {cfg.rpn_min_size:g} px"] >= 0.99 * len(anchors)
assert 1 / 3 < len(after_nms[0]) / len(before_nms[0]) < 2 / 3

(from_stage,) = detector.rpn.propose(rpn_out, image_size, train=False)  # what detect uses
proposals, proposal_scores = from_stage.boxes, from_stage.scores
assert np.array_equal(boxes, proposals) and np.array_equal(probs, proposal_scores)
print("the steps give exactly the RPN stage's proposals")

# %% [markdown]
# Reading the counts:
#
# * **2,304 anchors** (16 × 16 cells × 9) give 2,304 decoded boxes, one each.
# * **Clipping removes nothing**, it only moves edges inside the image; a box that lay
#   entirely outside would become a line of zero width, for the next step to drop.
# * **The minimum size** (4 px here, 16 px in the paper) drops nothing or almost nothing
#   on these images (at most 1%, asserted): the trained RPN predicts hardly any boxes that
#   small. It matters for
#   predictions that clipping squeezed against the border.
# * **Top N** cuts to 1,000 — on the paper's 20,000 anchors it is 6,000 — so that NMS,
#   whose cost grows with the square of its input, stays cheap.
# * **NMS** removes about half of those (between a third and two thirds, asserted): the
#   near-duplicates that neighbouring anchors predicted for the same object or the same
#   patch of background.
# * **Top M** keeps the 100 best survivors; they are sorted by objectness, so that is a
#   slice.
#
# The assertion compared boxes and scores entry for entry: the lesson called the same
# functions in the same order, so they are equal, not just close.
#
# ## In training: more proposals
#
# During training the proposal layer feeds the second stage's *training*: lesson 09 samples
# 64 RoIs per image from its proposals, a quarter foreground and the rest background. For
# that it wants more and rougher candidates than the 100 best, so the original code keeps
# 12,000 before NMS and 2,000 after it in training (6,000 and 300 at test); the tiny preset
# scales those to 2,000 and 300. The same steps with the training numbers, beside the test
# ones:

# %%
train_counts, *_, (train_boxes, train_probs) = proposal_steps(
    cfg.rpn_pre_nms_top_n_train, cfg.rpn_post_nms_top_n_train
)
test_nm = f"{cfg.rpn_pre_nms_top_n_test}/{cfg.rpn_post_nms_top_n_test}"
train_nm = f"{cfg.rpn_pre_nms_top_n_train}/{cfg.rpn_post_nms_top_n_train}"
print(f"{'step':20} {'test':>9} {'training':>9}")
print(f"{'(top N / top M)':20} {test_nm:>9} {train_nm:>9}")
for step, count in counts.items():
    print(f"{step:20} {count:9,} {train_counts[step]:9,}")
(in_training,) = detector.rpn.propose(rpn_out, image_size, train=True)
assert np.array_equal(train_boxes, in_training.boxes)
assert np.array_equal(train_probs, in_training.scores)
print("the steps with the training numbers = detector.rpn.propose(..., train=True)")
after_nms_train = train_counts[f"after NMS at {cfg.rpn_nms_thresh}"]
assert train_counts["top M"] == cfg.rpn_post_nms_top_n_train < after_nms_train
assert 1 / 3 < after_nms_train / train_counts["top N"] < 2 / 3  # NMS: about half again
assert np.array_equal(train_boxes[: len(proposals)], proposals)  # the test ones come first

# %% [markdown]
# Top N now lets through 2,000 of the 2,304 boxes, NMS still removes about half, and top
# M keeps 300, three times the test's 100. NMS is greedy from the best box down, so the
# first 100 training proposals are exactly the 100 test proposals (asserted); the other
# 200 are weaker boxes, many on background, which is what the second stage needs to learn
# to reject. (The paper's numbers, 12,000 → 2,000, are the same idea at its scale.)
#
# ## F16: NMS by hand on five boxes
#
# Greedy NMS: take the best-scoring box left, keep it, drop every remaining box whose IoU
# with it is **greater than** the threshold, repeat with the best of the rest. Five boxes
# (index, score): three 10 × 10 squares in a row, shifted by 2 pixels each, and two
# overlapping squares elsewhere:

# %%
five = np.array(
    [
        [0, 0, 10, 10],  # 0  A
        [2, 0, 12, 10],  # 1  B, 2 px right of A
        [4, 0, 14, 10],  # 2  C, 2 px right of B
        [20, 20, 30, 30],  # 3  D
        [21, 21, 31, 31],  # 4  E, 1 px right and down of D
    ],
    dtype=np.float64,
)
five_scores = np.array([0.9, 0.8, 0.7, 0.6, 0.95])
print("IoU of every pair (F9):")
print(np.round(ops.box_iou(five, five), 3))

# %% [markdown]
# By hand, with threshold 0.5. Two squares of side 10 shifted by $d$ along one axis overlap
# in $10(10 - d)$, so IoU $= (10 - d)/(10 + d)$: $d = 2$ gives 8/12 = 0.667, $d = 4$ gives
# 6/14 = 0.429. D and E overlap in 9 × 9 = 81, union 200 − 81 = 119, IoU 0.681.
#
# | step | best left | kept so far | dropped now (IoU > 0.5) | left |
# |---|---|---|---|---|
# | 1 | E (0.95) | E | D (0.681) | A, B, C |
# | 2 | A (0.9) | E, A | B (0.667); C stays (0.429) | C |
# | 3 | C (0.7) | E, A, C | — | — |
#
# So keep = [4, 0, 2]. Note C: it overlaps B by 0.667, but B was already dropped, and a
# dropped box suppresses nothing. That is what "greedy" means here.

# %%
by_hand = [4, 0, 2]
kernel = ops.nms(five, five_scores, 0.5)
twin = reference.nms(five, five_scores, 0.5)
print("by hand:", by_hand, " Cython kernel:", kernel.tolist(), " NumPy twin:", twin.tolist())
assert kernel.tolist() == by_hand and twin.tolist() == by_hand

# %% [markdown]
# All three agree, in the same order (decreasing score). The NumPy twin is the readable
# definition — its loop is the table above:

# %%
print(inspect.getsource(reference.nms).split('"""')[-1])

# %% [markdown]
# ## Cython vs NumPy
#
# The twin is vectorised over the remaining boxes but loops in Python once per *kept* box;
# the Cython kernel (`kernels/boxes.pyx`) runs the whole loop in C. Both on the 1,000
# boxes of step 5 above, and on 6,000 random boxes (the paper's top N at test time):


# %%
rng = np.random.default_rng(0)
corners = rng.uniform(0, 1000, (6000, 2))
many = np.hstack([corners, corners + rng.uniform(16, 300, (6000, 2))])
many_scores = rng.random(6000)
cases = {"1,000 RPN boxes": before_nms, "6,000 random boxes": (many, many_scores)}
labels, seconds = [], []
for name, (b, s) in cases.items():
    repeats = 3 if len(b) <= 1000 else 1  # the twin on 6,000 boxes takes a second or more
    t_twin, keep_twin = best_time(lambda b=b, s=s: reference.nms(b, s, 0.7), repeats=repeats)
    t_kernel, keep_kernel = best_time(lambda b=b, s=s: ops.nms(b, s, 0.7), repeats=10)
    assert np.array_equal(keep_twin, keep_kernel)
    print(
        f"{name}: {len(keep_kernel):,} kept; NumPy {t_twin * 1e3:.1f} ms, "
        f"Cython {t_kernel * 1e3:.2f} ms ({t_twin / t_kernel:.0f}x)"
    )
    labels += [f"NumPy, {name}", f"Cython, {name}"]
    seconds += [t_twin, t_kernel]

fig, ax = plt.subplots(figsize=(8, 3))
charts.timing_bars(ax, labels, seconds)
ax.set_title("NMS at IoU 0.7: NumPy twin vs Cython kernel (same keep lists)")
fig.tight_layout()
plt.show()

# %% [markdown]
# Both give the same keep list (asserted). The twin costs one Python iteration per kept
# box, each computing IoUs against all the boxes still left; the kernel does the same work
# without the interpreter, tens of times faster (the factors printed; yours depend on the
# machine and its load). Random boxes rarely overlap by 0.7, so most of the 6,000 are kept
# and the twin iterates thousands of times; the RPN's boxes cluster, so fewer are kept.
#
# ## The picture
#
# The proposals of the trained detector at three points: the top N before NMS, the
# survivors of NMS, and the final top M. Colour and line width show objectness (thin
# dark blue: low, thick orange: high); the black dashed boxes are the ground truth.

# %%
fig, axes = plt.subplots(1, 3, figsize=(16, 6))
panels = [
    (before_nms, f"before NMS: top N, {len(before_nms[0]):,} boxes (F15 step 5)"),
    (after_nms, f"after NMS at IoU {cfg.rpn_nms_thresh:g}: {len(after_nms[0]):,} (F16)"),
    ((proposals, proposal_scores), f"final top M: {len(proposals):,} proposals"),
]
for ((b, s), title), ax in zip(panels, axes, strict=True):
    draw_proposals(sample.image, b, s, title=title, gt_boxes=sample.boxes, ax=ax)
objectness_colorbar(fig, axes)
plt.show()

# %% [markdown]
# Left: a thousand boxes, most of them thin and dark blue (low objectness) and piled on
# top of each other; the thick orange ones crowd around the four objects. Middle: NMS has
# thinned every pile. Right: the best 100 of those. The numbers behind these three sentences:

# %%
overlap = ops.box_iou(after_nms[0], after_nms[0])  # (K, K), K kept by NMS
np.fill_diagonal(overlap, 0.0)
on_object = ops.box_iou(proposals, sample.boxes).max(axis=1) >= 0.5  # (M,)
confident = proposal_scores >= 0.9
print(f"after NMS, the largest overlap of two boxes: IoU {overlap.max():.3f}")
print(
    f"{confident.sum()} of the {len(proposals)} proposals have objectness >= 0.9; on an object: "
    f"{on_object[confident].sum()}"
)
print(f"proposals on no object (IoU < 0.5 with each): {(~on_object).sum()} of {len(proposals)}")
assert overlap.max() <= cfg.rpn_nms_thresh
assert on_object[confident].all() and (~on_object).sum() > len(proposals) / 2

# %% [markdown]
# No two boxes left after NMS overlap by more than 0.7. The most confident proposals all
# sit on objects, and most of the 100 sit on none: background boxes, kept to fill the
# quota, which the second stage learns to reject (lesson 09).
#
# ## Summary
#
# * F15: objectness → decode → clip → drop boxes below the minimum size → top N → NMS →
#   top M. Clipping removes no box; NMS removes most of them. The RPN stage's proposals
#   (`detector.rpn.propose`) are exactly these package functions in this order (asserted
#   equal).
# * F16: greedy NMS keeps the best box, drops those overlapping it by more than the
#   threshold, and repeats; a dropped box suppresses nothing (box C survived). Hand,
#   Cython kernel and NumPy twin give the same keep list.
# * The Cython kernel gives the twin's results one to two orders of magnitude faster.
#
# ## Exercises
#
# **1.** Run NMS on the five boxes by hand with threshold **0.4** instead of 0.5. Which
# indices are kept, in order?

# %%
keep_at_04 = ...  # a list of indices, e.g. [0, 1]

# %%
check("07.keep_at_04", keep_at_04)

# %% [markdown]
# **2.** Two anchors of the same shape in neighbouring cells are the same square of side
# $w$ shifted by the stride $d$. Their IoU is $(w - d)/(w + d)$. For which shift $d$, as a
# fraction of $w$, is it exactly 0.7, the RPN's NMS threshold? Compare with 16/128 (the
# paper's stride and smallest anchor): would NMS merge the boxes of two such neighbours if
# they predicted no correction at all?

# %%
shift_fraction = ...  # a float, d / w

# %%
check("07.shift_fraction", shift_fraction)
