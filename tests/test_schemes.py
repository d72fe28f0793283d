"""Training schemes (F20): the seam that lets a scheme freeze a stage."""

import numpy as np
import pytest

from minirpn import Config
from minirpn.model import Detector
from minirpn.schemes import SCHEMES, ApproximateJoint, make_scheme

NUM_CLASSES = 3


def scene():
    rng = np.random.default_rng(0)
    images = rng.uniform(0.0, 1.0, size=(2, 48, 48, 3))
    boxes = [np.array([[4.0, 6.0, 30.0, 26.0]]), np.array([[10.0, 8.0, 24.0, 40.0]])]
    labels = [np.array([1]), np.array([3])]
    return images, boxes, labels


def grads_with(frozen, targets=None):
    """The detector's gradients after one step with ``frozen`` stages, on fixed targets."""
    detector = Detector(Config.tiny(roi_batch_size=16), NUM_CLASSES, seed=1, dtype=np.float64)
    scheme = ApproximateJoint(detector, frozen=frozen)
    detector.zero_grad()
    images, boxes, labels = scene()
    scheme.forward(images, boxes, labels, np.random.default_rng(5), targets=targets)
    scheme.backward()
    return {name: grad.copy() for name, grad in detector.grads.items()}, scheme


def test_frozen_stages_keep_their_grads_and_leave_the_optimiser():
    full, scheme = grads_with(())
    targets = scheme.last_targets
    for stage in ("backbone", "rpn", "roi_head"):
        grads, frozen_scheme = grads_with({stage}, targets)
        for name, grad in grads.items():
            if name.startswith(stage + "."):
                assert not grad.any(), f"{name} moved although {stage} is frozen"
            elif not name.startswith("backbone."):  # the other head is unaffected
                np.testing.assert_array_equal(grad, full[name], err_msg=name)
        names = {name for name, _, _ in frozen_scheme.parameters()}
        assert names == {n for n in full if not n.startswith(stage + ".")}


def test_the_shared_map_adds_the_two_paths():
    """Backbone gradient of the joint step = RPN path alone + head path alone (F20)."""
    full, scheme = grads_with(())
    rpn_only, _ = grads_with({"roi_head"}, scheme.last_targets)
    head_only, _ = grads_with({"rpn"}, scheme.last_targets)
    for name in full:
        if name.startswith("backbone."):
            assert np.abs(rpn_only[name]).max() > 0 and np.abs(head_only[name]).max() > 0
            np.testing.assert_allclose(
                full[name], rpn_only[name] + head_only[name], rtol=1e-10, atol=1e-14
            )


def test_scheme_names_and_bad_arguments():
    assert sorted(SCHEMES) == ["approximate-joint"]
    detector = Detector(Config.tiny(), NUM_CLASSES)
    assert isinstance(make_scheme("approximate-joint", detector), ApproximateJoint)
    with pytest.raises(ValueError, match="scheme must be one of"):
        make_scheme("joint", detector)
    with pytest.raises(ValueError, match="frozen must name stages"):
        ApproximateJoint(detector, frozen={"head"})
