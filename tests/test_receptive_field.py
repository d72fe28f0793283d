"""Receptive fields and coordinate mapping (F1-F4, F18) against the paper's figures,
hand-worked cases and a naive interval-propagation oracle."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minirpn import nn
from minirpn.receptive_field import (
    effective_receptive_field,
    input_size,
    map_box,
    map_point,
    output_size,
    project_roi,
    receptive_field,
    vgg16_conv5_3,
    zf_conv5,
)

# conv 3x3 pad 0, pool 2x2 stride 2, conv 3x3 stride 2 pad 1. Worked by hand:
#   F3: r = 1 -> (1-1)*2+3 = 3 -> (3-1)*2+2 = 6 -> (6-1)*1+3 = 8
#   F4 (index units): p2 = 2*p3 + 0, p1 = 2*p2 + 0.5, p0 = p1 + 1  =>  p0 = 4*p3 + 1.5,
#   i.e. 4*u + 2.0 in continuous coordinates (pixel centres at i + 0.5).
SMALL_NET = [(3, 1, 0), (2, 2, 0), (3, 2, 1)]


def naive_receptive_field(specs, cell):
    """Propagate the integer range of cells that ``cell`` of the last map depends on."""
    lo = hi = cell
    for k, s, p in reversed(specs):
        lo, hi = lo * s - p, hi * s - p + k - 1
    return hi - lo + 1, (lo + hi) / 2 + 0.5  # size, continuous centre


def test_vgg16_matches_the_paper():
    rf = receptive_field(vgg16_conv5_3())
    assert (rf.size, rf.stride) == (196, 16)
    assert rf.center(0) == 8.0 and rf.center(10) == 168.0
    # the RPN's 3x3 sliding window on conv5_3: the paper's 228 pixels
    assert receptive_field(vgg16_conv5_3() + [(3, 1, 1)]).size == 228


def test_zf_matches_the_paper():
    rf = receptive_field(zf_conv5())
    assert (rf.size, rf.stride) == (139, 16)
    # the RPN's 3x3 sliding window on conv5: the paper's 171 pixels for ZF
    assert receptive_field(zf_conv5() + [(3, 1, 1)]).size == 171


def test_small_net_by_hand():
    rf = receptive_field(SMALL_NET)
    assert (rf.size, rf.stride, rf.offset) == (8, 4, 2.0)
    assert rf.center(3) == 14.0
    np.testing.assert_array_equal(rf.center([0, 1, 2]), [2.0, 6.0, 10.0])
    assert rf.interval(0) == (-2.0, 6.0)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 7), st.integers(1, 3), st.integers(0, 3)), min_size=1, max_size=6
    ),
    st.integers(0, 20),
)
def test_receptive_field_matches_naive_propagation(specs, cell):
    specs = [(k, s, min(p, k - 1)) for k, s, p in specs]
    rf = receptive_field(specs)
    size, centre = naive_receptive_field(specs, cell)
    assert rf.size == size
    assert rf.center(cell) == pytest.approx(centre)
    assert rf.center(cell + 1) - rf.center(cell) == rf.stride


def test_output_and_input_size():
    assert output_size(224, 3, 1, 1) == 224
    assert output_size(7, 3, 2, 0) == 3
    # VGG's ceil-mode pooling turns a 75-wide map into 38 (floor mode gives 37)
    assert output_size(75, 2, 2, ceil_mode=True) == 38
    assert output_size(75, 2, 2) == 37
    # a ceil-mode window may not start in the right padding: 5 -> 3, not 4
    assert output_size(5, 2, 2, padding=1, ceil_mode=True) == 3
    # F2 inverts F1 whenever the division in F1 is exact
    for size, k, s, p in [(224, 3, 1, 1), (9, 3, 2, 0), (15, 5, 2, 2), (32, 2, 2, 0)]:
        assert input_size(output_size(size, k, s, p), k, s, p) == size


def test_map_point_composes_and_inverts():
    layers = SMALL_NET
    x = np.array([0.5, 1.25, 3.0])
    via = map_point(layers, map_point(layers, x, src=3, dst=2), src=2, dst=0)
    np.testing.assert_allclose(via, map_point(layers, x, src=3, dst=0))
    back = map_point(layers, map_point(layers, x, src=3, dst=0), src=0, dst=3)
    np.testing.assert_allclose(back, x)
    # the centre of cell 0 of map 3 (continuous 0.5) lands on the receptive-field centre
    assert map_point(layers, 0.5) == receptive_field(layers).center(0)
    # map 3 -> map 2 by hand: p2 = 2 * p3 (index units), so continuous 0.5 -> 0.5, 1.5 -> 2.5
    np.testing.assert_allclose(map_point(layers, [0.5, 1.5], src=3, dst=2), [0.5, 2.5])


def test_project_roi_is_the_spatial_scale_for_vgg():
    box = np.array([[32.0, 48.0, 320.0, 200.0], [0.0, 0.0, 16.0, 16.0]])
    np.testing.assert_allclose(project_roi(vgg16_conv5_3(), box), box / 16)
    np.testing.assert_allclose(map_box(vgg16_conv5_3(), box / 16), box)


def test_non_square_layers_map_each_axis():
    layers = [nn.MaxPool2d((2, 4), stride=(2, 4))]
    np.testing.assert_allclose(project_roi(layers, [8, 8, 16, 16]), [2, 4, 4, 8])
    assert receptive_field(layers, axis="y").size == 2
    assert receptive_field(layers, axis="x").size == 4


def test_sequential_with_neuron_layers_equals_tuples():
    rng = np.random.default_rng(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=0, rng=rng),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(4, 4, 3, stride=2, padding=1, rng=rng),
        nn.ReLU(),
    )
    assert receptive_field(net) == receptive_field(SMALL_NET)
    # neuron layers count as maps of their own that change no coordinate
    np.testing.assert_allclose(map_point(net, 1.5, src=5, dst=0), map_point(SMALL_NET, 1.5))


def test_effective_receptive_field_support_is_the_theoretical_field():
    # With positive weights and inputs every ReLU stays open, and without pooling the
    # gradient of an interior cell reaches every pixel of its theoretical field and no other.
    rng = np.random.default_rng(1)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1, rng=rng),
        nn.ReLU(),
        nn.Conv2d(2, 2, 3, stride=2, padding=1, rng=rng),
        nn.ReLU(),
        nn.Conv2d(2, 2, 3, padding=1, rng=rng),
    )
    for layer in net.layers[::2]:
        layer.params["weight"][...] = rng.uniform(0.5, 1.0, layer.params["weight"].shape)
    x = rng.uniform(1.0, 2.0, (1, 1, 32, 32))
    erf = effective_receptive_field(net, x, index=(8, 5))
    rf = receptive_field(net)  # by hand: size 9, stride 2, cell u centred at 2u + 0.5
    assert (rf.size, rf.stride, rf.offset) == (9, 2, 0.5)
    rows, cols = np.nonzero(erf)
    assert (rows.min(), rows.max() + 1) == rf.interval(8) == (12.0, 21.0)
    assert (cols.min(), cols.max() + 1) == rf.interval(5)
    # the brightest pixel is the centre of the field
    assert np.unravel_index(erf.argmax(), erf.shape) == (16, 10)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: output_size(0, 3), "size"),
        (lambda: output_size(4, 7, 1, 1), "kernel"),
        (lambda: output_size(8, 3, stride=0), "stride"),
        (lambda: input_size(4, 3, padding=-1), "padding"),
        (lambda: receptive_field([(3, 1)]), r"layers\[0\]"),
        (lambda: receptive_field([(3, 1, 1), (2, 0, 0)]), "stride"),
        (lambda: receptive_field([(3, 1, 1)], axis=2), "axis"),
        (lambda: map_point(SMALL_NET, 1.0, src=4), "src"),
        (lambda: map_box(SMALL_NET, [1, 2, 3]), "box"),
        (lambda: receptive_field([nn.Conv2d(1, 1, 3), nn.Flatten(), nn.Linear(4, 2)]), "Flatten"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
