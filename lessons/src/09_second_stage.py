# %% [markdown]
# # Lesson 09 — The second stage (F17)
#
# **You will learn** how the Fast R-CNN head is trained — which RoIs it sees, which box
# target each one gets, what its loss adds up — and how its outputs become detections.
#
# **Why it is needed.** The RPN hands over a few hundred proposals, mostly background and
# roughly placed (lessons 00, 07). The second stage names each one's class (or background)
# and refines its box for that class. Training it needs a balanced sample of RoIs; testing
# it needs a way to turn P proposals × C classes into a short list of boxes.

# %%
import inspect
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np

from minirpn import pretrained
from minirpn.blas import use_one_thread
from minirpn.boxes import encode
from minirpn.config import Config
from minirpn.data import ToyShapes
from minirpn.exercises import check
from minirpn.matching import max_positive
from minirpn.nn import softmax
from minirpn.ops import box_iou
from minirpn.proposal_target import proposal_targets
from minirpn.roi_head import postprocess, roi_head_loss
from minirpn.visualize import draw_detection_boxes

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## The formula (F17)
#
# For each sampled RoI with true class $u \in \{0, 1, \dots, C\}$ ($u = 0$ background) and,
# if $u \ge 1$, box target $v = (v_x, v_y, v_w, v_h)$ (F10, relative to the RoI), the head
# outputs class probabilities $p$ (softmax over $C + 1$) and a box $t^k$ for *every* class
# $k$. Its loss averages over the $R$ RoIs of the batch:
#
# $$L = \frac{1}{R} \sum_{r} \Big[ -\log p_{u_r} + [u_r \ge 1] \sum_{i \in \{x,y,w,h\}}
# \mathrm{smooth}_{L_1}\big(t^{u_r}_i - v_i\big) \Big]$$
#
# Only the box of the RoI's *own* class $u$ is regressed (class-specific regression); a
# background RoI adds nothing to the second term. The $R$ RoIs are sampled from the
# proposals (plus the ground-truth boxes): a quarter foreground (IoU ≥ 0.5 with an object),
# the rest background (IoU in [0.1, 0.5)).
#
# ## Sampling the RoIs
#
# We take the trained tiny detector of lesson 00 and one training image, run it up to the
# proposal layer in training mode (300 proposals) with its RPN stage, and sample with
# `proposal_targets`:

# %%
detector = pretrained("toy")
class_names = ToyShapes("train").class_names
cfg, num_classes = detector.cfg, detector.num_classes


def rpn_proposals(image, train):
    """One image's shared map (1, C, H, W) and its proposals (P, 4): backbone, RPN, proposal
    layer (lessons 03-07)."""
    features, _ = detector.features(image[None])
    rpn_out, _ = detector.rpn.forward(features)
    (proposals,) = detector.rpn.propose(rpn_out, image.shape[:2], train=train)
    return features[0], proposals.boxes


sample = ToyShapes("train")[3]
features, proposals = rpn_proposals(sample.image, train=True)
targets = proposal_targets(
    proposals, sample.boxes, sample.labels, num_classes, cfg, np.random.default_rng(0)
)
fg = np.flatnonzero(targets.labels > 0)
quota = max_positive(cfg.roi_fg_fraction, cfg.roi_batch_size)
print(f"{len(sample.boxes)} objects: {[class_names[k - 1] for k in sample.labels]}")
print(f"{len(proposals)} proposals + {len(sample.boxes)} ground-truth boxes -> candidates")
print(f"sampled {len(targets.rois)} RoIs (batch {cfg.roi_batch_size}): {fg.size} foreground")
print(f"foreground quota round({cfg.roi_fg_fraction} x {cfg.roi_batch_size}) = {quota}")
candidates = np.vstack([proposals, sample.boxes])
good = int((box_iou(candidates, sample.boxes).max(axis=1) >= cfg.roi_fg_thresh).sum())
print(f"candidates with IoU >= {cfg.roi_fg_thresh} (could be foreground): {good}")

# %% [markdown]
# The batch is full (64 RoIs) and its foreground is exactly the quota, 16 = 25% of 64: the
# trained RPN found more candidates with IoU ≥ 0.5 than the quota (printed), and the
# sampler picked 16 of them at random. The checks below hold for any image: foreground
# first, never above the quota, labels taken from the matched object, background with IoU
# in [0.1, 0.5).

# %%
assert good > quota
assert fg.size <= round(cfg.roi_fg_fraction * cfg.roi_batch_size) == quota == 16
assert fg.size == 16 and len(targets.rois) == 64  # this image: enough of both kinds
assert np.array_equal(fg, np.arange(fg.size))  # foreground rows come first
assert np.array_equal(targets.labels[fg], sample.labels[targets.matched_gt[fg]])
assert (targets.max_iou[fg] >= cfg.roi_fg_thresh).all()
background = np.flatnonzero(targets.labels == 0)
iou_bg = targets.max_iou[background]
assert ((iou_bg >= cfg.roi_bg_thresh_lo) & (iou_bg < cfg.roi_bg_thresh_hi)).all()
print(f"labels of the 16 foreground RoIs: {targets.labels[fg]}")
print(f"background IoUs from {iou_bg.min():.2f} to {iou_bg.max():.2f}")

# %% [markdown]
# **The paper's minibatch.** The original code samples 128 RoIs per image with the same
# quarter of foreground, so 32; the tiny preset halves both. A toy image holds one to four
# objects and the tiny RPN hands over 300 proposals in training, not 2,000: 16 foreground
# RoIs already repeat the same few objects many times. With two images per training step,
# the tiny head still sees as many RoIs per step as the original's one image:

# %%
paper_cfg = Config()  # the paper's settings
paper_quota = max_positive(paper_cfg.roi_fg_fraction, paper_cfg.roi_batch_size)
print(f"{'':22} {'RoIs / image':>12} {'foreground':>10} {'images / step':>13} {'RoIs / step':>11}")
for name, c, q in (
    ("the paper (Config())", paper_cfg, paper_quota),
    ("tiny (Config.tiny())", cfg, quota),
):
    print(
        f"{name:22} {c.roi_batch_size:12} {q:10} {c.images_per_batch:13} "
        f"{c.roi_batch_size * c.images_per_batch:11}"
    )
assert (paper_cfg.roi_batch_size, paper_quota) == (128, 32)
assert (
    cfg.roi_batch_size * cfg.images_per_batch
    == paper_cfg.roi_batch_size * paper_cfg.images_per_batch
)

# %% [markdown]
# The sampled RoIs on the image: foreground in the colour of its class, background in grey.
# Background RoIs all *touch* an object (IoU ≥ 0.1): the lower bound keeps the head's
# negatives near objects, the hard cases (a crude form of hard-negative mining), instead of
# plain backdrop.

# %%
fig, ax = plt.subplots(figsize=(6, 6.4))
draw_detection_boxes(
    sample.image,
    targets.rois[fg],
    np.ones(fg.size),
    targets.labels[fg],
    class_names,
    gt_boxes=sample.boxes,
    tags=False,  # "name 1.00" tags would hide the image: the colour says the class
    ax=ax,
)
for box in targets.rois[background]:
    x1, y1, x2, y2 = box
    ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="0.8", lw=0.6))
ax.set_title(f"{fg.size} foreground RoIs (class colours) + {background.size} background (grey)")
plt.show()

# %% [markdown]
# ## Class-specific regression targets
#
# The head predicts 4 deltas for each of the $C + 1 = 5$ classes, 20 columns; the target row
# of a foreground RoI of class $u$ fills only columns $4u \dots 4u + 3$, and its weights are 1
# there and 0 elsewhere, so the other 16 columns contribute nothing to the loss. The values
# are F10's deltas from the RoI to its matched object, divided by
# `cfg.bbox_normalize_stds` (0.1, 0.1, 0.2, 0.2) so that all four have similar ranges:

# %%
print(f"bbox_targets {targets.bbox_targets.shape}")
for r in fg[:3]:
    u = targets.labels[r]
    columns = np.flatnonzero(targets.inside_weights[r])
    print(
        f"RoI {r} ({class_names[u - 1]}, u={u}): columns {columns.tolist()}, "
        f"targets {np.round(targets.bbox_targets[r, columns], 2)}"
    )
for r in fg:
    u = targets.labels[r]
    assert np.array_equal(np.flatnonzero(targets.inside_weights[r]), 4 * u + np.arange(4))
    matched = sample.boxes[targets.matched_gt[r]][None]
    expected = encode(targets.rois[r][None], matched) / np.array(cfg.bbox_normalize_stds)
    np.testing.assert_allclose(targets.bbox_targets[r, 4 * u : 4 * u + 4], expected[0], atol=1e-5)
assert not targets.inside_weights[background].any()  # background: no box target at all
print("each foreground row: 4 columns of its own class, = encode(RoI, object) / stds")

# %% [markdown]
# ## The head's loss
#
# The head runs on the sampled RoIs, and `roi_head_loss` computes F17's two terms (the
# package's softmax log loss and smooth L1 with σ = 1, both divided by R):

# %%
print(inspect.getsource(roi_head_loss).split('"""')[2])  # the body, without the docstring
rois = np.hstack([np.zeros((len(targets.rois), 1), np.float32), targets.rois])  # image 0
(cls_logits, box_deltas), _ = detector.roi_head.forward(features, rois)
loss = roi_head_loss(cls_logits, box_deltas, targets, cfg)
print(f"classification {loss.loss_cls:.4f}, regression {loss.loss_reg:.4f}")

# %% [markdown]
# A check by hand: a plain loop over the RoIs that writes F17 out term by term.

# %%
probabilities = softmax(cls_logits.astype(np.float64))
loss_cls = loss_reg = 0.0
for r, u in enumerate(targets.labels):
    loss_cls += -np.log(probabilities[r, u])
    if u >= 1:  # only the box of the RoI's own class
        for i in range(4):
            x = box_deltas[r, 4 * u + i] - targets.bbox_targets[r, 4 * u + i]
            loss_reg += 0.5 * x**2 if abs(x) < 1 else abs(x) - 0.5
R = len(targets.labels)
print(f"loop: classification {loss_cls / R:.4f}, regression {loss_reg / R:.4f}")
assert abs(loss_cls / R - loss.loss_cls) < 1e-4 and abs(loss_reg / R - loss.loss_reg) < 1e-4

# %% [markdown]
# The same numbers. Note the regression term is divided by all 64 RoIs, not by the 16 that
# have a box: background RoIs count in $R$ but add nothing, as in the original code.
#
# ## `detect` end to end: from proposals to detections
#
# At test time there is no sampling: the head runs on all 100 test proposals, and
# `postprocess` turns its outputs into detections. Each proposal is decoded with the deltas
# of *each* of the $C$ classes and scored with that class's probability: $100 \times 4 =
# 400$ candidate boxes. Then (1) candidates scoring at most `cfg.test_score_thresh` (0.05)
# are dropped, (2) NMS at IoU 0.3 runs separately within each class, (3) the best 100 are
# kept. We watch the counts by switching the steps off in the configuration: a threshold of
# 0 keeps every candidate, an NMS threshold of 1 removes nothing, and a limit of 400 keeps
# them all.

# %%
val_sample = ToyShapes("val")[12]
image = val_sample.image
test_features, test_proposals = rpn_proposals(image, train=False)
test_rois = np.hstack([np.zeros((len(test_proposals), 1), np.float32), test_proposals])
(test_logits, test_box_deltas), _ = detector.roi_head.forward(test_features, test_rois)
outputs = (test_proposals, test_logits, test_box_deltas, (128, 128))
settings = {
    "every candidate": replace(cfg, test_score_thresh=0.0, test_nms=1.0, test_max_detections=400),
    "score > 0.05": replace(cfg, test_nms=1.0, test_max_detections=400),
    "score > 0.05, then per-class NMS": cfg,
}
counts = {}
for step, step_cfg in settings.items():
    counts[step] = len(postprocess(*outputs, step_cfg)[0])
    print(f"{step:34} {counts[step]:4d} boxes")
final = postprocess(*outputs, cfg)
for ours, theirs in zip(final, detector.detect(image), strict=True):
    np.testing.assert_array_equal(ours, theirs)
assert counts["every candidate"] == len(test_proposals) * num_classes == 400
assert counts["score > 0.05, then per-class NMS"] < counts["score > 0.05"] < 400 / 2
assert sorted(final[2]) == sorted(val_sample.labels)  # one detection per object, its class
assert (box_iou(val_sample.boxes, final[0]).max(axis=1) >= 0.7).all()
print("postprocess on the four stages run by hand = detector.detect")

# %% [markdown]
# Most of the 400 candidates are dropped by the score threshold: a proposal on one shape
# scores near 0 for the other classes, and most proposals are background for all four.
# Per-class NMS then merges the many boxes that landed on the same object into one box per
# object and class (the counts above). For this image the trained detector is left with
# exactly one box per object, of the object's class (asserted): the four detections lesson
# 00 drew. It is *per class* so that two overlapping objects of different classes do not
# suppress each other. The detections that remain, before and after NMS:

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 7))
before = postprocess(*outputs, settings["score > 0.05"])
for ax, (boxes, scores, labels) in ((left, before), (right, final)):
    draw_detection_boxes(
        image,
        boxes,
        scores,
        labels,
        class_names,
        gt_boxes=val_sample.boxes,
        score_thresh=0.05,
        tags=ax is right,  # on the left, dozens of tags would hide the image; colour = class
        ax=ax,
    )
left.set_title(f"score > 0.05, before NMS: {len(before[0])} boxes (class colours)")
right.set_title(f"after per-class NMS: {len(final[0])} boxes, with class and score")
plt.show()

# %% [markdown]
# On the right, each dashed white ground-truth box holds one detection of its own class
# (asserted above), where on the left dozens of boxes of all four colours pile up.
#
# ## Summary
#
# * The head trains on `cfg.roi_batch_size` RoIs per image sampled from the proposals and
#   the ground truth: at most a quarter foreground (IoU ≥ 0.5, labelled with the object's
#   class), the rest background (IoU in [0.1, 0.5), label 0) (F17).
# * Regression is class-specific: of the $4(C + 1)$ outputs, only the 4 of the RoI's own
#   class have a target and a weight.
# * Its loss = softmax log loss + smooth L1 on the own-class box, both divided by the number
#   of RoIs.
# * At test time every proposal becomes C class-specific boxes; a score threshold and
#   per-class NMS leave a short list: `detect` is exactly these steps after the four parts.
#
# ## Exercises
#
# **1.** For PASCAL VOC (C = 20), which is the first of the four box columns of a RoI of
# class 15 (columns counted from 0)?

# %%
first_column_class_15 = ...  # an int

# %%
check("09.first_column_class_15", first_column_class_15)

# %% [markdown]
# **2.** Before any training, the head's `cls_score` layer gives logits close to 0. What is
# its classification loss then, for PASCAL VOC's 20 classes? (Compare with the first value
# of `cls` in lesson 10, for four classes.)

# %%
initial_voc_cls_loss = ...  # a float

# %%
check("09.initial_voc_cls_loss", initial_voc_cls_loss)

# %% [markdown]
# **3.** A proposal `[20, 30, 60, 70]` and the head's box deltas for its class,
# `(1.0, -0.5, 0.5, 0.0)`. What box does `postprocess` make of them? The head was trained on
# targets divided by `cfg.bbox_normalize_stds`, so its outputs must be scaled back before
# F10 is applied. Check with `decode` from `minirpn.boxes` (it takes the stds too).

# %%
decoded_box = ...  # four numbers (x1, y1, x2, y2)

# %%
check("09.decoded_box", decoded_box)
