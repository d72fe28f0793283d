"""Receptive fields and coordinate mapping between feature maps (F1-F4, F18).

A network is described, for this module, by its *spatial* layers: convolutions and
poolings, each with a kernel size ``k``, a stride ``s`` and a padding ``p``. Neuron layers
(ReLU, dropout, ...) change no coordinate and pass through. You may give either

* a list of ``(kernel, stride, padding)`` tuples (ints, or ``(h, w)`` pairs), or
* a ``minirpn.nn.Sequential`` (or a list) of layers: anything with ``kernel_size``,
  ``stride`` and ``padding`` attributes is spatial, ``ReLU``/``Dropout`` pass through,
  and ``Linear``/``Flatten`` are refused because they have no spatial map.

Coordinates. Map ``m`` is the output of the first ``m`` layers (map 0 is the image). On
every map, cell ``i`` covers the continuous interval ``[i, i + 1)``, so its centre is at
``i + 0.5`` — the same convention as the boxes everywhere in minirpn. All public
functions take and return continuous coordinates.

The formulas, one axis at a time (rows and columns are independent):

* F1  output size  ``out = floor((W - K + 2P) / S) + 1``
* F2  input size   ``in = (out - 1) * S - 2P + K`` (a *size*, padding counts), whereas
* F3  receptive field ``r_prev = (r - 1) * s + k`` (padding does not enlarge it),
  starting from ``r = 1`` on the last map and cascading back to the image;
* F4  centres, in cell-index units (cell centres at integers):
  ``p_in = s * p_out + ((k - 1) / 2 - padding)``; neuron layers: ``p_in = p_out``.
  Composed over several layers this stays affine: ``p_in = jump * p_out + shift``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import ceil, floor

import numpy as np

from minirpn.boxes import as_boxes

__all__ = [
    "ReceptiveField",
    "effective_receptive_field",
    "input_size",
    "layer_specs",
    "map_box",
    "map_point",
    "output_size",
    "project_roi",
    "receptive_field",
    "vgg16_conv5_3",
    "zf_conv5",
]

_AXES = {-1: 1, 1: 1, "x": 1, -2: 0, 0: 0, "y": 0}  # which half of an (h, w) pair


def output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, ceil_mode: bool = False
) -> int:
    """F1: number of output cells of a conv/pool along one axis.

    ``out = floor((size - kernel + 2 * padding) / stride) + 1``; with ``ceil_mode`` (Caffe's
    pooling) the division rounds up, but the last window must still start inside the
    input or its left padding, as in Caffe and PyTorch. VGG's 2x2 pooling of a 75-wide map
    gives 38 with ``ceil_mode`` and 37 without.
    """
    _check_positive_int("size", size)
    _check_layer(kernel, stride, padding)
    span = size + 2 * padding - kernel
    if span < 0:
        raise ValueError(
            f"kernel={kernel} is larger than the padded input (size={size}, padding={padding})"
        )
    out = (ceil if ceil_mode else floor)(span / stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1  # that window would start entirely in the right padding
    return out


def input_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """F2: the input size that gives ``size`` output cells, ``(size - 1) * S - 2P + K``.

    This is an input *size*, where padding counts. The receptive-field recursion (F3) has
    the same shape but no padding term: see :func:`receptive_field`.
    """
    _check_positive_int("size", size)
    _check_layer(kernel, stride, padding)
    return (size - 1) * stride - 2 * padding + kernel


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of the cells of the last map of a network, along one axis.

    Attributes:
        size: F3, how many image pixels one cell sees (padding included as if it were
            image: the window can hang over the border).
        stride: the effective stride ("jump"): how far apart, in image pixels, the centres
            of two neighbouring cells are; the product of the layers' strides.
        offset: continuous image coordinate of the centre of cell 0.
    """

    size: int
    stride: int
    offset: float

    def center(self, index):
        """Continuous image coordinate of the centre of cell ``index`` (F4); arrays work."""
        return self.offset + self.stride * np.asarray(index, dtype=np.float64)

    def interval(self, index):
        """``(start, end)`` of the image interval cell ``index`` sees (may leave the image)."""
        c = self.center(index)
        return c - self.size / 2, c + self.size / 2


def receptive_field(layers, axis=-1) -> ReceptiveField:
    """F3 and F4 for the last map of ``layers``: its size, effective stride and centres.

    Args:
        layers: spatial layers, see the module docstring.
        axis: ``-1`` or ``"x"`` for columns (the default), ``-2`` or ``"y"`` for rows;
            only matters when a layer has a non-square kernel, stride or padding.

    Example: VGG-16 up to conv5_3 has size 196, stride 16 and cell 0 centred at 8.0.
    """
    size, jump, shift = _compose(layer_specs(layers, axis))
    return ReceptiveField(size=size, stride=jump, offset=shift + 0.5)


def map_point(layers, x, src: int | None = None, dst: int = 0, axis=-1):
    """Map a continuous coordinate from map ``src`` to map ``dst`` (F4, composed).

    ``src`` defaults to the last map, ``dst`` to the image (map 0). Both directions work:
    towards the image applies ``p_in = s * p_out + ((k - 1) / 2 - padding)`` layer by
    layer; away from it inverts the same affine map, so the result can fall between
    cells. ``x`` may be a scalar or an array.
    """
    jump, shift = _affine(layers, src, dst, axis)
    return jump * (np.asarray(x, dtype=np.float64) - 0.5) + shift + 0.5


def map_box(layers, box, src: int | None = None, dst: int = 0):
    """Map a box ``(x1, y1, x2, y2)`` (or an ``(N, 4)`` array) between two maps (F4).

    x-coordinates go through the column mapping, y-coordinates through the row mapping.
    """
    single = np.ndim(box) == 1  # one (4,) box in, one out
    box = as_boxes(np.atleast_2d(np.asarray(box, dtype=np.float64)), "box")
    out = np.empty_like(box)
    out[..., 0::2] = map_point(layers, box[..., 0::2], src, dst, axis="x")
    out[..., 1::2] = map_point(layers, box[..., 1::2], src, dst, axis="y")
    return out[0] if single else out


def project_roi(layers, box):
    """F18: project an image RoI ``(x1, y1, x2, y2)`` onto the last feature map.

    This is :func:`map_box` from the image to the last map. For networks whose cell 0 is
    centred at ``stride / 2`` (VGG-16, and every stack of 'same'-padded convs and
    2x2 poolings) it is exactly ``box / stride``: the "spatial scale" 1/16 of the RoI
    pooling layer, as in SPPnet's mapping of image windows to feature-map windows.
    """
    return map_box(layers, box, src=0, dst=None)


def effective_receptive_field(net, x, index=None):
    """How strongly each input pixel influences one output cell: ``|d out / d x|``.

    Puts a gradient of 1 on every channel of one cell of the last map and runs the
    network's own hand-written backward pass to the input (Luo et al., 2016, "effective
    receptive field"). The result is typically a blob much smaller than the theoretical
    receptive field, brightest at the centre.

    Args:
        net: a layer with ``forward(x) -> (out, cache)`` and ``backward(dout, cache)`` (e.g.
            ``minirpn.nn.Sequential``); its gradients are left untouched.
        x: input of shape (1, C, H, W); ReLUs gate the gradient depending on it.
        index: ``(row, col)`` of the output cell; the centre cell by default.

    Returns:
        (H, W) float array: the absolute gradient summed over input channels.
    """
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must have shape (1, C, H, W), got {x.shape}")
    out, cache = net.forward(x)
    _, _, oh, ow = out.shape
    row, col = (oh // 2, ow // 2) if index is None else index
    if not (0 <= row < oh and 0 <= col < ow):
        raise ValueError(f"index={index} is outside the output map of size {(oh, ow)}")
    dout = np.zeros_like(out)
    dout[0, :, row, col] = 1.0
    saved = {name: grad.copy() for name, grad in net.grads.items()}
    dx = net.backward(dout, cache)
    for name, grad in net.grads.items():  # the backward added into them: put them back
        grad[...] = saved[name]
    return np.abs(dx[0]).sum(axis=0)


def vgg16_conv5_3() -> list[tuple[int, int, int]]:
    """VGG-16's layers up to conv5_3 as ``(kernel, stride, padding)``: 13 convs 3x3
    padding 1 in five blocks, with a 2x2 stride-2 max-pooling after each of the first
    four blocks (the fifth pooling is not part of Faster R-CNN's shared map)."""
    conv, pool = (3, 1, 1), (2, 2, 0)
    blocks = [2, 2, 3, 3, 3]
    layers: list[tuple[int, int, int]] = []
    for i, n in enumerate(blocks):
        layers += [conv] * n
        if i < len(blocks) - 1:
            layers.append(pool)
    return layers


def zf_conv5() -> list[tuple[int, int, int]]:
    """ZF-net's layers up to conv5 as ``(kernel, stride, padding)``, as in the original
    Faster R-CNN's ZF model: conv1 7x7 stride 2 padding 3, pool1 3x3 stride 2 padding 1,
    conv2 5x5 stride 2 padding 2, pool2 3x3 stride 2 padding 1, conv3-conv5 3x3 stride 1
    padding 1 (the LRN layers after conv1 and conv2 are neuron layers and pass through).

    Receptive field 139, stride 16; with the RPN's 3x3 conv, the paper's 171 pixels."""
    conv1, pool, conv2, conv = (7, 2, 3), (3, 2, 1), (5, 2, 2), (3, 1, 1)
    return [conv1, pool, conv2, pool, conv, conv, conv]


# --------------------------------------------------------------------------- helpers


def layer_specs(layers, axis=-1) -> list[tuple[int, int, int]]:
    """One ``(kernel, stride, padding)`` per layer of ``layers`` along ``axis``.

    Neuron layers (which change no coordinate) give ``(1, 1, 0)``, so that the list
    keeps one entry per layer and map indices count every layer.
    """
    if axis not in _AXES:
        raise ValueError(f"axis must be -1/'x' (columns) or -2/'y' (rows), got {axis!r}")
    half = _AXES[axis]
    specs = []
    for i, layer in enumerate(_iter_layers(layers)):
        if isinstance(layer, (tuple, list)):
            if len(layer) != 3:
                raise ValueError(f"layers[{i}] must be (kernel, stride, padding), got {layer!r}")
            k, s, p = (_pick(v, half, f"layers[{i}]") for v in layer)
        elif hasattr(layer, "kernel_size"):
            k, s, p = (
                _pick(getattr(layer, name), half, f"layers[{i}].{name}")
                for name in ("kernel_size", "stride", "padding")
            )
        elif type(layer).__name__ in ("Linear", "Flatten"):
            raise ValueError(
                f"layers[{i}] is a {type(layer).__name__}, which has no spatial map; "
                "pass the convolutional part of the network"
            )
        elif hasattr(layer, "forward"):
            k, s, p = 1, 1, 0  # a neuron layer: p_in = p_out
        else:
            raise TypeError(
                f"layers[{i}] must be a (kernel, stride, padding) tuple or a layer, got {layer!r}"
            )
        _check_layer(k, s, p, where=f"layers[{i}]")
        specs.append((k, s, p))
    return specs


def _compose(specs) -> tuple[int, int, float]:
    """Cascade layers from the last map back to the first one (F3, F4).

    Returns ``(size, jump, shift)``: a cell of the last map sees ``size`` cells of the
    first, and in cell-index units its centre sits at ``jump * u + shift`` there.
    """
    size, jump, shift = 1, 1, 0.0
    for k, s, p in reversed(specs):
        size = (size - 1) * s + k  # F3
        shift = s * shift + ((k - 1) / 2 - p)  # F4: p_in = s * p_out + ((k - 1) / 2 - p)
        jump *= s
    return size, jump, shift


def _iter_layers(layers) -> Iterable:
    inner = getattr(layers, "layers", None)  # a Sequential
    if inner is not None:
        return list(inner)
    if isinstance(layers, Iterable):
        return list(layers)
    raise TypeError(f"layers must be a list of layers or a Sequential, got {layers!r}")


def _affine(layers, src, dst, axis) -> tuple[float, float]:
    """``(jump, shift)`` with ``u_dst = jump * u_src + shift`` in cell-index units."""
    specs = layer_specs(layers, axis)
    n = len(specs)
    src = n if src is None else src
    dst = n if dst is None else dst
    for name, m in (("src", src), ("dst", dst)):
        if not (isinstance(m, (int, np.integer)) and 0 <= m <= n):
            raise ValueError(f"{name} must be a map index in [0, {n}], got {m!r}")
    _, jump, shift = _compose(specs[min(src, dst) : max(src, dst)])
    if src < dst:  # away from the image: invert u_lo = jump * u_hi + shift
        return 1.0 / jump, -shift / jump
    return jump, shift


def _pick(value, half, name):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {value!r}")
        value = value[half]
    return value


def _check_positive_int(name, value):
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_layer(kernel, stride, padding, where="layer"):
    for name, value, low in (("kernel", kernel, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{where}: {name} must be an integer >= {low}, got {value!r}")
