# %% [markdown]
# # Lesson 08 — RoI projection and RoI pooling (F18, F19)
#
# **You will learn** how a proposal in image pixels lands on the feature map (F18), how RoI
# pooling cuts it into a fixed 7 × 7 grid and max-pools each sub-window (F19), and where
# the gradient goes on the way back.
#
# **Why it is needed.** Proposals come in every size and shape, but the second stage's fully
# connected layers need a fixed-length input. R-CNN warped or cropped each region of the
# *image* to a fixed size, distorting it or losing part of it. Faster R-CNN (after SPPnet
# and Fast R-CNN) runs the backbone once per image and pools each region's part of the
# *feature map* into 7 × 7 cells, whatever its size and aspect ratio.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np

from minirpn import ops, pretrained
from minirpn.blas import use_one_thread
from minirpn.data import ToyShapes
from minirpn.exercises import check
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.ops.geometry import roi_pool_bins
from minirpn.receptive_field import project_roi, vgg16_conv5_3
from minirpn.roi_ops import RoIPool
from minirpn.visualize.scenes import draw_roi_pooling

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## F18: projecting an RoI onto the map
#
# Each cell of the last shared map sits `stride` pixels from its neighbour (16 for
# VGG-16's conv5_3, 8 for the tiny backbone). An RoI $(x_1, y_1, x_2, y_2)$ in image pixels
# therefore covers the map window $(x_1, y_1, x_2, y_2) \cdot s$, with the **spatial scale**
# $s = 1/\text{stride}$ — SPPnet's mapping of image windows to feature-map windows (F18).
# `project_roi` derives it from the network's layers (F4, lesson 02), and for these
# networks it is exactly a division by the stride:

# %%
box = np.array([100.0, 60.0, 420.0, 380.0])
on_vgg = project_roi(vgg16_conv5_3(), box)
print("VGG-16, image box", box, "-> conv5_3 window", on_vgg)
assert np.allclose(on_vgg, box / 16)

detector = pretrained("toy")  # the trained tiny detector of lesson 00
cfg = detector.cfg
on_tiny = project_roi(detector.backbone, box)
print("tiny backbone:   ", box, "->", on_tiny)
assert np.allclose(on_tiny, box / cfg.feat_stride)

# %% [markdown]
# 320 × 320 pixels become 20 × 20 cells of conv5_3 (× 1/16) and 40 × 40 cells of the tiny
# backbone's map (× 1/8). The corners fall between cell boundaries (6.25, 3.75, ...):
# the pooling layer must decide which cells they include.
#
# ## F19: the Caffe rules, and a pooling loop by hand
#
# The original RoI pooling layer (Caffe, Fast R-CNN) works on whole cells:
#
# 1. **Scale and round** each corner: $\text{round}(x_1 s)$ etc., with C's `round` (halves
#    away from zero: 2.5 → 3; Python's `round(2.5)` is 2!).
# 2. The rounded corners are **both inclusive**: the RoI spans
#    $w = \max(x_2 - x_1 + 1, 1)$ cells, and likewise $h$.
# 3. Bin $j$ of $P$ (7) columns spans columns $\lfloor j\,w/P \rfloor$ to
#    $\lceil (j + 1)\,w/P \rceil$ (end excluded), shifted by $x_1$ and clipped to the map.
#    $w/P$ is a fraction, so neighbouring bins may share a column, and a bin may hold a
#    single cell.
# 4. Each bin outputs the **maximum** of its cells, per channel, and remembers where it was
#    (the **argmax**, the cell's flat index row · W + column); an empty bin outputs 0 and
#    argmax −1.
#
# Here are those rules as a plain loop — deliberately slow, to compare with the package's
# Cython kernel. The RoI is a ground-truth box of a validation image; the map is the
# trained tiny backbone's.


# %%
def c_round(value):
    """C's round(): halves go away from zero."""
    return math.copysign(math.floor(abs(value) + 0.5), value)


def roi_pool_by_hand(features, roi, pooled_size, scale):
    """Max-pool one RoI (x1, y1, x2, y2) of features (C, H, W) into (C, P, P), Caffe's rules."""
    channels, height, width = features.shape
    x1, y1, x2, y2 = (int(c_round(c * scale)) for c in roi)  # rule 1
    roi_w, roi_h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)  # rule 2
    bin_w, bin_h = roi_w / pooled_size, roi_h / pooled_size
    out = np.zeros((channels, pooled_size, pooled_size), dtype=features.dtype)
    argmax = np.full(out.shape, -1)
    edges = {"rows": [], "cols": []}
    for i in range(pooled_size):  # rule 3
        top = min(max(math.floor(i * bin_h) + y1, 0), height)
        bottom = min(max(math.ceil((i + 1) * bin_h) + y1, 0), height)
        edges["rows"].append((top, bottom))
        for j in range(pooled_size):
            left = min(max(math.floor(j * bin_w) + x1, 0), width)
            right = min(max(math.ceil((j + 1) * bin_w) + x1, 0), width)
            if i == 0:
                edges["cols"].append((left, right))
            for c in range(channels):  # rule 4
                for row in range(top, bottom):
                    for col in range(left, right):
                        value = features[c, row, col]
                        if argmax[c, i, j] == -1 or value > out[c, i, j]:
                            out[c, i, j], argmax[c, i, j] = value, row * width + col
    return out, argmax, edges


sample = ToyShapes("val")[12]
(features,), _ = detector.features(sample.image[None])  # the one map, (1, C, H, W)
areas = (sample.boxes[:, 2] - sample.boxes[:, 0]) * (sample.boxes[:, 3] - sample.boxes[:, 1])
roi = sample.boxes[np.argmax(areas)].astype(np.float64)  # the largest object: a triangle
scale, size = 1 / cfg.feat_stride, cfg.roi_pool_size
slow, slow_argmax, edges = roi_pool_by_hand(features[0], roi, size, scale)
print(f"feature map {features.shape[1:]} (C, H, W); RoI {roi} px -> {roi * scale} cells")
print("row bins   :", edges["rows"])
print("column bins:", edges["cols"])

# %% [markdown]
# Reading the edges: the corners 1, 1, 9.75, 8.625 round to columns 1 to 10 and rows 1 to 9,
# both inclusive, so the RoI is 10 × 9 cells. A bin is then 10/7 ≈ 1.43 columns and
# 9/7 ≈ 1.29 rows; with floor and ceil each bin spans two or three cells and neighbouring
# bins share one (column bin 0 is [1, 3), bin 1 is [2, 4): both read column 2). For a
# 320-pixel RoI on VGG-16 the bins would be about 3 × 3 cells each; for an RoI smaller
# than 7 cells some cells are the maximum of several bins (exercise 2).
#
# The Cython kernel takes RoIs as rows `(batch index, x1, y1, x2, y2)`:

# %%
rois = np.concatenate([[0.0], roi])[None].astype(features.dtype)  # (1, 5)
fast, fast_argmax = ops.roi_pool(features, rois, size, scale)  # (1, C, 7, 7) each
print(f"pooled: {fast.shape}, largest difference {np.abs(fast[0] - slow).max()}")
assert np.array_equal(fast[0], slow)
assert np.array_equal(fast_argmax[0], slow_argmax)
bins = roi_pool_bins(roi[None], (size, size), scale, *features.shape[2:])
assert [tuple(e) for e in zip(bins[0][0], bins[1][0], strict=True)] == edges["rows"]
assert [tuple(e) for e in zip(bins[2][0], bins[3][0], strict=True)] == edges["cols"]
print("the loop and the kernel agree exactly: values, argmax and bin edges")

# %% [markdown]
# Equal, not merely close: a maximum picks one of the input numbers, so there is no
# rounding to differ. The argmax (which cell won each bin) agrees as well, and so do the
# bin edges with the package's `roi_pool_bins`. Whatever the RoI's size, the output is
# $C \times 7 \times 7$: the fixed length the fully connected layer fc6 needs.
#
# ## The picture
#
# The same figure as `minirpn show roi-pool`, in four panels. Top left, the RoI on the
# image with the grid of map cells, and the cells it was rounded to (rule 1–2). Top right,
# the channel that responds most inside the RoI, with the 7 × 7 bins' nominal edges and a
# dot on each bin's maximum, joined to its bin. Bottom left, the bins pulled apart: each
# tile holds the cells one bin reads (two or three a side, so neighbours repeat a cell),
# its maximum ringed. Bottom right, the pooled 7 × 7 values of that channel.

# %%
channel = int(np.argmax(fast[0].sum(axis=(1, 2))))  # the channel the figure shows
x1, y1, x2, y2 = (c_round(c * scale) for c in roi)  # the rounded corners (rule 1)
fig, axes = plt.subplots(2, 2, figsize=(15, 15), width_ratios=(1, 1.2), layout="constrained")
draw_roi_pooling(sample.image, roi, detector, axes)
plt.show()

# %% [markdown]
# Each pooled value is the brightest cell inside its bin: where the triangle's edges
# excite this channel, the pooled grid is bright in the same places. The dashed yellow box
# at the top right is the exact projection; the bins are whole cells, and reach past it.
# By how much, and which maxima came from outside it:

# %%
exact = roi * scale  # (4,) the exact projection, in cells
reach = np.array([x1, y1, x2 + 1, y2 + 1]) - exact  # the cells read, both corners inclusive
print("the bins reach past the exact RoI by (x1, y1, x2, y2):", reach, "cells")
rows_max, cols_max = np.divmod(fast_argmax[0, channel], features.shape[3])  # (7, 7) each
outside = (cols_max >= exact[2]) | (rows_max >= exact[3])  # wholly right of it or below it
outside |= (cols_max + 1 <= exact[0]) | (rows_max + 1 <= exact[1])  # or left of it or above
for i, j in np.argwhere(outside):
    cell_x = cols_max[i, j] * cfg.feat_stride
    print(
        f"bin ({i}, {j}): maximum at cell (row {rows_max[i, j]}, column {cols_max[i, j]}), "
        f"image x in [{cell_x}, {cell_x + cfg.feat_stride})"
    )
assert reach.max() > 1.0 and outside.sum() == 4
assert (rows_max[2, 6], cols_max[2, 6]) == (4, 10)

# %% [markdown]
# The right edge of the bins lies 1.25 cells past the exact RoI and the bottom edge 1.375
# (rule 1 rounded 9.75 up to column 10 and 8.625 to row 9, and both are read whole). Four
# of the 49 maxima come from cells wholly outside the exact RoI: bins (2, 6) and (3, 6)
# took cell (row 4, column 10), image pixels 80 to 88, right of the triangle's edge at
# x = 78. The pooled grid reports, as part of the object, features of what lies next to
# it. That rounding is why later work replaced RoI pooling by RoIAlign (lesson 11, F22).
#
# ## Backward: each bin's gradient goes to its maximum
#
# A bin's output is one of its input cells, so $\partial\,\text{out}_{ij} / \partial x$ is 1
# at the argmax cell and 0 elsewhere. The gradient of the features is therefore 0
# everywhere except at the argmax cells, which receive the gradient of their bin — or the
# **sum** over the bins they won, when neighbouring bins share a winning cell. A small case:
# one 6 × 6 channel, an RoI of 5 × 5 cells (spatial scale 1) pooled to 2 × 2, so the bins
# are rows/columns [0, 3) and [2, 5) and share row and column 2. We put the largest value
# at row 2, column 1: both left-hand bins pick it.

# %%
rng = np.random.default_rng(0)
x = rng.random((1, 1, 6, 6))  # float64, distinct values: no ties
x[0, 0, 2, 1] = 5.0  # in bins (0, 0) and (1, 0)
small_rois = np.array([[0.0, 0.0, 0.0, 4.0, 4.0]])
out, argmax = ops.roi_pool(x, small_rois, 2, 1.0)
dout = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
dx = ops.roi_pool_backward(dout, small_rois, argmax, x.shape)
print("argmax cells (row, col):", [divmod(int(a), 6) for a in argmax.ravel()])
print("d out =", dout.ravel().tolist())
print("d x =")
print(dx[0, 0])

expected = np.zeros(36)
np.add.at(expected, argmax.ravel(), dout.ravel())  # each bin's gradient onto its argmax
assert np.array_equal(dx.ravel(), expected)
assert set(np.flatnonzero(dx.ravel())) == set(argmax.ravel().tolist())
assert dx[0, 0, 2, 1] == 1.0 + 3.0  # the shared maximum collects both bins' gradients

numeric = numerical_gradient(lambda: np.sum(ops.roi_pool(x, small_rois, 2, 1.0)[0] * dout), x)
print(f"relative error against centred differences: {relative_error(dx, numeric):.1e}")
assert relative_error(dx, numeric) < 1e-9

# %% [markdown]
# Three cells got a gradient, not four: cell (2, 1) won bins (0, 0) and (1, 0) and
# received 1 + 3 = 4; the two right-hand bins sent 2 and 4 to their own maxima; the other
# 33 cells got exactly 0. Centred differences agree to about 1e-11: away from ties, max
# pooling is linear in its winning inputs, so the finite difference is exact up to
# rounding.
#
# The head wraps these two functions in a layer, its RoI layer `detector.roi_head.roi_op`:
# a `minirpn.roi_ops.RoIPool` (`minirpn.roi_ops.ROI_OPS` names the RoI layers a config can
# choose). Like every layer, its `forward` returns the output and a cache — the RoIs, the
# argmax and the map's shape — and its `backward` takes that cache back. The backward
# returns d features and d RoIs; the second only when asked for (`need_drois=True`), and
# RoI pooling has none to give: it rounds the corners to cells (`box_differentiable` is
# False; lesson 10 meets a layer that has one).

# %%
layer = RoIPool(output_size=2, spatial_scale=1.0)  # the small case above
layer_out, cache = layer.forward(x, small_rois)
layer_dx, drois = layer.backward(dout, cache)
print(f"{type(detector.roi_head.roi_op).__name__}'s cache: {cache._fields}")
print(f"box_differentiable: {layer.box_differentiable}, d RoIs: {drois}")
assert np.array_equal(layer_out, out) and np.array_equal(layer_dx, dx) and drois is None

# %% [markdown]
# ## Summary
#
# * F18: an image RoI lands on the map at its corners times the spatial scale 1/stride
#   (1/16 for VGG-16, 1/8 here), which `project_roi` derives from the layers.
# * F19: the corners are rounded to whole cells (both inclusive), the RoI is cut into 7 × 7
#   bins with floor/ceil edges (neighbours may share a cell), and each bin outputs its
#   maximum: a fixed $C \times 7 \times 7$ for any RoI. Our loop and the Cython kernel agree
#   exactly, argmax included.
# * Backward: each bin's gradient goes to its argmax cell, summed where bins share one;
#   every other cell gets 0.
#
# ## Exercises
#
# **1.** VGG-16 (spatial scale 1/16) and an RoI from x = 100 to x = 300 pixels. How many
# conv5_3 columns does RoI pooling read (rules 1 and 2)?

# %%
roi_columns = ...  # an int

# %%
check("08.roi_columns", roi_columns)

# %% [markdown]
# **2.** An RoI that covers only 3 × 3 cells is pooled to 7 × 7. At most how many
# *different* cells can the 49 outputs of one channel come from? (What does pooling a small
# RoI to 7 × 7 do to it?)

# %%
distinct_cells = ...  # an int

# %%
check("08.distinct_cells", distinct_cells)

# %% [markdown]
# **3.** In the backward example, the loss is $\sum \text{out} \cdot d_{out}$ with
# $d_{out}$ all ones instead of 1, 2, 3, 4. What is the sum of all entries of
# $\partial L/\partial x$? Does it depend on which cells won?

# %%
gradient_total = ...  # a float

# %%
check("08.gradient_total", gradient_total)
