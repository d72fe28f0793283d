# %% [markdown]
# # Lesson 05 — Box coding and the RPN loss (F10, F12, F11)
#
# **You will learn** how a box is written as four numbers relative to an anchor (F10), why
# the regression loss is a smooth L1 with σ = 3 (F12), and how the RPN loss adds its two
# terms with λ, N_cls and N_reg (F11) — and how we know its gradient is right.
#
# **Why it is needed.** The RPN does not predict corners. For each anchor it predicts how to
# move and rescale that anchor; training compares those four numbers with the ones that
# would move the anchor exactly onto its ground truth. The loss decides how much a wrong
# score costs against a wrong box, and its gradient is what trains the head.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

from minirpn.blas import use_one_thread
from minirpn.boxes import decode, encode
from minirpn.config import Config
from minirpn.data import ToyShapes
from minirpn.exercises import check
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.matching import IGNORE, POSITIVE
from minirpn.model import Detector
from minirpn.nn import smooth_l1
from minirpn.paper_claims import claim_rows, claims_table, difference
from minirpn.rpn_head import rpn_loss, rpn_loss_rows
from minirpn.visualize import charts, draw_regression

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## F10: a box relative to an anchor
#
# Write a box by its centre $(x, y)$, width $w$ and height $h$, and an anchor by
# $(x_a, y_a, w_a, h_a)$. The four regression numbers are
#
# $$t_x = \frac{x - x_a}{w_a},\quad t_y = \frac{y - y_a}{h_a},\quad
#   t_w = \log\frac{w}{w_a},\quad t_h = \log\frac{h}{h_a} \qquad \text{(F10)}$$
#
# The network predicts $t$; the same formula applied to the ground-truth box gives the
# target $t^*$. The shift is measured in anchor widths and the size change as a log ratio,
# so a 128-pixel anchor and a 512-pixel anchor that are both "half a width off" get the
# same target: one regressor serves every anchor size. `encode` computes $t^*$, `decode`
# applies $t$ to an anchor; reading `encode` is reading F10:

# %%
print(inspect.getsource(encode))

# %% [markdown]
# **A hand computation.** Take the paper's square anchor `[-56, -56, 72, 72]`: centre
# (8, 8), 128 × 128. The ground truth `[0, 0, 64, 256]` has centre (32, 128) and is 64 × 256.
#
# * $t_x = (32 - 8)/128 = 0.1875$, $t_y = (128 - 8)/128 = 0.9375$;
# * $t_w = \log(64/128) = -\log 2 = -0.693$, $t_h = \log(256/128) = +\log 2 = +0.693$.
#
# Half the width and twice the height give opposite $t_w$, $t_h$ of the same size: the log
# makes shrinking and growing symmetric.

# %%
anchor = np.array([[-56.0, -56.0, 72.0, 72.0]])
gt = np.array([[0.0, 0.0, 64.0, 256.0]])
t = encode(anchor, gt)
by_hand = np.array([[24 / 128, 120 / 128, np.log(0.5), np.log(2.0)]])
print("encode(anchor, gt) =", np.round(t, 4))
assert np.allclose(t, by_hand, rtol=0, atol=1e-12)
back = decode(anchor, t)
print("decode(anchor, t)  =", back)
assert np.allclose(back, gt, rtol=0, atol=1e-12)

# %% [markdown]
# `decode` gave back the ground truth: $x = x_a + t_x w_a$, $w = w_a e^{t_w}$, and the
# corners from centre and size. The round trip holds for other pairs too: 10,000 random
# anchors and boxes (16 to 400 pixels wide and tall), encoded and decoded, come back to
# within about 1e-13 pixels (float64 rounding of boxes a few hundred pixels wide). One
# limit: `decode` caps $t_w$ and $t_h$ at $\log(1000/16)$, so a box can grow at most 62.5×
# per side in one step (a wild prediction early in training must not overflow `exp`); pairs
# further apart than that do not come back.

# %%
rng = np.random.default_rng(0)


def random_boxes(n):
    corner = rng.uniform(0, 500, (n, 2))
    return np.hstack([corner, corner + rng.uniform(16, 400, (n, 2))])


anchors_r, boxes_r = random_boxes(10_000), random_boxes(10_000)
error = np.abs(decode(anchors_r, encode(anchors_r, boxes_r)) - boxes_r).max()
print(f"largest round-trip error over 10,000 pairs: {error:.1e} pixels")
assert error < 1e-9

# %% [markdown]
# ## F12: smooth L1 and its σ
#
# The regression loss compares each predicted $t_i$ with $t_i^*$ through $x = t_i - t_i^*$:
#
# $$\text{smooth}_{L1}(x) = \begin{cases} 0.5\,(\sigma x)^2 & |x| < 1/\sigma^2 \\
#   |x| - 0.5/\sigma^2 & \text{otherwise} \end{cases} \qquad \text{(F12)}$$
#
# With σ = 1 it is the paper's "0.5 x² below 1, |x| − 0.5 above". It is quadratic near 0
# (small errors get small, shrinking gradients, so the optimum is approached gently) and
# linear far away (an outlier's gradient is at most 1, it cannot dominate the batch as it
# would under a squared loss). The released RPN code uses σ = 3, which moves the switch to
# $1/\sigma^2 = 1/9 \approx 0.111$. `minirpn.nn.smooth_l1` returns the summed loss and its
# gradient; we evaluate it one $x$ at a time to draw it.

# %%
x = np.linspace(-1.5, 1.5, 601)
curves, slopes = {}, {}
for sigma in (1.0, 3.0):
    values = [smooth_l1(np.array([xi]), np.zeros(1), sigma=sigma) for xi in x]
    curves[f"σ = {sigma:g}"] = [loss for loss, _ in values]
    slopes[f"σ = {sigma:g}"] = [float(grad[0]) for _, grad in values]
curves["0.5 x² (squared loss)"] = 0.5 * x**2

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
switch = {"σ = 1": 1.0, "σ = 3": 1 / 9}
charts.curves_with_switch_points(left, x, curves, switch, ylabel="smooth L1(x)")
left.set_ylim(-0.05, 1.5)
left.set_title("F12: the loss (dotted: the switch points ±1/σ²)")
charts.curves_with_switch_points(right, x, slopes, switch, ylabel="d smooth L1 / dx")
right.set_title("its gradient: linear up to ±1/σ², then ±1")
fig.tight_layout()
plt.show()

# %% [markdown]
# Left: the σ = 3 curve is a steeper parabola (9× the curvature) that hands over to the
# straight line already at ±1/9. Right: its gradient reaches ±1 at ±1/9 and stays there;
# for σ = 1 only at ±1. The check: at the switch point $x_0 = 1/\sigma^2$ both formulas give
# the same value, $0.5\,\sigma^2 x_0^2 = 1/18$ and $x_0 - 0.5/\sigma^2 = 1/9 - 1/18 = 1/18$,
# and the same slope, $\sigma^2 x_0 = 1$. The package switches exactly there:

# %%
sigma, x0 = 3.0, 1 / 9
just_below, just_above = x0 * (1 - 1e-9), x0 * (1 + 1e-9)
loss_below, grad_below = smooth_l1(np.array([just_below]), np.zeros(1), sigma=sigma)
loss_above, grad_above = smooth_l1(np.array([just_above]), np.zeros(1), sigma=sigma)
print(f"just below 1/9: loss {loss_below:.6f}, gradient {grad_below[0]:.6f}")
print(f"just above 1/9: loss {loss_above:.6f}, gradient {grad_above[0]:.6f}")
assert np.isclose(loss_below, 1 / 18) and np.isclose(loss_above, 1 / 18)
assert np.isclose(grad_below[0], 1.0) and grad_above[0] == 1.0
# Below the switch the quadratic formula holds, above it the linear one:
inner, outer = np.abs(x) < x0, np.abs(x) >= x0
assert np.allclose(np.array(curves["σ = 3"])[inner], 0.5 * 9 * x[inner] ** 2)
assert np.allclose(np.array(curves["σ = 3"])[outer], np.abs(x[outer]) - 0.5 / 9)

# %% [markdown]
# Both printed lines say 1/18 = 0.055556 and a gradient of 1: no jump in value or slope.
# Why σ = 3 for the RPN? Regression targets of positive anchors are small (an anchor with
# IoU ≥ 0.7 is off by a fraction of its width, |t*| mostly below 0.3), so with σ = 1 nearly
# every error would sit in the quadratic part, where the gradient fades as the error
# shrinks. With σ = 3 most errors get the full gradient of ±1, as in a plain L1 loss, and
# only the last 0.1 is smoothed.
#
# ## F11: the RPN loss
#
# For one image, over its anchors $i$:
#
# $$L(\{p_i\}, \{t_i\}) = \frac{1}{N_{cls}} \sum_i L_{cls}(p_i, p_i^*)
#   + \lambda \frac{1}{N_{reg}} \sum_i p_i^* L_{reg}(t_i, t_i^*) \qquad \text{(F11)}$$
#
# * $L_{cls}$: the two-class softmax log loss of anchor $i$; the sum runs over the sampled
#   minibatch (lesson 04, F13) and $N_{cls}$ is its size (256 in the paper).
# * $L_{reg}$: smooth L1 (σ = 3) summed over the four coordinates; $p_i^* = 1$ only for
#   positive anchors, so negatives have no box to regress.
# * The paper: $N_{reg}$ = the number of anchor *locations* (≈ 2,400 for a 1000 × 600
#   image) and λ = 10. The released code instead divides both terms by the minibatch size,
#   with λ = 1. `Config.rpn_loss_normalization` picks `"anchor_locations"` (the paper, the
#   default) or `"minibatch"`.
#
# `rpn_loss` (in `minirpn.rpn_head`) takes one image's head outputs, lays them out as one
# row per anchor and calls `rpn_loss_rows`, which is F11 (the RPN stage, `detector.rpn.loss`,
# calls it for each image of a batch). Its code, after the argument checks:

# %%
source = inspect.getsource(rpn_loss_rows)
print(source[source.index("    # Classification") :])

# %% [markdown]
# Now on a real image: a toy image of 128 × 128, the tiny detector's anchors (stride 8, so a
# 16 × 16 map and 9 anchors per cell), the anchor targets of lesson 04, and the head's
# outputs of an untrained detector, in float64 for the gradient check below.

# %%
cfg = Config.tiny()
sample = ToyShapes("train")[7]
detector = Detector(cfg, num_classes=4, seed=0, dtype=np.float64)
features, _ = detector.features(sample.image[None])  # [(1, C, H, W)], float64
rpn_out, _ = detector.rpn.forward(features)
(scores,), (deltas,), (anchors,) = rpn_out  # one map: (1, 2A, H, W), (1, 4A, H, W), (H*W*A, 4)
_, _, feat_h, feat_w = scores.shape
(targets,) = detector.rpn.anchor_targets(
    rpn_out, [sample.boxes], sample.image.shape[:2], np.random.default_rng(0)
)
n_cls = int(np.count_nonzero(targets.labels != IGNORE))
n_pos = int(np.count_nonzero(targets.labels == POSITIVE))
print(f"{len(sample.boxes)} objects")
print(f"map {feat_h}x{feat_w} = {feat_h * feat_w} locations, {len(anchors)} anchors")
print(f"minibatch: N_cls = {n_cls} sampled anchors, {n_pos} of them positive")

# %% [markdown]
# The tiny configuration samples 128 anchors per image (the paper: 256). This image has
# two objects, so only a handful of anchors are positive and negatives fill the rest of
# the minibatch (F13).
#
# ## Two normalisations on the same targets
#
# Same scores, deltas and targets; only `rpn_loss_normalization` changes.

# %%
cfg_paper = Config.tiny(rpn_loss_normalization="anchor_locations")  # λ = 10, N_reg = H*W
cfg_code = Config.tiny(rpn_loss_normalization="minibatch")  # λ = 1, N_reg = N_cls
paper = rpn_loss(scores, deltas, targets, cfg_paper)
code = rpn_loss(scores, deltas, targets, cfg_code)
print(f"{'':18} {'L_cls term':>10} {'L_reg term':>10}")
print(f"{'anchor_locations':18} {paper.loss_cls:10.4f} {paper.loss_reg:10.4f}")
print(f"{'minibatch':18} {code.loss_cls:10.4f} {code.loss_reg:10.4f}")
ratio = paper.loss_reg / code.loss_reg
expected = cfg_paper.rpn_lambda * n_cls / (feat_h * feat_w)
print(f"ratio of the regression terms: {ratio:.4f}; λ N_cls / (H W) = {expected:.4f}")
assert paper.loss_cls == code.loss_cls
assert np.isclose(ratio, expected, rtol=1e-12)
assert np.isclose(paper.loss_cls, np.log(2), atol=0.02)  # untrained: p = 0.5 (lesson 06)

# %% [markdown]
# Reading the table:
#
# * **The classification terms are equal**, about $\ln 2 = 0.693$: an untrained head
#   (lesson 06) scores every anchor near 50% object. Both normalisations divide it by
#   $N_{cls}$.
# * **The regression term is small** in both: only a few of the 128 anchors are positive,
#   and an untrained head predicts deltas near 0, so each positive costs about the smooth
#   L1 of its own targets.
# * **The regression terms differ by exactly** $\lambda N_{cls} / (H W)$: the same sum of
#   smooth L1s is multiplied by $\lambda / N_{reg} = 10 / 256$ in one case and by
#   $1 / N_{cls} = 1/128$ in the other, a ratio of $10 \cdot 128 / 256 = 5$.
# * **At the paper's scale the two nearly agree.** There $N_{cls} = 256$ and $H W$ is about
#   2,400 (exercise 3 computes the ratio): λ = 10 is what makes "divide by the anchor
#   locations" weigh the regression term about like "divide by the minibatch" (the paper's
#   "both terms roughly equally weighted"). On the tiny detector's small map they differ
#   fivefold.
#
# ## Does the choice matter in training? λ and the normalisation on the toy data
#
# The paper trains with λ from 0.1 to 100 (its Table 9) and finds the result insensitive
# over a wide range; it also says its normalisation "is not required and could be
# simplified", which is what the released code did. `benchmarks/paper_claims.py` trained
# the tiny detector with each setting, two seeds per row (`docs/paper_claims.md`):

# %%
lambda_rows = {row["row"]: row for row in claim_rows("lambda")}
normalisation_rows = claim_rows("normalisation")
print(claims_table(list(lambda_rows.values())))
print()
print(claims_table(normalisation_rows))
best = lambda_rows["lambda = 10 (default)"]
print("\nCOCO mAP against λ = 10 (± twice the spread is noise, lesson 03):")
lambda_losses = {
    name: difference(row, best) for name, row in lambda_rows.items() if row is not best
}
for name, diff in lambda_losses.items():
    print(f"  {name:14} {diff}")
released, paper_row = normalisation_rows[1], normalisation_rows[0]
print(f"  released code  {difference(released, paper_row)}")
print(f"released code against λ = 1: {difference(released, lambda_rows['lambda = 1'])}")
assert all(diff.value < 0 and diff.beyond_noise for diff in lambda_losses.values())
assert difference(released, paper_row).beyond_noise and difference(released, paper_row).value < 0
assert not difference(released, lambda_rows["lambda = 1"]).beyond_noise

# %% [markdown]
# Reading them (COCO mAP asks for tight boxes, so it is where a weaker box loss shows):
#
# * **λ = 10 is the best**, as in the paper, but the tiny detector is *not* insensitive to
#   it: every other λ loses COCO mAP beyond the noise (printed). Part of the reason is the
#   ratio computed above: on the toy 16 × 16 map $N_{reg}$ is only 256 locations, so the
#   paper's normalisation weighs the box term five times more than the released code's,
#   where at the paper's scale the two nearly agree (exercise 3). The same λ means a much
#   heavier box loss on the toy map than on a VOC image.
# * **The released code's normalisation loses COCO mAP too**, beyond the noise. It weighs
#   the box term by $1 / N_{cls} = 1/128$ instead of $10 / 256$, five times less, close to
#   what λ = 1 does, and its result lands next to λ = 1's (within the noise, printed). At
#   the paper's scale the two weights nearly agree, which is why the paper could call its
#   normalisation unnecessary.
#
# The plots and the other experiments are in `docs/paper_claims.md`.
#
# ## A gradient check of the loss
#
# `rpn_loss` also returns $\partial L / \partial\,\text{scores}$ and
# $\partial L / \partial\,\text{deltas}$, which start the backward pass of the whole
# detector. We compare them with centred differences of $L = L_{cls} + L_{reg}$ on the
# 4 × 4 cells around an object (every cell has 9 anchors, so 288 score entries and 576
# delta entries): `numerical_gradient` perturbs a *view* of the arrays, so the loss sees
# every change.

# %%
cx, cy = sample.boxes[0].reshape(2, 2).mean(axis=0) / cfg.feat_stride  # centre, in cells
col, row = int(np.clip(cx - 2, 0, feat_w - 4)), int(np.clip(cy - 2, 0, feat_h - 4))
window = (0, slice(None), slice(row, row + 4), slice(col, col + 4))


def total_loss():
    result = rpn_loss(scores, deltas, targets, cfg_paper)
    return result.loss_cls + result.loss_reg


numeric_scores = numerical_gradient(total_loss, scores[window])
numeric_deltas = numerical_gradient(total_loss, deltas[window])
error_scores = relative_error(paper.dscores[window], numeric_scores)
error_deltas = relative_error(paper.ddeltas[window], numeric_deltas)
positives_in_window = int(np.count_nonzero(np.abs(paper.ddeltas[window]).sum(axis=0)))
print(f"cells {row}..{row + 3} x {col}..{col + 3}: {positives_in_window} with a positive anchor")
print(f"d L / d scores: relative error {error_scores:.1e}")
print(f"d L / d deltas: relative error {error_deltas:.1e}")
forgot_scale = paper.ddeltas[window] * (feat_h * feat_w) / cfg.rpn_lambda  # a plausible bug
print(f"without the λ / N_reg factor: {relative_error(forgot_scale, numeric_deltas):.1e}")
assert positives_in_window > 0 and relative_error(forgot_scale, numeric_deltas) > 0.5
assert error_scores < 1e-6 and error_deltas < 1e-6

# %% [markdown]
# Both gradients agree with the finite differences to about 1e-9 or better (float64, as in
# lesson 01); forgetting to multiply the regression gradient by $\lambda / N_{reg}$ gives an
# error near 1. Most entries of the gradients are exactly 0: anchors outside the minibatch
# have no classification gradient, and only positive anchors have a regression gradient
# ($p_i^*$ in F11).
#
# ## The picture: an anchor, its ground truth and $t^*$
#
# Of this image's positive anchors we take the one with the *lowest* IoU, the one that
# needs the largest correction, and let `draw_regression` draw it with its ground truth
# and write out F10 with its numbers. The targets are the `bbox_targets` that `rpn_loss`
# just used; the red dotted box is `decode(anchor, t*)`, which lies exactly on the ground
# truth.

# %%
positives = np.flatnonzero(targets.labels == POSITIVE)
chosen = positives[np.argmin(targets.max_iou[positives])]
t_star = targets.bbox_targets[chosen]
matched = sample.boxes[targets.matched_gt[chosen]].astype(np.float64)
decoded = decode(anchors[chosen][None], t_star[None])[0]
assert np.allclose(decoded, matched, atol=1e-4)  # float32 ground truth, float64 maths
print(f"anchor {chosen}: IoU {targets.max_iou[chosen]:.2f} with its ground truth, t* = {t_star}")
assert targets.max_iou[chosen] < cfg.rpn_positive_overlap  # positive by rule (a) of F8
assert t_star[2] < 0 and t_star[3] < 0  # the box must shrink in both directions

fig, ax = plt.subplots(figsize=(7, 8))
draw_regression(
    sample.image, anchors[chosen], matched, t_star, decoded, iou=targets.max_iou[chosen], ax=ax
)
fig.tight_layout()
plt.show()

# %% [markdown]
# The yellow dashed anchor sits on its cell's centre with one of the 9 fixed shapes; the
# arrow from its centre to the ground truth's is $(t_x w_a, t_y h_a)$, and $t_w, t_h < 0$
# say the box must shrink. Its IoU is below 0.7, so it was made positive by rule (a) of F8
# (the best anchor for its object), not by the threshold: the lowest-IoU positive is
# always such a "best available" anchor.

# %% [markdown]
# ## Summary
#
# * F10 writes a box as $(t_x, t_y, t_w, t_h)$ relative to an anchor: shifts in anchor
#   widths, sizes as log ratios. `encode` and `decode` are inverses (round trip to 1e-13).
# * F12, smooth L1 with σ: quadratic for $|x| < 1/\sigma^2$, linear beyond, continuous in
#   value and slope at the switch; the RPN's σ = 3 switches at 1/9, so most box errors get
#   the full gradient ±1.
# * F11 adds the mean log loss over the $N_{cls}$ sampled anchors and λ times the smooth L1
#   of the positives over $N_{reg}$. The paper's $N_{reg}$ = anchor locations with λ = 10
#   and the released code's $N_{reg} = N_{cls}$ with λ = 1 differ by $\lambda N_{cls} /
#   (HW)$: 5 for the tiny detector, close to 1 at the paper's scale.
# * `rpn_loss`'s gradients agree with centred differences to about 1e-9.
#
# ## Exercises
#
# **1.** An anchor `[0, 0, 32, 32]` and a ground truth `[8, 0, 24, 64]`. Compute the
# targets $t^* = (t_x, t_y, t_w, t_h)$ by hand (natural log), then check with `encode`.

# %%
targets_by_hand = ...  # four numbers, e.g. (0.1, 0.2, 0.3, 0.4)

# %%
check("05.targets_by_hand", targets_by_hand)

# %% [markdown]
# **2.** A positive anchor's predicted $t_x$ is 0.5 away from its target. What does this
# coordinate add to $\sum L_{reg}$ with the RPN's σ = 3? And would the answer be larger or
# smaller with σ = 1? (Use F12 by hand; `smooth_l1` checks you.)

# %%
smooth_l1_at_half = ...  # a float

# %%
check("05.smooth_l1_at_half", smooth_l1_at_half)

# %% [markdown]
# **3.** In the paper's setting ($N_{cls} = 256$, a 60 × 40 map, λ = 10), how many times
# larger is the regression term with `"anchor_locations"` than with `"minibatch"`, for the
# same predictions and targets?

# %%
normalisation_ratio = ...  # a float

# %%
check("05.normalisation_ratio", normalisation_ratio)
