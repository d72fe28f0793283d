# %% [markdown]
# # Lesson 01 — Convolution arithmetic and backprop (F1, F2)
#
# **You will learn** to compute the size of every map of VGG-16 from the image size (F1) and to
# go back from a map to the input it covers (F2); and how we know the package's fast
# convolution and its backward pass are right.
#
# **Why it is needed.** Faster R-CNN puts its anchors on the cells of the last shared map
# (conv5_3 for VGG-16) and projects every region onto that map, so the number of cells and
# where they sit must be exact. Training then runs each convolution forward and backward
# thousands of times: it has to be fast, and its gradient has to be correct.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

from minirpn.blas import use_one_thread
from minirpn.exercises import check
from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.nn import conv, conv2d_backward, conv2d_forward, reference
from minirpn.receptive_field import input_size, output_size, vgg16_conv5_3
from minirpn.timing import best_time
from minirpn.visualize import charts

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## The formulas
#
# A convolution or pooling layer with kernel $K$, stride $S$ and padding $P$ turns an input
# $W$ cells wide into an output of
#
# $$W_{out} = \left\lfloor \frac{W - K + 2P}{S} \right\rfloor + 1 \qquad \text{(F1)}$$
#
# cells: the kernel's first position plus one more each time it can move $S$ cells further
# without leaving the padded input. Read backwards, an output of $W_{out}$ cells covers an input of
#
# $$W_{in} = (W_{out} - 1)\,S - 2P + K \qquad \text{(F2)}$$
#
# cells. F2 is an input *size*, so padding counts; the receptive field (lesson 02, F3) has the
# same shape without the $-2P$. Caffe's pooling layers, which VGG-16 was trained with, round
# the division in F1 **up** instead of down (`ceil_mode=True`).
#
# The package computes both in `minirpn.receptive_field`:

# %%
print(inspect.getsource(output_size))

# %% [markdown]
# A hand check: VGG-16's first layer is a 3×3 convolution with padding 1 and stride 1, so
# $(224 - 3 + 2)/1 + 1 = 224$: "same" padding keeps the size. Its first pooling is 2×2 with
# stride 2: $(224 - 2)/2 + 1 = 112$. On a 75-cell map the pooling gives
# $\lfloor 73/2 \rfloor + 1 = 37$ rounding down and $\lceil 73/2 \rceil + 1 = 38$ rounding up.

# %%
assert output_size(224, kernel=3, stride=1, padding=1) == 224
assert output_size(224, kernel=2, stride=2) == 112
assert output_size(75, 2, 2, ceil_mode=False) == 37
assert output_size(75, 2, 2, ceil_mode=True) == 38
assert input_size(112, kernel=2, stride=2) == 224  # F2 undoes F1 when nothing was rounded
print("F1 and F2 agree with the hand computations")

# %% [markdown]
# ## A convolution with stride 2
#
# VGG-16 halves its maps only by pooling; many later networks halve them with a strided
# convolution instead (ResNet's first layer is a 7×7 convolution with stride 2 and padding
# 3). F1 is the same. For a 3×3 convolution with stride 2 and padding 1:
#
# * on 7 columns, $\lfloor (7 - 3 + 2)/2 \rfloor + 1 = \lfloor 3 \rfloor + 1 = 4$;
# * on 8 columns, $\lfloor (8 - 3 + 2)/2 \rfloor + 1 = \lfloor 3.5 \rfloor + 1 = 4$ as
#   well: the floor drops the half step, the window that would start in the right padding.
#
# Window $j$ starts at input column $S j - P = 2j - 1$ (column −1 is padding) and reads
# $K = 3$ columns. We run the package's convolution with stride 2 on a row of ones and a
# kernel of ones: each output then counts the real (non-padding) columns its window reads.

# %%
for width in (7, 8):
    row_of_ones = np.ones((1, 1, 1, width))  # (N, C, H, W): one row of `width` columns
    out, _ = conv2d_forward(
        row_of_ones, np.ones((1, 1, 1, 3)), np.zeros(1), stride=(1, 2), padding=(0, 1)
    )
    windows = [(2 * j - 1, 2 * j + 2) for j in range(out.shape[3])]  # [start, end) on the input
    print(f"{width} columns -> {out.shape[3]} outputs {out.ravel()}; windows {windows}")
    assert out.shape[3] == output_size(width, kernel=3, stride=2, padding=1) == 4
    assert out.ravel().tolist() == ([2, 3, 3, 2] if width == 7 else [2, 3, 3, 3])
resnet = output_size(224, 7, 2, 3), output_size(1000, 7, 2, 3)
print(f"ResNet's 7x7 stride-2 convolution: 224 -> {resnet[0]}, 1000 -> {resnet[1]}")
assert resnet == (112, 500)

# %% [markdown]
# Both widths give 4 outputs, as F1 said. The first window, [−1, 2), reads one padding
# column and counts 2. On 7 columns the last window, [5, 8), reads padding too and counts
# 2; on 8 columns it reads the real column 7 and counts 3, and the right padding is never
# read. ResNet's 7×7 stride-2 layer halves 224 to 112 and 1000 to 500, as a pooling would.

# %% [markdown]
# ## Every map of VGG-16
#
# `vgg16_conv5_3()` lists VGG-16's 17 spatial layers up to conv5_3 as
# `(kernel, stride, padding)`: 13 convolutions `(3, 1, 1)` and 4 poolings `(2, 2, 0)`. We
# name them and chain F1 through them, for the 224×224 images VGG-16 was trained on and for
# the 600×1000 images Faster R-CNN sees.

# %%
layers = vgg16_conv5_3()
names, block, index = [], 1, 1
for spec in layers:
    if spec == (2, 2, 0):
        names.append(f"pool{block}")
        block, index = block + 1, 1
    else:
        names.append(f"conv{block}_{index}")
        index += 1


def map_sizes(height, width):
    """Sizes after each layer, the image's first; poolings round up, as in Caffe."""
    sizes = [(height, width)]
    for kernel, stride, padding in layers:
        ceil_mode = stride == 2
        height = output_size(height, kernel, stride, padding, ceil_mode)
        width = output_size(width, kernel, stride, padding, ceil_mode)
        sizes.append((height, width))
    return sizes


small, paper = map_sizes(224, 224), map_sizes(600, 1000)
print(f"{'layer':8} {'k s p':7} {'224x224':>9} {'600x1000':>10}")
for name, spec, (h1, w1), (h2, w2) in zip(
    ["image", *names], [None, *layers], small, paper, strict=True
):
    spec_text = "" if spec is None else " ".join(map(str, spec))
    print(f"{name:8} {spec_text:7} {f'{h1}x{w1}':>9} {f'{h2}x{w2}':>10}")

# %% [markdown]
# Only the four poolings change the size: each convolution's padding 1 exactly makes up for
# its 3×3 kernel. 224 is halved four times to **14**; VGG-16's fifth pooling (not used by
# Faster R-CNN) then gives the 7×7×512 input of its first fully connected layer. The
# 600×1000 image gives a **38×63** map: the paper's "about 60×40" cells. With 9 anchors per
# cell (lesson 03) that is 21,546 anchors.

# %%
assert small[-1] == (14, 14)
assert paper[-1] == (38, 63)
assert 38 * 63 * 9 == 21_546
print("conv5_3:", small[-1], "for 224x224,", paper[-1], "for 600x1000")

# %% [markdown]
# F2 walks back: which input do the 63 columns of conv5_3 cover? Apply F2 to each layer,
# from the last to the first, and compare at each pooling with the width the map really
# has (the table above):

# %%
width = paper[-1][1]
print(f"{'input of':8} {'F2 width':>9} {'real width':>11} {'overhang':>9}")
for name, (kernel, stride, padding), (_, real) in zip(
    reversed(names), reversed(layers), reversed(paper[:-1]), strict=True
):
    width = input_size(width, kernel, stride, padding)
    if stride == 2:  # a pooling: the width before it
        print(f"{name:8} {width:9} {real:11} {width - real:9}")
print("63 columns cover", width, "image columns; the image has 1000")
assert width == 1008
odd = [name for name, (h, w) in zip(names, paper[:-1], strict=True) if name[:4] == "pool" and w % 2]
assert odd == ["pool4"]  # the only pooling whose input width is odd: 125

# %% [markdown]
# 1008, not 1000. Only one pooling met an odd width: pool4, whose 125 columns became 63
# (rounding up), and 63 columns of a 2×2 pooling cover 126. That one extra column of
# conv4_3's map is a window hanging over the edge, read as padding. Walking back, each
# earlier pooling doubles it: 2 columns on the 250-wide map, 4 on the 500-wide, 8 on the
# image. Rounding down would have dropped the image's last 8 columns instead. Either way F2
# is exact only when F1 divided without a remainder.
#
# The sizes, layer by layer:

# %%
fig, ax = plt.subplots(figsize=(9, 4))
heights, widths = [h for h, _ in paper], [w for _, w in paper]
charts.map_sizes(ax, ["image", *names], heights, widths)
ax.set_title("VGG-16 on a 600x1000 image: map size after each layer (F1)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## A slow convolution to check the fast one
#
# The definition of a convolution is a loop: for every output cell, the dot product of the
# kernel with the window of the (zero-padded) input it sits on. `minirpn.nn.reference.conv2d`
# is exactly that, four nested loops (after checking its arguments):

# %%
print(inspect.getsource(reference.conv2d))

# %% [markdown]
# The package's `conv2d_forward` computes the same numbers differently. *im2col* copies
# every window into one row of a matrix: one row per output cell, kH·kW·C numbers in each,
# listed kernel row by kernel row, and within a row pixel by pixel with all channels of a
# pixel together. The filters, flattened in the same order, are a (F, kH·kW·C) matrix, and
# *one* matrix product, windows @ filters.T, gives every output at once (one row per output
# cell, one column per filter; a last pass turns it into NCHW order and adds the bias). The
# package's im2col is a Cython loop; its NumPy twin, equal to it bit for bit, reads better,
# and reading it is the point here:

# %%
print(inspect.getsource(reference.im2col))

# %% [markdown]
# Both on the same input: a batch of one 16-channel 32×32 map and 32 filters of 3×3, in
# float64.

# %%
rng = np.random.default_rng(0)
x = rng.standard_normal((1, 16, 32, 32))
w = rng.standard_normal((32, 16, 3, 3))
b = rng.standard_normal(32)


t_naive, slow = best_time(lambda: reference.conv2d(x, w, b, stride=1, padding=1), repeats=1)
t_fast, (fast, _) = best_time(lambda: conv2d_forward(x, w, b, stride=1, padding=1), repeats=20)
filters = w.transpose(0, 2, 3, 1).reshape(32, -1)  # (F, kH*kW*C) = (32, 144)
windows = conv._im2col(x, (3, 3), (1, 1), (1, 1))[0][0]  # (1024, 144)
t_gemm, _ = best_time(lambda: windows @ filters.T, repeats=20)

difference = np.abs(slow - fast).max()
print(f"largest difference: {difference:.1e}")
assert np.allclose(slow, fast, rtol=1e-12, atol=1e-12)
outputs = fast.size  # N F Ho Wo = 1 x 32 x 32 x 32
flops = 2 * outputs * 16 * 3 * 3  # 2 per multiply-add, C kH kW multiply-adds per output
print(f"{outputs:,} output cells, {flops / 1e6:.1f} million floating-point operations")
for label, t in [("naive loops", t_naive), ("im2col conv", t_fast), ("matmul alone", t_gemm)]:
    print(f"{label:13} {t * 1e3:8.2f} ms  {flops / t / 1e9:6.2f} GFLOP/s")
print(f"im2col is {t_naive / t_fast:.0f}x faster than the loops")

# %% [markdown]
# What these numbers say (yours differ with the machine and its load):
#
# * **largest difference**: around 1e-14. The two add the same 144 products in a different
#   order, so float64 rounding differs in the last digits; the assert allows 1e-12.
# * **naive loops**: 32,768 output cells (32 filters × 32 × 32, printed), each one
#   Python-level `np.sum` call of several microseconds. The 9.4 million floating-point
#   operations are a tiny part of that: the time goes to the interpreter, and the loops
#   reach a small fraction of a GFLOP/s.
# * **im2col conv**: hundreds of times faster (the last line). The same operations go
#   through one optimised matrix product (BLAS) instead of 32,768 small calls.
# * **matmul alone**: the same product on windows laid out in advance, what one core's
#   BLAS does. What the im2col conv adds to it is the cost of copying the windows into the
#   matrix (exercise 2 counts how large it gets for VGG-16).

# %%
fig, ax = plt.subplots(figsize=(8, 2.8))
charts.timing_bars(ax, ["naive loops", "im2col conv", "matmul alone"], [t_naive, t_fast, t_gemm])
ax.set_title("One convolution, 16 -> 32 channels, 32x32, 3x3 (float64)")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Checking the backward pass
#
# `conv2d_backward` returns $\partial L/\partial x$, $\partial L/\partial w$ and
# $\partial L/\partial b$ from $d_{out}$ and the `cache` that `conv2d_forward` returned
# with its output (the im2col windows and the weights). The caller keeps the cache and hands
# it back; the `Conv2d` layer works the same way (`out, cache = layer.forward(x)`, then
# `layer.backward(dout, cache)`, lesson 06). To check the gradients we take the scalar
# $f = \sum(\text{out} \cdot d_{out})$, whose gradient with respect to the output is
# $d_{out}$, and compare with centred differences, $\frac{f(a + h) - f(a - h)}{2h}$, entry
# by entry (`minirpn.gradcheck.numerical_gradient`). The measure is the relative error
# $\lVert g - \tilde g \rVert / (\lVert g \rVert + \lVert \tilde g \rVert)$.


# %%
def gradient_errors(dtype):
    """Relative errors of conv2d_backward against centred differences, in ``dtype``."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    out, cache = conv2d_forward(x, w, b, stride=2, padding=1)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx, dw, db = conv2d_backward(dout, cache)

    def f():
        return np.sum(conv2d_forward(x, w, b, stride=2, padding=1)[0] * dout)

    numeric = {name: numerical_gradient(f, a) for name, a in (("x", x), ("w", w), ("b", b))}
    errors = {"dx": (dx, numeric["x"]), "dw": (dw, numeric["w"]), "db": (db, numeric["b"])}
    return {name: relative_error(*pair) for name, pair in errors.items()}, db, numeric["b"], dout


errors64, db, numeric_db, dout = gradient_errors(np.float64)
errors32, *_ = gradient_errors(np.float32)
for name in errors64:
    print(f"{name}: float64 {errors64[name]:.1e}   float32 {errors32[name]:.1e}")
wrong_db = dout[0].sum(axis=(1, 2))  # a plausible bug: the first image's gradient only
print(f"a wrong db (first image only): {relative_error(wrong_db, numeric_db):.1e}")
assert max(errors64.values()) < 1e-6
assert 1e-3 < min(errors32.values()) and max(errors32.values()) < 1e-1  # rounding alone
assert 0.3 < relative_error(wrong_db, numeric_db) < 0.7  # "near 0.5"

# %% [markdown]
# What to expect:
#
# * **float64, about 1e-10 or smaller.** With $h = 10^{-5}$ the centred difference is off by
#   $O(h^2) \approx 10^{-10}$ plus rounding of order $\varepsilon / h \approx 10^{-11}$. The
#   tests demand less than 1e-6.
# * **float32, around 1e-2.** Its $\varepsilon \approx 10^{-7}$ makes the rounding term
#   $10^{-7}/10^{-5}$ alone about 1e-2: that says nothing about the code, which is why
#   gradient checks run in float64 while training runs in float32.
# * **a bug, 1e-2 or much more.** Forgetting to sum the bias gradient over the batch gives
#   an error near 0.5 here (the last line).
#
# ## Summary
#
# * F1, $\lfloor (W - K + 2P)/S \rfloor + 1$, gives every map size; Caffe's poolings round up,
#   which turns 75 into 38 and a 600×1000 image into a 38×63 conv5_3 map.
# * A stride-2 convolution follows the same F1: 3×3 with padding 1 turns 7 or 8 columns
#   into 4.
# * F2, $(W_{out} - 1)S - 2P + K$, goes back to the input a map covers; it is exact only when
#   F1 divided evenly (63 columns cover 1008, not 1000: pool4's odd 125, doubled three
#   times).
# * The fast convolution (im2col + one matrix product) equals the four-loop definition in
#   `minirpn.nn.reference` to rounding and is hundreds of times faster; copying the windows
#   costs memory.
# * A correct backward pass agrees with centred differences to about 1e-10 in float64.
#
# ## Exercises
#
# **1.** F1 loses information: several image widths give the same map. What is the
# *smallest* image width whose conv5_3 map is still 63 columns wide, as for 1000? Try
# widths with `map_sizes(600, width)` from above, or reason with F1 at each pooling.

# %%
smallest_width = ...  # an int

# %%
check("01.smallest_width", smallest_width)

# %% [markdown]
# **2.** How many numbers does im2col's window matrix hold for VGG-16's conv1_1 (3 input
# channels, 3×3 kernel, padding 1) on one 224×224 image? Compare with the image's
# 3 × 224 × 224 = 150,528 numbers; the memory cost of the fast convolution is the reason
# the tiny detector's batches are small.

# %%
im2col_entries = ...  # an int

# %%
check("01.im2col_entries", im2col_entries)

# %% [markdown]
# **3.** Write the bias gradient yourself. Each bias $b_f$ is added to every output cell of
# filter $f$ in every image, so what is $\partial L / \partial b_f$ given `dout` of shape
# (N, F, Ho, Wo)? Return an array of shape (F,); the check compares it with
# `conv2d_backward`.

# %%
bias_gradient = ...  # a function of dout, e.g. lambda dout: <one NumPy expression>

# %%
check("01.bias_gradient", bias_gradient)
