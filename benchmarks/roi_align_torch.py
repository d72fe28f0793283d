"""RoIAlign against torchvision's: same results, and the time of forward + backward.

    python benchmarks/roi_align_torch.py [--repeats N]

torchvision is the reference here, never a dependency of minirpn (its CPU build installs
with ``pip install torch torchvision`` from the PyTorch CPU index); without it the script
says so and exits.

1. **Check**: ``minirpn.ops.roi_align`` and the features' gradient of
   ``minirpn.ops.roi_align_backward`` against ``torchvision.ops.roi_align`` and autograd,
   float64 and float32, both ``aligned`` modes, on RoIs inside, across and outside the map.
   torchvision has no gradient for the boxes, so ``drois`` is checked against finite
   differences in tests/test_ops_roi_align.py instead.
2. **Speed** at the paper's scale (float32; 128 RoIs, 7 x 7, one 512 x 38 x 50 map at
   1/16, sampling 2), one thread each, interleaved, median of ``--repeats``: ours is the
   forward plus the backward to the features AND the coordinates, torchvision's the
   forward plus the backward to the features. Target: ours <= 0.5x torchvision's.
"""

from __future__ import annotations

import os

# One thread for NumPy's BLAS and for PyTorch (set before either is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

from kernels import (  # noqa: E402
    FEATURE_STRIDE,
    SEED,
    median_ms_pair,
    random_boxes,
    roi_align_workload,
)
from minirpn import ops  # noqa: E402

try:
    import torch
    import torchvision
except (ImportError, RuntimeError, OSError):  # a torchvision built for another torch raises
    torch = torchvision = None

TARGET_RATIO = 0.5


def torchvision_forward_backward(features, rois, grad, output_size, scale, ratio, aligned):
    """torchvision's roi_align forward and autograd backward -> (out, dfeatures) as NumPy."""
    x = torch.from_numpy(features).requires_grad_(True)
    boxes = torch.from_numpy(rois.astype(features.dtype))
    out = torchvision.ops.roi_align(x, boxes, output_size, scale, ratio, aligned)
    out.backward(torch.from_numpy(grad))
    return out.detach().numpy(), x.grad.numpy()


def check(rng):
    """Forward and features' gradient equal torchvision's; prints the largest differences."""
    height, width, scale = 9, 11, 1 / 8
    coords = np.concatenate(
        [
            random_boxes(rng, 16, 4, 60),  # inside the image, small to medium
            rng.uniform(-40, 120, (8, 4)),  # anywhere: across and outside the map, inverted
            [[30, 30, 30.5, 30.2], [-20, -20, -8, -8], [0, 0, 8 * width, 8 * height]],
        ]
    )
    rois = np.concatenate([rng.integers(0, 2, (len(coords), 1)), coords], axis=1)
    print(f"check: {len(rois)} RoIs on 2 x 5 x {height} x {width} maps, 3 x 4 bins")
    worst = 0.0
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 1e-5)):
        features = rng.standard_normal((2, 5, height, width)).astype(dtype)
        grad = rng.standard_normal((len(rois), 5, 3, 4)).astype(dtype)
        for aligned in (True, False):
            for ratio in (1, 2, 3):
                args = ((3, 4), scale, ratio, aligned)
                ours = ops.roi_align(features, rois, *args)
                dfeatures, _ = ops.roi_align_backward(grad, features, rois, *args)
                theirs, their_dfeatures = torchvision_forward_backward(features, rois, grad, *args)
                errors = (np.abs(ours - theirs).max(), np.abs(dfeatures - their_dfeatures).max())
                worst = max(worst, max(errors) / tolerance)
                print(
                    f"  {np.dtype(dtype).name} aligned={aligned!s:<5} sampling {ratio}: "
                    f"max |diff| out {errors[0]:.1e}, dfeatures {errors[1]:.1e} "
                    f"(tolerance {tolerance:g})"
                )
    if worst > 1.0:
        sys.exit("roi_align differs from torchvision's beyond the tolerance")


def speed(rng, repeats):
    features, rois, grad, output_size, ratio = roi_align_workload(rng)
    scale = 1.0 / FEATURE_STRIDE
    x = torch.from_numpy(features).requires_grad_(True)
    boxes = torch.from_numpy(rois.astype(np.float32))
    grad_t = torch.from_numpy(grad)

    def ours():
        ops.roi_align(features, rois, output_size, scale, ratio)
        ops.roi_align_backward(grad, features, rois, output_size, scale, ratio)

    def theirs():
        x.grad = None
        out = torchvision.ops.roi_align(x, boxes, output_size, scale, ratio, True)
        out.backward(grad_t)

    ours_ms, theirs_ms = median_ms_pair(ours, theirs, repeats)
    ratio_ms = ours_ms / theirs_ms
    print(
        f"speed: {len(rois)} RoIs {output_size}x{output_size}, {features.shape[1]}x"
        f"{features.shape[2]}x{features.shape[3]}, sampling {ratio}, one thread, float32\n"
        f"  ours fwd + bwd (features and coordinates) {ours_ms:8.1f} ms\n"
        f"  torchvision fwd + bwd (features)          {theirs_ms:8.1f} ms\n"
        f"  ratio {ratio_ms:.2f} (target <= {TARGET_RATIO}): "
        f"{'met' if ratio_ms <= TARGET_RATIO else 'NOT met'}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    if torchvision is None:
        print("torchvision is not installed (or does not match torch): nothing to compare")
        return
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED)
    check(rng)
    speed(rng, args.repeats)


if __name__ == "__main__":
    main()
