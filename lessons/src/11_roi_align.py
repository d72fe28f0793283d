# %% [markdown]
# # Lesson 11 — RoIAlign (F22)
#
# **You will learn** where RoI pooling (lesson 08, F19) rounds the RoI to whole cells, how
# RoIAlign (F22) avoids every rounding with bilinear samples, how its backward pass reaches
# both the feature map and the four box corners, and what that buys on the toy data.
#
# **Why it is needed.** A box that the second stage reads one cell off is a box it cannot
# place to the pixel. On the tiny detector a cell is 8 pixels, on VGG-16 16. RoIAlign (He et
# al., *Mask R-CNN*, 2017) removed the rounding. It is also the RoI layer that
# non-approximate joint training (lesson 10, F20) needs: its output moves smoothly with the
# box, so it has a gradient for the corners.

# %%
import inspect
import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from minirpn import ops, pretrained
from minirpn.blas import use_one_thread
from minirpn.config import Config
from minirpn.data import ToyShapes
from minirpn.exercises import check
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.ops import reference
from minirpn.ops.geometry import roi_pool_bins, round_half_away_from_zero
from minirpn.paper_claims import claim_rows, claims_table
from minirpn.roi_ops import ROI_OPS, RoIAlign, make_roi_op

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## The RoI of lesson 08
#
# The same scene as lesson 08: the shipped tiny detector (lesson 00), validation image 12,
# its largest object as the RoI, and the shared map of the trained backbone (stride 8, so
# the spatial scale of F18 is 1/8). We keep a float64 copy of the map for the exact checks.

# %%
detector = pretrained("toy")
cfg = detector.cfg
sample = ToyShapes("val")[12]
(features,), _ = detector.features(sample.image[None])  # (1, 64, 16, 16) float32
features64 = features.astype(np.float64)
areas = (sample.boxes[:, 2] - sample.boxes[:, 0]) * (sample.boxes[:, 3] - sample.boxes[:, 1])
roi = sample.boxes[np.argmax(areas)].astype(np.float64)  # (x1, y1, x2, y2) in pixels
rois = np.concatenate([[0.0], roi])[None]  # (1, 5): image 0
scale, bins = 1 / cfg.feat_stride, cfg.roi_pool_size
exact = roi * scale  # F18: the RoI on the map, in cells
print(f"RoI {roi} px -> {exact} cells on the {features.shape[3]}x{features.shape[2]} map")

# %% [markdown]
# ## RoI pooling rounds twice
#
# Lesson 08's Caffe rules, on this RoI:
#
# 1. **The corners** are rounded to cells and both kept: the RoI reads columns
#    $\text{round}(x_1 s)$ to $\text{round}(x_2 s)$ *inclusive*, likewise rows.
# 2. **The bins** are cut from those whole cells with floor and ceil, so each bin is a whole
#    number of cells too, and neighbours may share one.
#
# How far does each rounding move the edges? Rule 1 first, in cells and in pixels:

# %%
x1, y1, x2, y2 = (int(round_half_away_from_zero(c)) for c in exact)
read = np.array([x1, y1, x2 + 1, y2 + 1], dtype=np.float64)  # the cells read, as a box
shift = read - exact
print(f"exact RoI on the map   {exact}")
print(f"cells RoI pooling reads {read}  (x2, y2 + 1: both corners inclusive)")
for name, cells in zip(("x1", "y1", "x2", "y2"), shift, strict=True):
    print(f"  {name} moved by {cells:+.3f} cells = {cells / scale:+.0f} px")
assert np.array_equal(shift, [0.0, 0.0, 1.25, 1.375])

# %% [markdown]
# The left and top corners were whole cells already; the right edge moved 1.25 cells
# (10 px) and the bottom 1.375 cells (11 px) outwards: rounding 9.75 up to 10, then counting
# cell 10 whole. Rule 2 then cuts those 10 columns into 7 bins of 10/7 ≈ 1.43 cells, each
# widened to whole cells. The exact bins of the unrounded RoI are 8.75/7 = 1.25 cells wide:

# %%
h_start, h_end, w_start, w_end = (
    b[0] for b in roi_pool_bins(rois[:, 1:], (bins, bins), scale, 16, 16)
)
exact_edges = exact[0] + np.arange(bins + 1) * (exact[2] - exact[0]) / bins  # (8,) columns
drift = (w_start + w_end) / 2 - (exact_edges[:-1] + exact_edges[1:]) / 2  # (7,) centres
print("bin  exact columns    RoI pooling reads  centre moved by")
for j in range(bins):
    print(
        f"{j:3d}  [{exact_edges[j]:5.2f}, {exact_edges[j + 1]:5.2f})"
        f"  [{w_start[j]:2d}, {w_end[j]:2d})            {drift[j]:+.3f} cells"
    )
widest = int(np.argmax(drift))
print(f"the bins read {(w_end - w_start).min()} to {(w_end - w_start).max()} whole cells;")
print(f"the centre of bin {widest} moved most, {drift[widest]:.3f} cells")
assert set(w_end - w_start) == {2, 3} and (drift >= 0).all()
assert widest == 5 and drift[5] == 1.125 and (w_start[5], w_end[5]) == (8, 10)

# %% [markdown]
# Each bin of RoI pooling reads two or three whole cells where the exact bin is 1.25
# cells wide, and no bin's centre moves left: bin 5's moves 1.125 cells right. It is
# exactly columns [7.25, 8.5) but reads [8, 10): it misses three quarters of a cell of its
# own and reads one and a half cells of its neighbour's. The picture shows both roundings
# on the map, the exact RoI dashed.


# %%
def draw_cell_grid(ax, width, height):
    """Thin lines on the cell borders of a width x height map (cell i covers [i, i + 1))."""
    for x in range(width + 1):
        ax.axvline(x, color="0.75", lw=0.5, zorder=0)
    for y in range(height + 1):
        ax.axhline(y, color="0.75", lw=0.5, zorder=0)


channel = int(
    np.argmax(ops.roi_pool(features, rois.astype(np.float32), bins, scale)[0][0].sum((1, 2)))
)
fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.6), layout="constrained")
left.imshow(features[0, channel], cmap="magma", extent=(0, 16, 16, 0), interpolation="nearest")
draw_cell_grid(left, 16, 16)
left.add_patch(Rectangle(read[:2], *(read[2:] - read[:2]), fill=False, ec="tab:cyan", lw=2.5))
left.add_patch(
    Rectangle(exact[:2], *(exact[2:] - exact[:2]), fill=False, ec="yellow", lw=2, ls="--")
)
left.plot([], [], color="yellow", ls="--", lw=2, label="exact RoI × 1/8 (F18)")
left.plot([], [], color="tab:cyan", lw=2.5, label="cells RoI pooling reads (rounding 1)")
left.set(xlim=(0, 13), ylim=(12, 0), xlabel="map column", ylabel="map row")
left.set_title(f"rounding 1: the corners (channel {channel} of the trained map)")
left.legend(loc="lower right", fontsize=9, framealpha=0.9)

for j in range(bins):
    right.plot([w_start[j], w_end[j]], [j, j], color="tab:cyan", lw=9, solid_capstyle="butt")
    right.plot(exact_edges[j : j + 2], [j, j], color="black", lw=2.5, solid_capstyle="butt")
right.plot([], [], color="tab:cyan", lw=9, label="cells the bin reads (rounding 2)")
right.plot([], [], color="black", lw=2.5, label="the exact bin, 1.25 cells")
for edge in exact[[0, 2]]:
    right.axvline(edge, color="goldenrod", ls="--", lw=1.5)
right.plot([], [], color="goldenrod", ls="--", label="exact RoI edges (1, 9.75)")
right.set(xlim=(0, 12), ylim=(bins - 0.4, -0.6), xlabel="map column", ylabel="column bin j")
right.set_xticks(range(13))
right.grid(axis="x", color="0.85")
right.set_title("rounding 2: the 7 column bins")
right.legend(loc="upper right", fontsize=9, framealpha=0.9)
plt.show()

# %% [markdown]
# Left: the cyan cells reach past the dashed RoI on the right and at the bottom (rounding 1).
# Right: each cyan bar (a bin of RoI pooling) is two or three whole cells, where the exact
# bin (black) is 1.25 cells; neighbouring bars overlap, and the later ones slide off their
# exact bins (rounding 2). A box regressor that reads these cells cannot tell where inside
# them the object's edge lies.
#
# ## RoIAlign: samples instead of cells (F22)
#
# RoIAlign rounds nothing:
#
# 1. project the corners, $p = x \cdot s - 0.5$: the half cell moves the origin to cell
#    centres, so **cell $i$ is centred at $p = i$** (`aligned=True`);
# 2. cut the RoI into $7 \times 7$ bins of equal, fractional size, $b = (p_2 - p_1) / 7$;
# 3. in each bin take $r \times r$ evenly spaced samples ($r$ = `sampling_ratio`, 2 here):
#    sample $k$ of bin $i$ sits at $p_1 + i\,b + (k + \tfrac12)\,b / r$;
# 4. read each sample by **bilinear interpolation** from the four cells around it;
# 5. a bin's output is the mean of its $r^2$ samples.
#
# Bilinear interpolation at a point $(x, y)$ between cell centres: with
# $x_0 = \lfloor x \rfloor$, $l_x = x - x_0$ (likewise $y$),
#
# $$f(x, y) = (1 - l_y)(1 - l_x) F_{y_0, x_0} + (1 - l_y)\, l_x F_{y_0, x_0 + 1}
#   + l_y (1 - l_x) F_{y_0 + 1, x_0} + l_y\, l_x F_{y_0 + 1, x_0 + 1} \qquad \text{(F22)}$$
#
# Each cell weighs by how close the point is to it; the four weights add up to 1.
#
# ## One bin by hand
#
# Bin (row 3, column 3) of the channel drawn above. First the sample positions, from the
# projected corners:

# %%
ratio = cfg.roi_align_sampling_ratio
p1x, p1y, p2x, p2y = exact - 0.5  # step 1: cell centres at whole numbers
bin_w, bin_h = (p2x - p1x) / bins, (p2y - p1y) / bins  # step 2
row, col = 3, 3
xs = [p1x + col * bin_w + (k + 0.5) * bin_w / ratio for k in range(ratio)]  # step 3
ys = [p1y + row * bin_h + (k + 0.5) * bin_h / ratio for k in range(ratio)]
print(f"bins {bin_w:.4f} cells wide, {bin_h:.4f} high; {ratio} x {ratio} samples per bin")
print(f"bin ({row}, {col}): samples at x = {np.round(xs, 4)}, y = {np.round(ys, 4)}")

# %% [markdown]
# Then each of the four samples from its four cells (step 4) and their mean (step 5), in
# float64:

# %%
fmap = features64[0, channel]  # (16, 16)
values = []
for y in ys:
    for x in xs:
        x0, y0 = math.floor(x), math.floor(y)
        lx, ly = x - x0, y - y0
        weights = {
            (y0, x0): (1 - ly) * (1 - lx),
            (y0, x0 + 1): (1 - ly) * lx,
            (y0 + 1, x0): ly * (1 - lx),
            (y0 + 1, x0 + 1): ly * lx,
        }
        value = sum(w * fmap[cell] for cell, w in weights.items())
        values.append(value)
        cells = ", ".join(f"{cell}: {w:.3f}" for cell, w in weights.items())
        print(f"sample (x {x:.4f}, y {y:.4f}) = {value:.5f}  weights {cells}")
by_hand = float(np.mean(values))
kernel = ops.roi_align(features64, rois, bins, scale, ratio, aligned=True)  # (1, 64, 7, 7)
print(f"mean of the 4 samples {by_hand:.10f}; ops.roi_align {kernel[0, channel, row, col]:.10f}")
assert abs(by_hand - kernel[0, channel, row, col]) < 1e-12

# %% [markdown]
# The hand computation equals the Cython kernel to float64 rounding. Every sample reads a
# 2 × 2 block of cells, and the weights say where in the block it sits: a sample 0.06 cells
# right of a centre takes 94% of that cell. The sketch shows the bin, its samples and the
# cell centres they read.

# %%
fig, ax = plt.subplots(figsize=(7, 7), layout="constrained")
view = (math.floor(min(xs)) - 1, math.floor(min(ys)) - 1)  # top-left cell of a 4 x 4 view
ax.imshow(fmap, cmap="magma", extent=(-0.5, 15.5, 15.5, -0.5), interpolation="nearest")
for (cy, cx), v in np.ndenumerate(fmap):
    if view[0] <= cx < view[0] + 4 and view[1] <= cy < view[1] + 4:
        shade = "black" if v > 0.5 * fmap.max() else "white"  # readable on light cells
        ax.text(cx, cy + 0.3, f"{v:.2f}", ha="center", color=shade, fontsize=10)
centres = np.array([(cx, cy) for cy in range(16) for cx in range(16)], dtype=float)
ax.plot(*centres.T, ".", color="0.8", ms=6, label="cell centres (p whole)")
corner = (p1x + col * bin_w, p1y + row * bin_h)
ax.add_patch(Rectangle(corner, bin_w, bin_h, fill=False, ec="tab:cyan", lw=2.5))
ax.plot([], [], color="tab:cyan", lw=2.5, label=f"bin ({row}, {col}), exact")
grid_x, grid_y = np.meshgrid(xs, ys)
ax.plot(grid_x.ravel(), grid_y.ravel(), "x", color="lime", ms=11, mew=3, label="its 4 samples")
x, y = xs[0], ys[0]
for cy in (math.floor(y), math.floor(y) + 1):
    for cx in (math.floor(x), math.floor(x) + 1):
        ax.plot([x, cx], [y, cy], color="lime", lw=1)
ax.plot([], [], color="lime", lw=1, label="first sample's 4 cells (F22)")
ax.set(xlim=(view[0] - 0.5, view[0] + 3.5), ylim=(view[1] + 3.5, view[1] - 0.5))
ax.set_xticks(range(view[0], view[0] + 4))
ax.set_yticks(range(view[1], view[1] + 4))
ax.set(xlabel="map column (RoIAlign's p: cell centres at whole numbers)", ylabel="map row")
ax.set_title(f"RoIAlign, bin ({row}, {col}): mean of 4 bilinear samples = {by_hand:.3f}")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=9, frameon=False)
plt.show()

# %% [markdown]
# ## `ops.reference.roi_align` step by step
#
# The NumPy twin does the same for every bin at once. Rows and columns are independent: a
# sample's weight on cell (y, x) is its row weight times its column weight. So the twin
# builds, per axis, the weight of every cell for every sample, averages them per bin, and
# takes two matrix products per RoI. Its body, after the argument checks:

# %%
source = inspect.getsource(reference.roi_align)
print(source[source.index("    _, channels, height, width") :])

# %% [markdown]
# `roi_align_axis` is steps 1–4 along one axis: the sample positions (`position`), then
# for each the two cells around it (`low`, `high`) and their weights (`1 - frac`, `frac`),
# with samples off the map contributing nothing and samples at the border clamped to it:

# %%
source = inspect.getsource(reference.roi_align_axis)
print(source[source.index("    offset = ") : source.index("    slopes[r, s, high]")])

# %% [markdown]
# For our RoI along x: 7 bins × 2 samples = 14 samples, each a weight row over the 16
# columns of the map. Averaging the two samples of each bin gives one row per bin, a
# (7, 16) matrix `cols`; the rows give `rows` (7, 16). Then a whole channel is two matrix
# products, out = rows · F · colsᵀ:

# %%
x_axis = reference.roi_align_axis(rois[:, 1], rois[:, 3], bins, ratio, 16, scale, True)
y_axis = reference.roi_align_axis(rois[:, 2], rois[:, 4], bins, ratio, 16, scale, True)
print(f"per-sample weights along x: {x_axis.weights.shape} (RoIs, samples, columns)")
cols = x_axis.weights[0].reshape(bins, ratio, 16).mean(axis=1)  # (7, 16): bin means
rows = y_axis.weights[0].reshape(bins, ratio, 16).mean(axis=1)  # (7, 16)
print("cols, bins 0-3, columns 0-7:")
print(np.round(cols[:4, :8], 3))
print("each row adds up to", np.unique(cols.sum(axis=1).round(12)))
out_by_matrices = rows @ fmap @ cols.T  # (7, 7)
assert np.allclose(out_by_matrices, kernel[0, channel], rtol=0, atol=1e-12)
assert np.allclose(cols.sum(axis=1), 1.0)
print("rows @ F @ cols.T = ops.roi_align for the whole channel")

# %% [markdown]
# Bin 0's row puts 0.094, 0.688 and 0.219 on columns 0, 1, 2: its two samples, at 0.81 and
# 1.44, lie between those centres. Every row adds up to 1 (a weighted mean of cells), and
# only two or three columns are non-zero. The kernel in `kernels/roi_align.pyx` loops over
# the same samples in C. Both on the detector's 100 test proposals, in float32 and float64:

# %%
(proposals,) = detector.rpn.propose(
    detector.rpn.forward([features])[0], sample.image.shape[:2], train=False
)
all_rois = np.hstack([np.zeros((len(proposals.boxes), 1)), proposals.boxes])  # (100, 5)
for dtype in (np.float32, np.float64):
    f, r = features.astype(dtype), all_rois.astype(dtype)
    fast = ops.roi_align(f, r, bins, scale, ratio, True)
    twin = reference.roi_align(f, r, bins, scale, ratio, True)
    print(
        f"{np.dtype(dtype).name}: {fast.shape}, largest difference {np.abs(fast - twin).max():.1e}"
    )
    assert np.allclose(fast, twin, rtol=0, atol=1e-5 if dtype == np.float32 else 1e-12)

# %% [markdown]
# Equal up to the last bits (float32 about 1e-7 of values up to about 5, float64 about
# 1e-15): the two add the same products in a different order.
#
# ## The backward pass
#
# Two gradients, both from the same sample weights:
#
# * **features**: a sample with weight $w$ on a cell passes $w \cdot g / r^2$ of its bin's
#   gradient $g$ to that cell. In matrix form $dF = \text{rows}^T \, G \, \text{cols}$.
# * **box corners**: moving $x_1$ moves every sample (the near ones more, the far ones
#   less) and a sample's value changes at the slope of the bilinear ramp it sits on, the
#   difference of its two neighbouring cells. RoI pooling has no such gradient: moving a
#   corner by less than a rounding step changes nothing.
#
# We check both with centred differences (`numerical_gradient`, lesson 01) in float64, on
# $f = \sum \text{out} \cdot d_{out}$ for a random $d_{out}$. Expect a relative error of
# about 1e-10: the output is linear between grid lines, so the difference quotient is exact
# up to rounding, of order $\varepsilon / h \approx 10^{-11}$.

# %%
rng = np.random.default_rng(0)
dout = rng.standard_normal(kernel.shape)  # (1, 64, 7, 7)
dfeatures, drois = ops.roi_align_backward(dout, features64, rois, bins, scale, ratio, True)


def f():
    return np.sum(ops.roi_align(features64, rois, bins, scale, ratio, True) * dout)


numeric_features = numerical_gradient(f, features64)
numeric_corners = numerical_gradient(f, rois[:, 1:])  # perturbs a view: rois itself
error_features = relative_error(dfeatures, numeric_features)
error_corners = relative_error(drois[:, 1:], numeric_corners)
print(f"d features: relative error {error_features:.1e}")
for name, a, n in zip(("x1", "y1", "x2", "y2"), drois[0, 1:], numeric_corners[0], strict=True):
    print(f"d {name}: backward {a:+.6f}, centred difference {n:+.6f}")
print(f"d corners: relative error {error_corners:.1e}")
assert error_features < 1e-8 and error_corners < 1e-8

# %% [markdown]
# Both agree to about 1e-10, as expected. The corner gradients are per *pixel* of the
# image: $dp/dx = s = 1/8$ is part of them. One warning: where a sample sits exactly on a
# grid line, the slope jumps (the output has a kink there) and the centred difference
# straddles the jump; the package then takes the slope of the cell to the right
# (`roi_align_axis`'s docstring). Our RoI has no sample on a line.
#
# The difference the corner gradient makes, in one picture: slide $x_1$ from 0 to 16 pixels
# and watch the sum of the 49 outputs of our channel, for both layers (as the change from
# its value at the object's own $x_1 = 8$).

# %%
sweep = np.linspace(0.0, 16.0, 321)
pooled, aligned = [], []
for value in sweep:
    moved = rois.copy()
    moved[0, 1] = value
    pooled.append(ops.roi_pool(features64, moved, bins, scale)[0][0, channel].sum())
    aligned.append(ops.roi_align(features64, moved, bins, scale, ratio, True)[0, channel].sum())
at_8 = sweep == 8.0  # the RoI's own x1
pooled = np.array(pooled) - pooled[np.flatnonzero(at_8)[0]]  # change from x1 = 8
aligned = np.array(aligned) - aligned[np.flatnonzero(at_8)[0]]
for i in np.flatnonzero(np.diff(pooled)):
    print(
        f"RoI pooling jumps by {pooled[i + 1] - pooled[i]:+.3f} "
        f"between x1 = {sweep[i]:.2f} and {sweep[i + 1]:.2f}"
    )
largest_step = np.abs(np.diff(aligned)).max()
print(f"RoIAlign's largest change between neighbouring x1 (0.05 px apart): {largest_step:.4f}")
assert np.count_nonzero(np.diff(pooled)) == 2 and largest_step < 0.05

one_channel = np.zeros_like(kernel)
one_channel[0, channel] = 1.0  # d(sum of the channel's 49 outputs) / d out
slope = ops.roi_align_backward(one_channel, features64, rois, bins, scale, ratio, True)[1][0, 1]

fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
ax.plot(sweep, pooled, color="tab:cyan", lw=2.5, label="RoI pooling (F19): a staircase")
ax.plot(sweep, aligned, color="tab:orange", lw=2, label="RoIAlign (F22): continuous")
ax.plot(
    [4, 12],
    slope * np.array([-4, 4]),
    color="black",
    ls=":",
    lw=1.5,
    label=f"RoIAlign's backward at x1 = 8: slope {slope:.3f} per px",
)
ax.set(xlabel="x1 of the RoI (image pixels); the object's is 8", ylabel="change from x1 = 8")
ax.axhline(0, color="0.8", lw=0.8)
ax.set_title("Moving one corner: RoI pooling has no gradient to give, RoIAlign has one")
ax.legend(fontsize=9)
plt.show()

# %% [markdown]
# RoI pooling's output stands still while $x_1$ moves within a rounding step and then jumps
# (the two jumps printed): its derivative is 0 or undefined, so a loss cannot tell the box
# which way to move. RoIAlign's output changes a little for every move (the largest change
# over 0.05 px printed), and its backward pass gives the slope (the dotted tangent).
#
# ## The layer: `minirpn.roi_ops.RoIAlign` on the tape
#
# The head does not call `ops.roi_align` itself: its RoI layer comes from the registry
# `ROI_OPS`, by the name in `cfg.roi_op` (`"pool"` by default, `"align"` for this one;
# `minirpn train --roi-op align`). Like every layer, `forward` returns the output and a
# cache, and `backward` takes the cache back (lesson 06). RoIAlign's cache holds the RoIs and
# the feature map itself, since its backward interpolates from it; RoI pooling's held the
# argmax. With `need_drois=True` the backward also returns the corner gradients; RoI
# pooling refuses to give them (lesson 08).

# %%
print("registry:", {name: op.__name__ for name, op in ROI_OPS.items()})
align_cfg = Config.tiny(roi_op="align")
layer = make_roi_op(align_cfg)  # RoIAlign(7 bins, scale 1/8, 2 samples, aligned)
print(f"{type(layer).__name__}: box_differentiable {layer.box_differentiable}")
out, cache = layer.forward(features64, rois)
dfeatures_layer, drois_layer = layer.backward(dout, cache, need_drois=True)
print(
    f"forward {out.shape}; cache {cache._fields}; "
    f"backward {dfeatures_layer.shape}, {drois_layer.shape}"
)
assert isinstance(layer, RoIAlign) and layer.box_differentiable
assert np.array_equal(out, kernel)
assert np.array_equal(dfeatures_layer, dfeatures) and np.array_equal(drois_layer, drois)
print("the layer = ops.roi_align and ops.roi_align_backward")

# %% [markdown]
# The same numbers as the functions above. `drois` has one row per RoI,
# (0, dx1, dy1, dx2, dy2): no gradient for the batch index. Non-approximate joint training
# (lesson 10) sends those four numbers on into the RPN's box deltas.
#
# ## What it buys on the toy data
#
# `benchmarks/paper_claims.py` trained the tiny detector with each RoI layer, two seeds
# each, the same 2,500 iterations, and scored it on the 200 validation images; its rows, from
# `docs/paper_claims.json`:

# %%
rows = {row["row"]: row for row in claim_rows("schemes")}
pool, align = rows["approximate joint"], rows["approximate joint, RoIAlign"]
print(claims_table([pool, align], time=True))
gain, gain50 = align["map"] - pool["map"], align["map50"] - pool["map50"]
noise = 2 * max(pool["map_spread"], align["map_spread"])
print(
    f"COCO mAP: {pool['map']:.3f} -> {align['map']:.3f}, {gain:+.3f} "
    f"(twice the spread: {noise:.3f})"
)
print(f"mAP@0.5:  {pool['map50']:.3f} -> {align['map50']:.3f}, {gain50:+.3f}")
every_row = [
    r for name in ("anchors", "lambda", "normalisation", "schemes") for r in claim_rows(name)
]
best = max(every_row, key=lambda r: r["map"])
print(
    f"the highest COCO mAP of the report's {len(every_row)} rows: "
    f"{best['row']!r}, {best['map']:.3f}"
)
assert gain > 5 * noise and abs(gain50) < 0.01 and best["row"] == align["row"]

# %% [markdown]
# Reading the two rows (± is half the difference between the seeds, as in lesson 03):
#
# * **COCO mAP** rises by the printed gain, many times the seeds' spread, to the highest
#   of all the report's rows (printed). COCO's mAP averages over IoU thresholds from 0.5 to
#   0.95, so it rewards boxes placed to a few pixels.
# * **mAP@0.5 hardly moves**: both layers find nearly every toy object; what changes is how
#   tightly the box fits it.
# * **The time** is about the same ("x first" is the ratio to RoI pooling's).
#
# The head's box regressor reads RoIAlign's samples, which move with the box; reading RoI
# pooling's whole cells it cannot see an edge move by less than a cell, 8 pixels here.
#
# ## Summary
#
# * RoI pooling rounds twice: the corners to whole cells (here up to 1.375 cells, 11 px),
#   and each of the 7 × 7 bins to whole cells (bins of 2–3 cells for 1.25, drifting by up
#   to 1.125 cells).
# * RoIAlign (F22) rounds nothing: equal fractional bins, $r \times r$ samples per bin, each
#   read by bilinear interpolation from its four cells (weights $(1 - l_x)(1 - l_y)$, ...
#   adding up to 1), averaged. Per channel that is rows · F · colsᵀ.
# * Its backward gives $dF = \text{rows}^T G\,\text{cols}$ and the gradient of the four box
#   corners; both agree with centred differences to about 1e-10 in float64.
# * The layer is `roi_ops.RoIAlign` (`cfg.roi_op = "align"`); on the toy data it lifts the
#   COCO mAP far more than any other setting the report tried, at the same cost.
#
# ## Exercises
#
# **1.** A map whose every channel is a ramp, $F[y, x] = x$ (each cell holds its column
# number), and an RoI well inside it, pooled by RoIAlign to a single bin (`output_size=1`,
# `sampling_ratio=2`, aligned) with the tiny backbone's spatial scale 1/8. By how much does
# the output change per pixel that $x_1$ moves right? (Bilinear interpolation is exact on a
# ramp: where do the samples sit on average?) Check with `ops.roi_align_backward`.

# %%
ramp_gradient = ...  # a float: d out / d x1, per image pixel

# %%
check("11.ramp_gradient", ramp_gradient)

# %% [markdown]
# **2.** Early RoIAlign code (Mask R-CNN's first release, torchvision's `aligned=False`)
# left out step 1's half cell: $p = x \cdot s$ instead of $x \cdot s - 0.5$. For the tiny
# backbone (stride 8), how many image pixels away from where `aligned=True` samples does it
# read the map, with a sign: positive if to the right (and down)?

# %%
unaligned_shift = ...  # a float, in image pixels

# %%
check("11.unaligned_shift", unaligned_shift)

# %% [markdown]
# **3.** One RoI lies well inside the map, and every one of its 7 × 7 outputs of one channel
# gets the gradient 1 (all others 0). What is the sum of all entries of that channel's
# $\partial L/\partial F$ from RoIAlign? Compare with RoI pooling (lesson 08, exercise 3):
# where does the gradient go in each?

# %%
align_gradient_total = ...  # a float

# %%
check("11.align_gradient_total", align_gradient_total)
