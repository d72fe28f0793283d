# %% [markdown]
# # Lesson 06 — Initialisation (F14)
#
# **You will learn** why the starting scale of the weights decides whether a signal survives
# a deep stack of layers, and why Faster R-CNN can give its new layers a tiny N(0, 0.01²)
# only because everything below them comes from a pre-trained network.
#
# **Why it is needed.** The paper (F14) initialises the new layers (the RPN and the final
# classifier and regressor) from a Gaussian with standard deviation 0.01, and every shared
# layer from a network trained on ImageNet. Our tiny detector has no pre-trained network.
# Could we just use 0.01 everywhere? Measure it.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

from minirpn.blas import use_one_thread
from minirpn.exercises import check
from minirpn.nn import Conv2d, ReLU, Sequential, init, softmax
from minirpn.rpn_head import RPNHead, flatten_scores
from minirpn.visualize import charts

one_thread = use_one_thread()  # NumPy's BLAS on one thread, as the minirpn command runs it

# %% [markdown]
# ## The formula
#
# One output of a convolution is a sum over its $n$ inputs (its *fan-in*: $n = C \cdot k_H
# \cdot k_W$, 576 for a 3×3 kernel over 64 channels), $y = \sum_{j=1}^{n} w_j x_j$. With
# weights drawn independently from $N(0, \sigma^2)$, its mean square is
#
# $$\mathbb{E}[y^2] = n\,\sigma^2\,\mathbb{E}[x^2].$$
#
# A ReLU keeps the positive half of a symmetric $y$, which halves the mean square. So each
# conv + ReLU multiplies the root mean square (RMS) of the signal by
#
# $$g = \sigma \sqrt{n / 2}.$$
#
# * **F14, the paper's new layers:** $\sigma = 0.01$, so with $n = 576$,
#   $g = 0.01 \sqrt{288} \approx 0.17$: the signal shrinks about 6× per layer.
# * **He initialisation** picks $\sigma = \sqrt{2/n}$, which makes $g = 1$ exactly.
#
# Both are in `minirpn.nn.init`; `Conv2d(..., init="gaussian")` uses the first (with
# `std=0.01` by default) and `init="he"` the second:

# %%
print(inspect.getsource(init.gaussian))
print(inspect.getsource(init.he_normal))

# %% [markdown]
# ## Thirteen layers, two initialisations
#
# VGG-16 has 13 convolutions before its RPN. We stack 13 conv 3×3 (64 → 64 channels,
# padding 1) + ReLU, feed a random 64-channel map of RMS 1, and record the RMS after each
# layer, once with N(0, 0.01²) and once with He.

# %%
DEPTH, CHANNELS = 13, 64
FAN_IN = CHANNELS * 3 * 3


def conv_stack(weight_init, seed=0):
    """DEPTH x (conv 3x3, 64 -> 64, padding 1, ReLU), float64."""
    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(DEPTH):
        layers += [
            Conv2d(CHANNELS, CHANNELS, 3, padding=1, init=weight_init, rng=rng, dtype=np.float64),
            ReLU(),
        ]
    return Sequential(*layers)


def rms(a):
    return float(np.sqrt(np.mean(a**2)))


x = np.random.default_rng(1).standard_normal((1, CHANNELS, 32, 32))
nets = {"N(0, 0.01²), the paper's new layers": conv_stack("gaussian"), "He": conv_stack("he")}
scales = {}
for label, net in nets.items():
    signal, values = x, [rms(x)]
    for layer in net.layers:
        signal, _ = layer.forward(signal)  # (output, cache): no backward here, drop the cache
        if isinstance(layer, ReLU):  # one value per conv + ReLU
            values.append(rms(signal))
    scales[label] = values

predicted = 0.01 * np.sqrt(FAN_IN / 2)
print(f"predicted g for N(0, 0.01²): {predicted:.3f}; for He: 1")
print("depth  N(0, 0.01²)      He")
for depth, (a, b) in enumerate(zip(*scales.values(), strict=True)):
    print(f"{depth:5d}  {a:11.2e}  {b:6.3f}")

# %% [markdown]
# Reading the table: with 0.01 the RMS falls by the predicted 0.17 at every layer, to about
# 1e-10 after 13 layers — the input has all but vanished. With He it stays of order 1: each
# layer's factor is within a few percent of 1, but at random (only 576 random weights per
# output), so after 13 layers the RMS has drifted by up to a few tens of percent. The check
# compares the measured factor per layer (the geometric mean over the 13 layers) with $g$:

# %%
measured = {label: (v[-1] / v[0]) ** (1 / DEPTH) for label, v in scales.items()}
gaussian_g, he_g = measured.values()
print(f"measured g: N(0, 0.01²) {gaussian_g:.3f} (predicted {predicted:.3f}), He {he_g:.3f}")
assert abs(gaussian_g / predicted - 1) < 0.05
assert abs(he_g - 1) < 0.05

# %% [markdown]
# ## The gradients vanish too
#
# Training needs the gradient of the loss with respect to each layer's weights. We send a
# gradient of RMS 1 back from the top (as a loss would) through each stack's own backward
# pass and read the RMS of every layer's weight gradient.
#
# A backward pass needs what its forward pass saw. Every layer's `forward` returns its
# output *and* a cache, the part of the forward that the backward needs: a convolution's
# im2col windows (lesson 01), a ReLU's mask of positive inputs. `Sequential.forward` returns
# the caches of all its layers in order: the *tape* of that call. We hold it and give it to
# `backward`, which walks it from the end; the layers themselves keep only their weights and
# gradients.

# %%
grad_scales = {}
for label, net in nets.items():
    net.zero_grad()
    out, tape = net.forward(x)  # tape: one cache per layer
    net.backward(np.random.default_rng(2).standard_normal(out.shape), tape)
    convs = [layer for layer in net.layers if isinstance(layer, Conv2d)]
    grad_scales[label] = [rms(conv.grads["weight"]) for conv in convs]
    print(
        f"{label:36} weight-gradient RMS, layers 1..13: "
        f"{min(grad_scales[label]):.1e} to {max(grad_scales[label]):.1e}"
    )
print(
    f"the tape of one forward: {len(tape)} caches; conv 1's im2col windows "
    f"{tape[0].cols.shape}, ReLU 1's mask {tape[1].shape}"
)
assert len(tape) == len(net.layers) == 2 * DEPTH

# %% [markdown]
# With 0.01 *every* layer's weight gradient is about a billionth of He's. The gradient of
# layer $l$'s weights is its input (shrunk by $g^{l-1}$ on the way up) times the gradient
# coming down (shrunk by about $g$ per layer above it, by the same argument run backwards),
# so every layer gets roughly $g^{13} \approx 10^{-10}$ of what He gives it. A learning rate
# that moves He's weights would leave these untouched for millions of steps: trained from
# scratch with 0.01, a deep network does not learn.

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
activations = dict(scales)
activations["predicted 0.17^depth"] = [predicted**d for d in range(DEPTH + 1)]
charts.activation_scale(axes[0], activations)
axes[0].set_title("Activations, forward")
charts.activation_scale(axes[1], grad_scales, ylabel="RMS weight gradient", first_depth=1)
axes[1].set_xlabel("layer")
axes[1].set_title("Weight gradients, backward")
fig.suptitle("13 conv 3x3 + ReLU layers, 64 channels: N(0, 0.01²) vs He")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Why the paper can use 0.01: a pre-trained network underneath
#
# In Faster R-CNN, the 13 shared layers are copied from VGG-16 trained on ImageNet (F14):
# trained weights pass a signal of useful size, and already detect edges, textures and
# parts. Only the new layers on top start from N(0, 0.01²), and they are at most two deep:
# the RPN's 3×3 conv and one of its 1×1 siblings (lesson 03). Two small factors make the
# first scores small but not zero — which is what we want: every anchor starts at
# "50% object", and the loss gradient is what moves it.
#
# `RPNHead` initialises its three convolutions exactly so. On a 512-channel map of RMS 1
# (VGG-16's conv5_3 width):

# %%
rng = np.random.default_rng(3)
head = RPNHead(512, 512, num_anchors=9, std=0.01, rng=rng)
features = rng.standard_normal((1, 512, 10, 10)).astype(np.float32)
(scores, deltas), _ = head.forward(features)
probabilities = softmax(flatten_scores(scores[0]))[:, 1]  # P(object) per anchor
print(f"scores RMS {rms(scores):.3f}, deltas RMS {rms(deltas):.3f}")
print(
    f"P(object) over {probabilities.size} anchors: mean {probabilities.mean():.3f}, "
    f"standard deviation {probabilities.std():.3f}"
)
assert abs(probabilities.mean() - 0.5) < 0.01 and probabilities.std() < 0.06

# %% [markdown]
# Scores of RMS about 0.1 are the product of two small factors, the 3×3 conv + ReLU's
# (exercise 2 computes it) and the 1×1 sibling's (exercise 3). They give probabilities
# centred on 0.5 with a spread of a few hundredths (printed; P(object) depends on the
# *difference* of the two scores, and changes by about a quarter of it near 0.5), and
# deltas near 0 mean "keep the anchor as it is". A gentle, unbiased start.
#
# The tiny detector has no pre-trained network, so it follows the same logic the other
# way round: the would-be pre-trained layers (the backbone in `minirpn/backbone.py`, and
# fc6, fc7 of the head) start from He, and only the paper's new layers from N(0, 0.01²).
# Without pre-training they also need more steps and a larger learning rate than the
# paper's 0.001 (lesson 10).
#
# ## Summary
#
# * A conv + ReLU multiplies the RMS of the signal by $g = \sigma\sqrt{n/2}$, $n$ the fan-in.
# * N(0, 0.01²) (F14) gives $g \approx 0.17$ at $n = 576$: 13 layers shrink activations and
#   weight gradients about $10^{10}$-fold, so a deep network trained from scratch with it
#   does not learn. He ($\sigma = \sqrt{2/n}$) gives $g = 1$.
# * The paper's 0.01 is safe because only the few new layers get it, on top of a
#   pre-trained VGG-16 whose signal is already well scaled; their first outputs are small,
#   so every anchor starts near 50% object.
#
# ## Exercises
#
# **1.** Which standard deviation keeps the RMS unchanged through a 3×3 conv reading
# 64 channels, followed by a ReLU? (Set $g = 1$ and solve for $\sigma$.)

# %%
he_std = ...  # a float

# %%
check("06.he_std", he_std)

# %% [markdown]
# **2.** VGG-16's conv5 layers read 512 channels with 3×3 kernels. If they were initialised
# from N(0, 0.01²) instead of being pre-trained, by what factor $g$ would each conv + ReLU
# multiply the RMS? (Compare with the 0.17 of the 64-channel stack: is wider better?)

# %%
shrink_512 = ...  # a float

# %%
check("06.shrink_512", shrink_512)

# %% [markdown]
# **3.** The RPN's cls sibling is a 1×1 convolution reading the 512 channels of the 3×3
# layer, with N(0, 0.01²) weights and **no ReLU after it**. By what factor does it multiply
# the RMS of its input? Multiply your answers to exercises 2 and 3 and compare with the
# scores' RMS printed above.

# %%
cls_layer_gain = ...  # a float

# %%
check("06.cls_layer_gain", cls_layer_gain)
