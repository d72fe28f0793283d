"""Losses against hand-computed values and centred differences (float64)."""

import math

import numpy as np
import pytest

from minirpn.gradcheck import numerical_gradient, relative_error
from minirpn.nn import log_softmax, smooth_l1, softmax, softmax_cross_entropy


def test_softmax_cross_entropy_hand_computed():
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0], [5.0, 1.0]])
    labels = np.array([0, 0, -1])  # the last row is ignored
    loss, dlogits = softmax_cross_entropy(logits, labels)
    # row 0: p = (1/2, 1/2) -> -log 1/2; row 1: p = (3/4, 1/4) -> -log 3/4; mean over 2 rows
    assert loss == pytest.approx((math.log(2.0) + math.log(4.0 / 3.0)) / 2)
    expected = np.array([[-0.5, 0.5], [-0.25, 0.25], [0.0, 0.0]]) / 2
    np.testing.assert_allclose(dlogits, expected, atol=1e-15)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0], [-1000.0, 0.0]])
    loss, dlogits = softmax_cross_entropy(logits, np.array([1, 1]))
    # row 0 costs 1000 (log-prob of class 1 is -1000), row 1 costs about e**-1000 = 0
    assert loss == pytest.approx(500.0)
    assert np.all(np.isfinite(dlogits))
    np.testing.assert_allclose(dlogits, [[0.5, -0.5], [0.0, 0.0]], atol=1e-15)


def test_softmax_cross_entropy_float32_stays_float32():
    _, dlogits = softmax_cross_entropy(np.ones((2, 3), np.float32), np.array([0, 2]))
    assert dlogits.dtype == np.float32


def test_softmax_cross_entropy_all_ignored_is_zero():
    logits = np.random.default_rng(0).standard_normal((4, 3))
    loss, dlogits = softmax_cross_entropy(logits, np.full(4, -1))
    assert loss == 0.0
    np.testing.assert_array_equal(dlogits, np.zeros_like(logits))
    loss, dlogits = softmax_cross_entropy(np.zeros((0, 3)), np.zeros(0, np.int64))
    assert loss == 0.0 and dlogits.shape == (0, 3)


def test_softmax_cross_entropy_gradient():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((7, 4)) * 3
    labels = np.array([0, 3, -1, 2, 1, -1, 3])
    _, dlogits = softmax_cross_entropy(logits, labels)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(logits, labels)[0], logits)
    assert relative_error(dlogits, numeric) < 1e-6


def test_softmax_cross_entropy_bad_labels():
    logits = np.zeros((3, 2))
    with pytest.raises(ValueError, match="labels must lie in"):
        softmax_cross_entropy(logits, np.array([0, 2, 1]))
    with pytest.raises(ValueError, match="labels must lie in"):
        softmax_cross_entropy(logits, np.array([0, -2, 1]))
    with pytest.raises(TypeError, match="labels"):
        softmax_cross_entropy(logits, np.array([0.0, 1.0, 1.0]))
    with pytest.raises(ValueError, match="labels must have shape"):
        softmax_cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="ignore_index"):
        softmax_cross_entropy(logits, np.array([0, 1, 1]), ignore_index=1)
    with pytest.raises(ValueError, match="logits"):
        softmax_cross_entropy(np.zeros(3), np.array([0, 1, 1]))


def test_smooth_l1_hand_computed():
    pred = np.array([0.05, -0.5, 2.0, 0.0])
    target = np.zeros(4)
    # sigma = 3: quadratic below 1/9. 0.05 -> 0.5*9*0.0025; 0.5 -> 0.5 - 1/18; 2 -> 2 - 1/18; 0 -> 0
    loss, dpred = smooth_l1(pred, target, sigma=3.0)
    assert loss == pytest.approx(0.5 * 9 * 0.0025 + (0.5 - 1 / 18) + (2.0 - 1 / 18))
    np.testing.assert_allclose(dpred, [9 * 0.05, -1.0, 1.0, 0.0])


def test_smooth_l1_between_one_over_sigma_squared_and_one_over_sigma():
    # sigma = 3: the pieces switch at |x| = 1/9. Inside (1/9, 1/3) the loss is linear; a
    # switch at 1/sigma = 1/3 would make it quadratic there (0.5 * 9 * 0.2**2 = 0.18 and
    # slope 1.8 at x = 0.2). x = 0.2 -> 0.2 - 1/18; x = -0.3 -> 0.3 - 1/18; slopes +-1.
    loss, dpred = smooth_l1(np.array([0.2, -0.3]), np.zeros(2), sigma=3.0)
    assert loss == pytest.approx(0.2 + 0.3 - 2 / 18, abs=1e-15)
    np.testing.assert_array_equal(dpred, [1.0, -1.0])


@pytest.mark.parametrize("x", [1 / 9, -1 / 9])
def test_smooth_l1_exactly_at_the_switch_point(x):
    # |x| = 1/sigma**2 = 1/9: both pieces give 0.5 * 9 / 81 = 1/9 - 1/18 = 1/18, slope sign(x).
    loss, dpred = smooth_l1(np.array([x]), np.zeros(1), sigma=3.0)
    assert loss == pytest.approx(1 / 18, rel=1e-15)
    np.testing.assert_allclose(dpred, [np.sign(x)], rtol=1e-15)
    # and just inside the quadratic piece: 0.5 * 9 * x**2 and slope 9 x
    inner = 0.99 * x
    loss, dpred = smooth_l1(np.array([inner]), np.zeros(1), sigma=3.0)
    assert loss == pytest.approx(4.5 * inner**2, rel=1e-14)
    np.testing.assert_allclose(dpred, [9 * inner], rtol=1e-14)


def test_smooth_l1_sigma_one_is_the_papers_formula():
    x = np.array([-3.0, -0.4, 0.7, 1.5])
    loss, _ = smooth_l1(x, np.zeros(4))
    assert loss == pytest.approx(2.5 + 0.08 + 0.245 + 1.0)


def test_smooth_l1_weights():
    pred = np.array([[1.0, 2.0], [0.2, -4.0]])
    target = np.zeros((2, 2))
    inside = np.array([[1.0, 0.0], [0.5, 1.0]])
    outside = np.array([[2.0], [1.0]])  # one weight per row, broadcast over coordinates
    loss, dpred = smooth_l1(pred, target, 1.0, inside, outside)
    # x = [[1, 0], [0.1, -4]] -> per entry [[0.5, 0], [0.005, 3.5]], times outside
    assert loss == pytest.approx(2 * 0.5 + 0.005 + 3.5)
    # d/dpred = outside * inside * (x if |x| < 1 else sign x)
    np.testing.assert_allclose(dpred, [[2.0, 0.0], [0.05, -1.0]])


def test_smooth_l1_gradient():
    rng = np.random.default_rng(3)
    pred = rng.standard_normal((6, 4))
    target = rng.standard_normal((6, 4))
    inside = rng.uniform(0.0, 2.0, (6, 4))
    outside = rng.uniform(0.0, 2.0, (6, 1))
    _, dpred = smooth_l1(pred, target, 3.0, inside, outside)
    numeric = numerical_gradient(lambda: smooth_l1(pred, target, 3.0, inside, outside)[0], pred)
    assert relative_error(dpred, numeric) < 1e-6


def test_smooth_l1_bad_inputs():
    with pytest.raises(ValueError, match="target"):
        smooth_l1(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="sigma"):
        smooth_l1(np.zeros(3), np.zeros(3), sigma=0.0)
    with pytest.raises(ValueError, match="inside_weights"):
        smooth_l1(np.zeros((2, 4)), np.zeros((2, 4)), inside_weights=np.ones(3))
    with pytest.raises(ValueError, match="outside_weights"):
        smooth_l1(np.zeros(4), np.zeros(4), outside_weights=np.ones((2, 4)))


def test_softmax_matches_the_definition_and_survives_huge_logits():
    rng = np.random.default_rng(7)
    logits = rng.normal(size=(5, 3))
    naive = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax(logits), naive, rtol=1e-12)
    np.testing.assert_allclose(log_softmax(logits), np.log(naive), rtol=1e-12)
    # exp(1000) overflows; the shifted form gives the exact answer for a gap of 1000
    huge = np.array([[1000.0, 0.0], [-1000.0, -1000.0]])
    np.testing.assert_allclose(softmax(huge), [[1.0, 0.0], [0.5, 0.5]])
    assert log_softmax(huge)[0, 1] == -1000.0


def numpy_rows_log_softmax(logits):
    """log_softmax with NumPy's reductions along each row: the definition the column loops of
    the fast path must reproduce bit for bit."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_has_the_bits_of_numpys_row_reductions(dtype):
    # Catches summing a row in another order than NumPy's (e.g. the first entry added last,
    # or pairwise), and a wrong maximum on NaN, inf or zeros of opposite sign.
    rng = np.random.default_rng(0)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, 1e-40, 88.0, -104.0])
    for num_classes in range(2, 12):  # the column loops up to FEW_CLASSES, NumPy beyond
        for scale in (0.01, 1.0, 100.0, 1e4):  # near-equal exps, where the order shows
            logits = rng.normal(0.0, scale, (300, num_classes)).astype(dtype)
            mask = rng.random(logits.shape) < 0.05
            logits[mask] = rng.choice(special, mask.sum()).astype(dtype)
            logits[:4] = special[[1, 0, 4, 2]].astype(dtype)[:, None]  # whole special rows
            logits[4, :2] = np.array([-0.0, 0.0], dtype)  # two maxima, zeros of both signs
            with np.errstate(invalid="ignore", over="ignore"):
                fast, expected = log_softmax(logits), numpy_rows_log_softmax(logits)
            assert fast.dtype == dtype
            bits = np.uint32 if dtype == np.float32 else np.uint64
            np.testing.assert_array_equal(
                np.ascontiguousarray(fast).view(bits), expected.view(bits)
            )
    non_contiguous = rng.normal(size=(3, 40)).astype(dtype).T  # (40, 3), Fortran order
    np.testing.assert_array_equal(
        log_softmax(non_contiguous), numpy_rows_log_softmax(non_contiguous)
    )
