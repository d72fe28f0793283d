# %% [markdown]
# # Lesson 02 — Receptive fields and coordinate mapping (F3, F4)
#
# **You will learn** how many image pixels one cell of a feature map sees (F3) and where in
# the image that cell sits (F4), for VGG-16, ZF and our tiny backbone; and why the pixels a
# cell *really* depends on form a much smaller blob than the theory allows.
#
# **Why it is needed.** Faster R-CNN puts its anchors (lesson 03) on the cells of the last
# shared map. An anchor is only useful if it is centred on its cell's centre in the image
# (F4), and a cell can only judge a 512-pixel anchor if it sees enough of it (F3): the
# paper's RPN cell sees 228 pixels of VGG-16's input, 171 of ZF's.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

from minirpn import pretrained
from minirpn.backbone import preprocess
from minirpn.blas import use_one_thread
from minirpn.config import Config
from minirpn.data import ToyShapes
from minirpn.exercises import check
from minirpn.image import read_image
from minirpn.model import Detector
from minirpn.receptive_field import (
    _compose,
    effective_receptive_field,
    layer_specs,
    map_point,
    receptive_field,
    vgg16_conv5_3,
    zf_conv5,
)
from minirpn.visualize import stages
from minirpn.visualize.scenes import feature_shape, growth, paper_scale
from minirpn.visualize.show import photograph_path

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## The formula (F3)
#
# Take one cell of the last map: a window of $r = 1$ cell. Going back through a convolution
# or pooling layer with kernel $k$ and stride $s$, $r$ neighbouring output cells read
#
# $$r_{prev} = (r - 1)\,s + k \qquad \text{(F3)}$$
#
# input cells: the first window, plus $s$ more for each further cell. A ReLU (or any
# neuron layer) reads one cell per cell and changes nothing. Apply F3 from the last layer
# back to the image and $r$ is the receptive field in pixels. Unlike F2 of lesson 01 there
# is no $-2P$: a window hanging over the border still has $k$ taps, some of them on padding.
#
# The product of the strides on the way, the *effective stride*, is how far apart two
# neighbouring cells are in the image. `minirpn.receptive_field` does both in one loop
# (ignore the `shift` line until F4 below):

# %%
print(inspect.getsource(_compose))

# %% [markdown]
# `receptive_field(layers)` calls it and returns `size`, `stride` and `offset` (the centre
# of cell 0 in the image). The layers are `(kernel, stride, padding)` tuples or the
# network itself. The tiny backbone of our detector is a real `nn.Sequential`; we read its
# layers back as tuples, ReLUs becoming `(1, 1, 0)`:

# %%
detector = Detector(Config.tiny(), num_classes=4, seed=0)
print(layer_specs(detector.backbone))

# %% [markdown]
# By hand for the tiny backbone, from its last conv back to the image (the ReLUs do
# nothing): conv $1 \to 0 \cdot 1 + 3 = 3$; pool $(3 - 1) \cdot 2 + 2 = 6$; conv $6 + 2 = 8$;
# pool $7 \cdot 2 + 2 = 16$; conv $18$; pool $17 \cdot 2 + 2 = 36$; conv $38$. Its stride is
# $2 \cdot 2 \cdot 2 = 8$. The package must agree, and must give the paper's numbers:

# %%
RPN_CONV = (3, 1, 1)  # the RPN's 3x3 sliding window (F6), one more layer on top
fields = {
    "VGG-16 conv5_3": receptive_field(vgg16_conv5_3()),
    "VGG-16 conv5_3 + RPN 3x3": receptive_field(vgg16_conv5_3() + [RPN_CONV]),
    "ZF conv5": receptive_field(zf_conv5()),
    "ZF conv5 + RPN 3x3": receptive_field(zf_conv5() + [RPN_CONV]),
    "tiny backbone": receptive_field(detector.backbone),
}
print(f"{'last map':26} {'size':>5} {'stride':>7} {'cell 0 centre':>14}")
for name, rf in fields.items():
    print(f"{name:26} {rf.size:5} {rf.stride:7} {rf.offset:14g}")
assert fields["VGG-16 conv5_3"].size == 196
assert fields["VGG-16 conv5_3 + RPN 3x3"].size == 228  # the paper's figure for VGG-16
assert fields["ZF conv5"].size == 139
assert fields["ZF conv5 + RPN 3x3"].size == 171  # the paper's figure for ZF
assert fields["tiny backbone"].size == 38 and fields["tiny backbone"].stride == 8
print("the paper's 228 and 171, and our 38, reproduced")

# %% [markdown]
# Reading the table:
#
# * **size**: VGG-16's conv5_3 cell sees 196×196 pixels. The RPN's 3×3 conv sits at
#   stride 16, so its two extra taps add $2 \cdot 16 = 32$ pixels: **228**, the figure
#   the paper gives. ZF's 7×7 and 5×5 early kernels reach 139 in only 5 convolutions,
#   **171** with the RPN conv. Our tiny backbone sees **38** pixels: enough for the toy
#   shapes, which are at most 72 pixels (an anchor may be larger than the field; the
#   RPN then guesses the box from the part it sees).
# * **stride**: all three networks shrink by powers of two: 16, 16 and 8.
# * **cell 0 centre**: where, in continuous image coordinates (pixel $i$ covers
#   $[i, i+1)$), the field of cell 0 is centred. That is F4, next.
#
# ## A cell's field on a photograph
#
# We rescale matplotlib's sample photograph as the paper rescales its inputs (short side
# 600 pixels), find the size of VGG-16's conv5_3 map for it (F1, poolings rounding up as
# in Caffe) and draw the centre cell with both of its fields; on the right, how size and
# stride grow layer by layer for the three networks (`growth` applies `receptive_field` to
# the first 1, 2, 3, ... layers).

# %%
photo = paper_scale(read_image(photograph_path()))  # Grace Hopper, 512x600 -> 600x703
h, w = feature_shape(vgg16_conv5_3(), *photo.shape[:2], ceil_mode=True)
tiny_layers = [spec for spec in layer_specs(detector.backbone) if spec != (1, 1, 0)]
fig, (left, right) = plt.subplots(1, 2, figsize=(14, 7.2), layout="constrained")
stages.draw_receptive_field(
    photo,
    {
        "conv5_3": fields["VGG-16 conv5_3"],
        "conv5_3 + RPN 3×3 (the paper's 228)": fields["VGG-16 conv5_3 + RPN 3x3"],
    },
    (h // 2, w // 2),
    setting=f"VGG-16 on a {photo.shape[1]}×{photo.shape[0]} image ({w}×{h} map, w×h)",
    ax=left,
)
stages.draw_receptive_field_growth(
    {
        "VGG-16": growth(vgg16_conv5_3() + [RPN_CONV]),
        "ZF": growth(zf_conv5() + [RPN_CONV]),
        "tiny": growth(tiny_layers + [RPN_CONV]),
    },
    notes={"VGG-16": "196 at conv5_3", "ZF": "139 at conv5", "tiny": "38 at its end"},
    ax=right,
)
plt.show()

# %% [markdown]
# On the left the white square is the cell itself, 16×16 pixels: what the cell "stands
# for" on the image. The yellow square (196) and the blue one (228) are what it *sees*:
# a face-sized patch, more than a third of the image's width. On the right, sizes (solid)
# grow by $(k - 1) \times$ (the stride so far) at every layer, which is why the late
# layers, at stride 8 or 16, add the most; strides (dashed) only change at the poolings.
# The tiny line ends at 54: its 38 plus the RPN's 3×3 conv at stride 8, $2 \cdot 8 = 16$.

# %%
assert receptive_field(tiny_layers + [RPN_CONV]).size == 38 + 2 * 8 == 54

# %% [markdown]
# ## The formula (F4): where a cell sits
#
# Between two neighbouring maps the centre of an output cell $p_{out}$ (in cell-index
# units, centres at integers) lands at
#
# $$p_{in} = s\,p_{out} + \left(\frac{k - 1}{2} - P\right) \qquad \text{(F4)}$$
#
# on the input: the window starts at $s\,p_{out} - P$ and its middle tap is $(k-1)/2$ further.
# A neuron layer gives $p_{in} = p_{out}$. Each step is affine, so any chain of them is
# affine too: composing them maps any map to any other, e.g. map 3 → map 2 → image. That is
# the `shift` line of `_compose` above. `map_point(layers, x, src, dst)` applies it in
# continuous coordinates (cell $i$ covers $[i, i+1)$, its centre is $i + 0.5$), in either
# direction.
#
# A check by hand on the tiny backbone. Its maps are numbered by the layers before them:
# map 0 is the image, map 6 the output of the second pooling, map 11 the last. A 3×3 conv
# with padding 1 gives $(3-1)/2 - 1 = 0$: $p_{in} = p_{out}$. A 2×2 pooling gives
# $p_{in} = 2 p_{out} + 0.5$. Take cell 5 of the last map:
#
# * map 11 → map 6: one pooling (and convs): $2 \cdot 5 + 0.5 = 10.5$, so continuous
#   $11.0$ — exactly the border between cells 10 and 11 of map 6, because a 2×2 pooling's
#   window covers both of them;
# * map 6 → image: two poolings: $2 \cdot 10.5 + 0.5 = 21.5$, then $2 \cdot 21.5 + 0.5 =
#   43.5$, continuous $44.0$;
# * in one go: $8 \cdot 5 + 4 = 44$, the stride times the index plus cell 0's centre, 4.

# %%
backbone = detector.backbone
on_map6 = map_point(backbone, 5.5, src=11, dst=6)  # centre of cell 5 is at 5.5
on_image = map_point(backbone, on_map6, src=6, dst=0)
direct = map_point(backbone, 5.5, src=11, dst=0)
print(f"cell 5 of map 11 -> map 6 at {on_map6:g} -> image at {on_image:g}; directly {direct:g}")
assert on_map6 == 11.0 and on_image == 44.0 == direct == fields["tiny backbone"].center(5)
back = map_point(backbone, 44.0, src=0, dst=None)  # and back: image -> last map
print(f"image x = 44 maps back to {back:g} on the last map, the centre of cell 5")
assert back == 5.5

# %% [markdown]
# The same composition for VGG-16 puts cell $j$ at $16 j + 8$, so its cell 0 is centred
# at 8: exactly where the original code centres its base anchors (base size 16, centre
# $16 / 2$, lesson 03). ZF's cell 0 is centred at 0.5 — its odd kernels and paddings
# cancel differently — so the same anchors would sit 7.5 pixels off its cells' centres
# (exercise 2).

# %%
vgg = fields["VGG-16 conv5_3"]
print("VGG-16 cells 0, 1, 10 centred at", vgg.center([0, 1, 10]))
assert list(vgg.center([0, 1, 10])) == [8.0, 24.0, 168.0]
assert map_point(vgg16_conv5_3(), 10.5) == 168.0  # cell 10's centre, mapped to the image

# %% [markdown]
# ### Why $16 j + 8$ and not $16 j$?
#
# Cell $j$ of conv5_3 stands for a block of 16 × 16 pixels, so it is tempting to put it at
# $16 j$. But $16 j$ is where that block *starts*. In continuous coordinates cell $j$ covers
# $[j, j + 1)$ of its map, its centre is $j + 0.5$, and each 2×2 pooling doubles every
# continuous coordinate (its output cell $i$ covers input cells $2i$ and $2i + 1$, i.e.
# $[2i, 2i + 2)$); the convolutions, whose padding keeps the size, leave it alone. Follow
# cells 0 and 1 back through the four poolings with `map_point`:

# %%
vgg_layers = vgg16_conv5_3()
pool_inputs = [i for i, spec in enumerate(vgg_layers) if spec == (2, 2, 0)]  # maps before each
previous = [0.5, 1.5]  # cells 0 and 1 of conv5_3, continuous
print(f"{'map':18} {'cell 0 centre':>14} {'cell 1 centre':>14}")
print(f"{'conv5_3 (last)':18} {previous[0]:14g} {previous[1]:14g}")
for pool, map_index in zip(
    ("pool4", "pool3", "pool2", "pool1"), reversed(pool_inputs), strict=True
):
    centres = [map_point(vgg_layers, c, src=None, dst=map_index) for c in (0.5, 1.5)]
    print(f"{'input of ' + pool:18} {centres[0]:14g} {centres[1]:14g}")
    assert centres == [2 * c for c in previous]  # each pooling doubles the centre
    previous = centres
assert previous == [8.0, 24.0] == list(vgg.center([0, 1]))  # the image: 16 (j + 0.5)

# %% [markdown]
# Each pooling doubles the centre: 0.5 → 1 → 2 → 4 → 8 for cell 0, 1.5 → 3 → 6 → 12 → 24
# for cell 1. So cell $j$ is centred at $16 (j + \tfrac12) = 16 j + 8$: the middle of its
# 16-pixel block, half a cell past $16 j$. An anchor put at $16 j$ would sit 8 pixels up
# and left of what its cell sees. The tiny backbone works the same way at stride 8:
# $8 j + 4$, as computed above. This holds because every convolution of VGG-16 is "same"
# ($(k - 1)/2 = P$); ZF's are not, which is why its centres differ (exercise 2).

# %% [markdown]
# ## The effective receptive field
#
# F3 says which pixels *can* reach a cell. How much each one *does* is the gradient of the
# cell with respect to the pixel: `effective_receptive_field` puts a gradient of 1 on every
# channel of one cell and runs the network's own backward pass to the input (Luo et al.,
# 2016). Paths through the middle of the field are many (every layer can reach it through
# several taps), paths to the border are few, so the gradient piles up in the middle.
#
# We take the untrained tiny backbone (He initialisation, seed 0) on a 128×128 toy image,
# in float64, and measure: is every non-zero gradient inside the theoretical field, and
# how large is the square around the cell's centre that holds half of the gradient?

# %%
image = ToyShapes("val", num_images=3)[2].image  # (128, 128, 3) uint8
x = preprocess(image[None], np.float32)  # (1, 3, 128, 128), the network's input scale
erf = effective_receptive_field(backbone, x, index=(8, 8))  # (128, 128) |d out / d pixel|
rf = fields["tiny backbone"]
(x1, x2), (y1, y2) = rf.interval(8), rf.interval(8)  # the 38-pixel field of cell (8, 8)
print(f"theoretical field of cell (8, 8): x and y in [{x1:g}, {x2:g})")
outside = erf.copy()
outside[int(y1) : int(y2), int(x1) : int(x2)] = 0.0
print(f"gradient outside it: {outside.sum():g} (of {erf.sum():.3g} in total)")
assert outside.sum() == 0.0

center = float(rf.center(8))  # 68.0 in x and in y
side_half = stages.central_mass_side(erf, (center, center), fraction=0.5)
uniform_half = rf.size * np.sqrt(0.5)  # a flat field: half the area holds half the mass
print(f"half of the gradient lies within {side_half}x{side_half} px of the centre")
print(f"(a field weighing every pixel alike would need {uniform_half:.1f} px)")
assert side_half < uniform_half

# %% [markdown]
# * **theoretical field [49, 87)**: cell (8, 8) is centred at $8 \cdot 8 + 4 = 68$ in x
#   and y, and sees 19 pixels to each side.
# * **gradient outside: 0.** Exactly zero, not just small: F3 is a hard limit, nothing
#   outside that 38×38 square is connected to the cell at all.
# * **half within 22×22 px**: a third of the square's area carries half of the
#   influence; if every pixel counted alike, half would need 26.9×26.9. With only four
#   convolutions the effect is moderate; Luo et al. found that the effective field shrinks
#   relative to the theoretical one as networks get deeper, so for VGG-16's thirteen it is
#   a small blob in the middle of the 228 pixels. `central_mass_side` (from
#   `minirpn.visualize.stages`) grows a square around the centre until it holds the
#   fraction asked for; the exact side depends on the weights and on which ReLUs the image
#   switches on.
#
# The picture: the heat map is $|\partial out / \partial x|$ over the image (in grey), the
# dashed square the theoretical field.

# %%
fig, ax = plt.subplots(figsize=(6.5, 6.5), layout="constrained")
stages.draw_effective_receptive_field(
    image, erf, rf, (8, 8), label="untrained tiny backbone, cell (row 8, col 8)", ax=ax
)
plt.show()

# %% [markdown]
# The speckled square, brighter towards its middle, is the effective field of one image:
# which ReLUs that image switches on decides which paths the gradient may take, hence the
# speckles. A cell's "38 pixels" is an upper bound, and it looks hardest at its own 8×8
# cell and the pixels around it.
#
# ## The effective field of the trained network
#
# Does training change what a cell looks at? Luo et al. saw the effective field grow during
# training. We compare the untrained backbone with the trained one of the shipped detector
# (`pretrained("toy")`, lesson 00) on the same cell, each ERF normalised to a total of 1 and
# averaged over 16 validation images, so one image's speckles average out.

# %%
trained = pretrained("toy")
val = ToyShapes("val")
averaged = {}
for name, net in (("untrained", detector), ("trained", trained)):
    erfs = []
    for index in range(16):
        x_i = preprocess(val[index].image[None], net.dtype)
        erf_i = effective_receptive_field(net.backbone, x_i, index=(8, 8))  # (128, 128)
        erfs.append(erf_i / erf_i.sum())
    averaged[name] = np.mean(erfs, axis=0)
half_sides = {
    name: stages.central_mass_side(heat, (center, center), fraction=0.5)
    for name, heat in averaged.items()
}
for name, side in half_sides.items():
    print(f"{name:9}: half of the averaged gradient within {side}x{side} px of the centre")
print(f"a field weighing every pixel alike: {uniform_half:.1f} px")
print(f"(the trained backbone: {trained.cfg.max_iters:,} iterations of the main job, lesson 10)")
assert abs(half_sides["trained"] - half_sides["untrained"]) <= 2
assert max(half_sides.values()) < uniform_half

# %% [markdown]
# The two squares are the same size, give or take a pixel (asserted within 2). The picture
# shows both averaged fields, cropped to the 38-pixel square, and on the right the share of
# the gradient inside a centred square of growing side: the two curves lie on top of each
# other, well above a field that weighs every pixel alike.

# %%
lo, hi = int(x1), int(x2)  # the theoretical field of cell (8, 8): [49, 87) in x and in y
sides = np.arange(2, rf.size + 1, 2)  # squares centred on (68, 68)
share = {
    name: [
        heat[68 - side // 2 : 68 + side // 2, 68 - side // 2 : 68 + side // 2].sum()
        for side in sides
    ]
    for name, heat in averaged.items()
}
vmax = max(heat.max() for heat in averaged.values())
fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), layout="constrained")
for ax, (name, heat) in zip(axes[:2], averaged.items(), strict=False):
    shown = ax.imshow(
        heat[lo:hi, lo:hi], extent=(lo, hi, hi, lo), cmap="inferno", vmin=0, vmax=vmax
    )
    half = half_sides[name] / 2
    ax.add_patch(
        plt.Rectangle(
            (center - half, center - half), 2 * half, 2 * half, fill=False, ec="cyan", lw=2
        )
    )
    ax.plot([], [], color="cyan", lw=2, label=f"half of the gradient: {half_sides[name]} px")
    ax.plot([center], [center], "+", color="lime", ms=12, mew=2, label="the cell's centre (68, 68)")
    ax.set_title(f"{name} backbone, cell (8, 8), 16 images", fontsize=11)
    ax.set(xlabel="image x (px)", ylabel="image y (px)")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.32), fontsize=9, frameon=False)
fig.colorbar(shown, ax=axes[:2], shrink=0.8, label="share of the gradient per pixel")
right = axes[2]
for (name, values), style in zip(share.items(), ("-", "--"), strict=True):
    right.plot(sides, values, style, lw=2, label=name)
right.plot(sides, (sides / rf.size) ** 2, ":", color="0.4", lw=2, label="every pixel alike")
right.axhline(0.5, color="0.7", lw=1, label="half of the gradient")
right.set(xlabel="side of the centred square (px)", ylabel="share of the gradient inside")
right.set_title(f"gradient inside a centred square (the field: {rf.size} px)", fontsize=11)
right.legend(fontsize=9)
plt.show()

# %% [markdown]
# On the toy data, the shipped detector's training (its iterations printed) left the size
# of the effective field where the initialisation put it: the trained cell weighs its
# surroundings with the same fall-off, and both fields put half their weight in a square
# well inside the 38 pixels. Training changed the weights, hence what the cell's channels
# respond to, not how far the cell looks. For Faster R-CNN this means that a cell judging
# a 64-pixel anchor (the tiny model's largest) sees its middle well and its edges barely:
# it has to infer the extent of an object larger than what it really looks at.
#
# ## Summary
#
# * F3, $r_{prev} = (r - 1)s + k$, cascaded from one cell back to the image: VGG-16's
#   conv5_3 sees **196** pixels, **228** with the RPN's 3×3 conv; ZF **139** / **171**;
#   the tiny backbone **38**, at stride 8.
# * F4, $p_{in} = s\,p_{out} + ((k-1)/2 - P)$, composes into one affine map between any two
#   maps: tiny cell 5 → 11.0 on map 6 → 44.0 in the image; VGG-16 cell $j$ → $16j + 8$.
# * The effective receptive field, $|\partial out/\partial x|$, is exactly zero outside the
#   theoretical field and concentrated in its middle: half of it within 22×22 of the
#   38×38 pixels for the untrained tiny backbone.
#
# ## Exercises
#
# **1.** Suppose the RPN used a 5×5 sliding window on VGG-16's conv5_3 instead of 3×3
# (padding 2). What receptive field would its cells have? Reason with F3 first, then check
# with `receptive_field`.

# %%
field_5x5 = ...  # an int, in pixels

# %%
check("02.field_5x5", field_5x5)

# %% [markdown]
# **2.** Where, in continuous image x-coordinates, is the centre of cell (row 0, column 10)
# of ZF's conv5? The original code uses the same base anchors, centred at 8 + 16·column,
# for ZF and VGG-16; your answer tells how far off ZF's cells they are.

# %%
zf_center_col10 = ...  # a float

# %%
check("02.zf_center", zf_center_col10)

# %% [markdown]
# **3.** A ground-truth box is centred at image x = 61. Which column of the tiny backbone's
# last map is centred closest to it? Invert F4 (or use `map_point` towards the map).

# %%
nearest_column = ...  # an int

# %%
check("02.nearest_column", nearest_column)
