# %% [markdown]
# # Lesson 03 — Anchors and the RPN head (F7, F6)
#
# **You will learn** how the 9 anchors of one cell are built and why they equal the
# original implementation's table (F7), how many anchors a 600×1000 image gets, and how the
# RPN head's sliding window is a 3×3 convolution with two 1×1 siblings that runs on any size (F6).
#
# **Why it is needed.** The RPN does not predict boxes from nothing: at every cell it
# scores and corrects k = 9 fixed reference boxes, the *anchors*. Every label (lesson 04),
# every regression target (lesson 05) and every proposal (lesson 07) is relative to one
# of them, so they must be exactly where and as large as the original ones.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

from minirpn.anchor_target import inside_image
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.blas import use_one_thread
from minirpn.config import Config
from minirpn.exercises import check
from minirpn.image import read_image
from minirpn.model import Detector
from minirpn.paper_claims import claim_rows, claims_table, difference
from minirpn.receptive_field import vgg16_conv5_3
from minirpn.rpn_head import RPNHead
from minirpn.visualize.scenes import anchors_panel, feature_shape, paper_scale
from minirpn.visualize.show import photograph_path

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## The formula (F7)
#
# Start from a square of side $b$ (the *base size*, 16 = VGG-16's stride) and area
# $S = b^2$. For an aspect ratio $r = h / w$ keep the area and change the shape, rounding
# to whole pixels as the original code does:
#
# $$w = \operatorname{round}\!\left(\sqrt{S / r}\right), \qquad h = \operatorname{round}(w\,r),$$
#
# then multiply both by each scale $s$. With ratios $\{0.5, 1, 2\}$ and scales
# $\{8, 16, 32\}$ that is $k = 3 \times 3 = 9$ anchors, all centred on the centre of cell
# 0, at (8, 8) (lesson 02, F4). A map of $W \times H$ cells has $W \cdot H \cdot k$
# anchors: the same 9 boxes shifted by the stride to every cell (F7), which makes the RPN
# translation invariant: an object moved by 16 pixels meets the same anchors, moved too.

# %%
print(inspect.getsource(generate_base_anchors))

# %% [markdown]
# By hand for the first anchor, ratio 0.5 (a wide box), scale 8:
# $w = \operatorname{round}(\sqrt{256 / 0.5}) = \operatorname{round}(22.63) = 23$,
# $h = \operatorname{round}(23 \cdot 0.5) = \operatorname{round}(11.5) = 12$ (NumPy rounds
# halves to the even neighbour), times 8: **184 × 96**, centred on 8:
# $(8 - 92, 8 - 48, 8 + 92, 8 + 48) = (-84, -40, 100, 56)$.
#
# The original implementation's table (FORMULAS.md), written in our continuous corners:
# the original counts pixels inclusively (width $= x_2 - x_1 + 1$) and so writes each
# $x_2, y_2$ one smaller, e.g. `[-84, -40, 99, 55]`.

# %%
ORIGINAL_TABLE = np.array(
    [
        [-84, -40, 100, 56],
        [-176, -88, 192, 104],
        [-360, -184, 376, 200],
        [-56, -56, 72, 72],
        [-120, -120, 136, 136],
        [-248, -248, 264, 264],
        [-36, -80, 52, 96],
        [-80, -168, 96, 184],
        [-168, -344, 184, 360],
    ],
    dtype=np.float64,
)
base = generate_base_anchors(base_size=16, ratios=(0.5, 1.0, 2.0), scales=(8.0, 16.0, 32.0))
widths, heights = base[:, 2] - base[:, 0], base[:, 3] - base[:, 1]
for box, w, h in zip(base, widths, heights, strict=True):
    print(f"{str(box.astype(int).tolist()):24} {w:4.0f} x {h:3.0f}  area {w * h:7,.0f}")
assert np.array_equal(base, ORIGINAL_TABLE)
assert (base[0] == [8 - 92, 8 - 48, 8 + 92, 8 + 48]).all()  # the hand computation
print("the 9 base anchors equal the original table")

# %% [markdown]
# Rows come ratio-major: three wide boxes (184×96, 368×192, 736×384), three squares
# (128², 256², 512²), three tall ones. The areas are only *about* 128², 256², 512²: the
# rounding of 22.63 up to 23 makes the wide anchors 8% larger than the squares
# (exercise 3). A learned detector does not mind; a re-implementation that skips the
# rounding gets different anchors, hence different labels and different results.
#
# ## How many anchors: 600×1000
#
# The paper rescales images to a short side of 600 pixels, and a 600×1000 image gives a
# 38×63 conv5_3 map (lesson 01, F1 with Caffe's rounding up). `grid_anchors` shifts the
# base anchors to all its cells. Anchors crossing the image border are left out of
# training (F8 e, lesson 04): `inside_image` keeps those within $[0, 1000] \times [0, 600]$.

# %%
cfg = Config()  # the paper's settings: stride 16, the 9 anchors above, allowed border 0
feat_h, feat_w = feature_shape(vgg16_conv5_3(), 600, 1000, ceil_mode=True)
anchors = grid_anchors(base, feat_h, feat_w, stride=cfg.feat_stride)  # (h*w*9, 4)
inside = inside_image(anchors, (600, 1000), allowed_border=cfg.rpn_allowed_border)
print(f"map {feat_h}x{feat_w}: {len(anchors):,} anchors, {inside.sum():,} inside the image")
assert (feat_h, feat_w) == (38, 63)
assert len(anchors) == 38 * 63 * 9 == 21_546
assert inside.sum() == 8_151
per_shape = inside.reshape(-1, 9).sum(axis=0)  # (9,) inside count per anchor shape
for (w, h), n in zip(zip(widths, heights, strict=True), per_shape, strict=True):
    print(f"  {w:3.0f} x {h:3.0f}: {n:5,} of {feat_h * feat_w:,} cells")

# %% [markdown]
# * **21,546 anchors**, the paper's "about 20,000" for its roughly 1000×600 images;
# * **8,151 inside**, where the paper reports about 6,000 for its images (their sizes
#   vary; ours is exactly 600×1000). Training only ever sees these.
# * **per shape**: the 128×128 square survives at 1,650 of the 2,394 cells (69%: those
#   whose centre is at least 64 pixels from every border), a 736×384 anchor at 238 (10%),
#   and a 352×704 one, taller than the 600-pixel image, nowhere. Tall objects as large as
#   the image are still found: a smaller anchor learns to regress outwards.
#
# ## Anchors on a photograph
#
# `anchors_panel` draws the anchors of the centre cell and the centre of every cell. Left:
# the paper's setting on the photograph at 600 pixels. Right: our tiny detector
# (`Config.tiny()`: base size 8, scales 2, 4, 8, stride 8) on the same photograph at 128
# pixels, the size of the toy images it is trained on.

# %%
detector = Detector(Config.tiny(), num_classes=4, seed=0)
photo = read_image(photograph_path())  # Grace Hopper, 512x600, installed with matplotlib
big = paper_scale(photo)  # short side 600
small = paper_scale(photo, short_side=128, max_side=213)
fig, (left, right) = plt.subplots(1, 2, figsize=(14, 8.2), layout="constrained")
h, w = big.shape[:2]
anchors_panel(
    big,
    base,
    len(cfg.anchor_ratios),
    cfg.feat_stride,
    feature_shape(vgg16_conv5_3(), h, w, ceil_mode=True),
    f"the paper: VGG-16, stride {cfg.feat_stride}, image {w}×{h}",
    left,
)
h, w = small.shape[:2]
tiny = detector.cfg
anchors_panel(
    small,
    detector.rpn.base_anchors,
    len(tiny.anchor_ratios),
    tiny.feat_stride,
    feature_shape(detector.backbone, h, w),
    f"the tiny model: stride {tiny.feat_stride}, image {w}×{h}",
    right,
)
plt.show()

# %% [markdown]
# Colours are scales, line styles ratios; the white square is one cell, the dots are the
# cells' centres. On the left the largest anchors (512 and more) reach far outside the
# photograph, which is why they rarely survive the border rule; the smallest (128) is
# about a face. On the right the same design is shrunk 8-fold for 128-pixel toy images:
# 16, 32 and 64 pixels, the sizes of the toy shapes.
#
# ## The RPN head (F6)
#
# At every cell, a 3×3 window of the shared map (512 channels for VGG-16) is turned into a
# 512-d feature, and two sibling fully connected layers read it: *cls* gives $2k$ scores
# (object or not, per anchor), *reg* gives $4k$ box deltas. Sliding the same small network
# over every cell is exactly a convolution: the window is a 3×3 conv (+ ReLU), and a fully
# connected layer applied to every cell's vector is a 1×1 conv. `forward` returns the two
# outputs and the caches of its four layers, which its `backward` takes back:

# %%
print(inspect.getsource(RPNHead.forward))
vgg_head = RPNHead(512, 512, 9, rng=np.random.default_rng(0))
shapes = {name: p.shape for name, p in vgg_head.params.items()}
for name, shape in shapes.items():
    print(f"{name:18} {str(shape):20} {int(np.prod(shape)):>10,}")
output_weights = 512 * (2 + 4) * 9
sizes = {name: p.size for name, p in vgg_head.params.items()}
assert sizes["cls_score.weight"] + sizes["bbox_pred.weight"] == output_weights == 27_648
assert round(sizes["conv.weight"] / 1e6, 1) == 2.4
print(f"output layers: {output_weights:,} weights; 3x3 conv: {sizes['conv.weight']:,}")

# %% [markdown]
# These are the paper's numbers: its output layers have $512 \times (4 + 2) \times 9 =$
# **27,648** ≈ $2.8 \times 10^4$ parameters (MultiBox's have $6.1 \times 10^6$), and with
# the 3×3 layer, **2.4 million**. A head this small is one reason the RPN does not overfit
# small data sets.
#
# Now the claim "any input size works". The tiny detector's head (64 channels in, 64 in
# the window layer, 9 anchors) in float64 on two maps of different sizes:

# %%
rng = np.random.default_rng(0)
head = RPNHead(64, 64, 9, rng=rng, dtype=np.float64)
for size in [(16, 16), (12, 21)]:
    features = rng.standard_normal((1, 64, *size))  # (N, C, H, W)
    (scores, deltas), cache = head.forward(features)
    print(f"features {features.shape} -> scores {scores.shape}, deltas {deltas.shape}")
    assert scores.shape == (1, 2 * 9, *size) and deltas.shape == (1, 4 * 9, *size)
print(f"each call also returns its own cache: {type(cache).__name__}{cache._fields}")

# %% [markdown]
# The same weights give one output per cell, whatever the number of cells: 18 scores and
# 36 deltas at each of the 16·16 or 12·21 positions. The head keeps nothing of either call:
# each cache goes to the caller, so one head can run on several maps before any backward
# pass. Two checks that this *is* a sliding fully connected network:
#
# 1. At one cell, the cls output equals a fully connected layer — weight matrix (18, 64)
#    times the 64-d vector of the 3×3 layer at that cell, plus the bias.
# 2. A crop of the map gives, away from its edges, the same outputs as the full map at the
#    same cells: every position is computed by the same window, nothing depends on where
#    the cell is or how large the map is.

# %%
hidden, _ = head.conv.forward(features)
hidden, _ = head.relu.forward(hidden)  # (1, 64, 12, 21), the 64-d vectors
row, col = 5, 7
fc_weight = head.params["cls_score.weight"].reshape(18, 64)  # a 1x1 kernel is a matrix
by_hand = fc_weight @ hidden[0, :, row, col] + head.params["cls_score.bias"]
print(
    f"cell ({row}, {col}): 1x1 conv vs matrix product, largest difference "
    f"{np.abs(scores[0, :, row, col] - by_hand).max():.1e}"
)
assert np.allclose(scores[0, :, row, col], by_hand, rtol=1e-12, atol=1e-12)

crop = features[:, :, 2:10, 4:15]  # rows 2..9, columns 4..14 of the 12x21 map
(crop_scores, _), _ = head.forward(crop)  # (1, 18, 8, 11)
interior = crop_scores[:, :, 1:-1, 1:-1]  # the crop's border cells saw padding instead
print(
    f"crop vs full map (interior {interior.shape[2]}x{interior.shape[3]} cells): largest "
    f"difference {np.abs(interior - scores[:, :, 3:9, 5:14]).max():.1e}"
)
assert np.allclose(interior, scores[:, :, 3:9, 5:14], rtol=1e-12, atol=1e-12)

# %% [markdown]
# * **1x1 conv vs matrix product**: equal to rounding (about 1e-16): the cls layer *is*
#   a fully connected layer, applied at every cell.
# * **crop vs full map**: equal on the 6×9 interior. Only the crop's outermost ring
#   differs, because there the 3×3 window reads zero padding instead of the neighbours
#   the full map has (F3: a cell sees one neighbour each side).
#
# ## Do nine anchors matter? The paper's Table 8 on the toy data
#
# The paper trains its detector with fewer anchor shapes and reports the mAP on PASCAL VOC
# (its Table 8): one scale and one ratio lose 3–4 points, three scales with one ratio lose
# almost nothing. `benchmarks/paper_claims.py` ran the same experiment with the tiny
# detector on the toy data (its scales 16, 32 and 64 px stand for the paper's 128, 256 and
# 512), two seeds per row; here are its numbers, from `docs/paper_claims.md`:

# %%
print(claims_table(claim_rows("anchors")))

# %% [markdown]
# How to read it:
#
# * **mAP@0.5 hardly moves** (0.98–0.996): the toy objects are easy to find with any of
#   these anchors. The **COCO mAP**, which also asks for tight boxes (IoU up to 0.95),
#   separates the rows more.
# * **± is the spread**: half the difference between the two seeds. With two seeds, a
#   difference smaller than twice the larger spread could reverse with two other seeds:
#   it is noise. `minirpn.paper_claims.difference` applies that rule; here it is on the
#   comparisons the paper makes.

# %%
anchor_rows = {row["row"]: row for row in claim_rows("anchors")}
three_one, default = anchor_rows["3 scales x 1 ratio"], anchor_rows["3 scales x 3 ratios (default)"]
comparisons = {
    "3 vs 1 scale (16 px), 1 ratio, COCO mAP": difference(
        three_one, anchor_rows["1 scale (16 px) x 1 ratio"]
    ),
    "3 vs 1 scale (32 px), 1 ratio, COCO mAP": difference(
        three_one, anchor_rows["1 scale (32 px) x 1 ratio"]
    ),
    "3 vs 1 scale (32 px), 3 ratios, COCO mAP": difference(
        default, anchor_rows["1 scale (32 px) x 3 ratios"]
    ),
    "1 scale: 32 px vs 16 px, mAP@0.5": difference(
        anchor_rows["1 scale (32 px) x 1 ratio"], anchor_rows["1 scale (16 px) x 1 ratio"], "map50"
    ),
    "3 vs 1 ratio, 3 scales, COCO mAP": difference(default, three_one),
}
for name, diff in comparisons.items():
    print(f"{name:41} {diff}")
beyond = [diff.beyond_noise for diff in comparisons.values()]
assert beyond == [True, True, False, True, False]
assert all(diff.value > 0 for diff in list(comparisons.values())[:4])
widest = max(anchor_rows.values(), key=lambda row: row["map_spread"])
assert widest["row"] == "1 scale (32 px) x 3 ratios"

# %% [markdown]
# * **Three scales beat one**, beyond the noise, when both use one ratio: against 16-pixel
#   anchors and against 32-pixel ones, as the paper finds. With only 16 px anchors even
#   mAP@0.5 drops: they must be stretched a long way by the box regression (lesson 05) to
#   reach objects up to 72 px.
# * **With three ratios the gain over 32 px alone is within the noise**: that row's two
#   seeds disagree a lot (its ± is the table's largest), so two seeds cannot tell.
# * **Three ratios add nothing** on top of three scales, as in the paper (69.8 → 69.9): the
#   printed difference is within the noise. The box regression stretches a square anchor
#   onto a thin bar well enough by itself.
#
# The plot and the other experiments are in `docs/paper_claims.md`.
#
# ## Summary
#
# * F7: $w = \operatorname{round}(\sqrt{S / r})$, $h = \operatorname{round}(w r)$, times
#   each scale; 3 ratios × 3 scales give the 9 anchors of the original table, from 184×96
#   to 352×704, centred on cell 0's centre (8, 8).
# * A 600×1000 image: a 38×63 map, **21,546** anchors, **8,151** inside the image.
# * F6: the RPN head is a 3×3 conv + ReLU and two 1×1 convs (18 and 36 channels): a fully
#   connected network slid over the map, 27,648 output weights for VGG-16, and it runs on
#   any map size.
#
# ## Exercises
#
# **1.** The notes say the original code rescales images to about 800×600 (width ×
# height). How many anchors does VGG-16's RPN place on a 600-high, 800-wide image? Use F1
# with Caffe's rounding up (or `feature_shape(..., ceil_mode=True)` from above), then F7.

# %%
anchors_800x600 = ...  # an int

# %%
check("03.anchors_800x600", anchors_800x600)

# %% [markdown]
# **2.** ZF's RPN head has a 256-d window layer reading ZF's 256-channel conv5, and 9
# anchors. How many parameters (weights and biases) does the whole head have?

# %%
zf_head_params = ...  # an int

# %%
check("03.zf_head_params", zf_head_params)

# %% [markdown]
# **3.** By how much does rounding enlarge the widest anchors? Give the area of the
# largest wide anchor (ratio 0.5, scale 32) divided by the area of the largest square one
# (scale 32).

# %%
wide_to_square_area = ...  # a float

# %%
check("03.wide_to_square_area", wide_to_square_area)
