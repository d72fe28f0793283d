"""How close conv2d's forward + backward gets to the speed of its bare matrix products.

For the tiny detector's layer shapes (3x3 kernels, padding 1, float32, batch 1 and 8) it
times ``conv2d_forward`` + ``conv2d_backward`` and, in the same run, the three bare GEMMs
that a convolution of that shape reduces to (forward (F, K) @ (K, N*Ho*Wo), and the two
backward products for dw and the column gradient, K = C*kH*kW) on ready-made contiguous
arrays. The ratio of the two GFLOP/s figures is what im2col, col2im and the bias cost.

FLOPs counted: forward 2*N*F*C*kH*kW*Ho*Wo, backward twice that.

BLAS runs single-threaded unless OPENBLAS_NUM_THREADS / OMP_NUM_THREADS are set: on a small
machine shared with other jobs, a multi-threaded GEMM mostly measures thread contention
(10x slower and erratic), which says nothing about im2col's overhead.
Run: python benchmarks/conv.py   (or OPENBLAS_NUM_THREADS=2 python benchmarks/conv.py)
"""

from __future__ import annotations

import os

# Must happen before NumPy loads its BLAS.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from minirpn.nn import conv2d_backward, conv2d_forward  # noqa: E402

SHAPES = [(3, 128, 128, 16), (16, 64, 64, 32), (32, 32, 32, 64)]  # (C, H, W, F)
BATCHES = (1, 8)
KERNEL, PADDING = 3, 1
REPEATS = 15
TARGET_RATIO = 0.5


def best_times(*fns) -> list[float]:
    """Fastest call of each function over interleaved rounds (after a warm-up round).

    Interleaving puts the conv and its bare GEMMs under the same load from other processes,
    and the minimum is the run least disturbed by them.
    """
    best = [float("inf")] * len(fns)
    for round_ in range(REPEATS + 1):
        for i, fn in enumerate(fns):
            tic = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - tic
            if round_:
                best[i] = min(best[i], elapsed)
    return best


def main() -> None:
    rng = np.random.default_rng(0)
    print(
        f"float32, {KERNEL}x{KERNEL} kernels, padding {PADDING}, "
        f"BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}"
    )
    print(
        f"{'N':>2} {'C':>3} {'H x W':>9} {'F':>3} | {'fwd ms':>7} {'bwd ms':>7} {'total ms':>8} "
        f"{'conv GF/s':>9} | {'gemm ms':>7} {'gemm GF/s':>9} | {'ratio':>5}"
    )
    ratios = []
    for n in BATCHES:
        for c, h, w, f in SHAPES:
            x = rng.standard_normal((n, c, h, w), dtype=np.float32)
            weight = rng.standard_normal((f, c, KERNEL, KERNEL), dtype=np.float32)
            bias = rng.standard_normal(f, dtype=np.float32)
            out, cache = conv2d_forward(x, weight, bias, 1, PADDING)
            dout = rng.standard_normal(out.shape, dtype=np.float32)
            k, m = c * KERNEL * KERNEL, n * out.shape[2] * out.shape[3]
            flops_fwd = 2.0 * f * k * m

            # The same three GEMMs on contiguous operands: (F,K)@(K,M), (F,M)@(M,K), (K,F)@(F,M).
            a = rng.standard_normal((f, k), dtype=np.float32)
            cols = rng.standard_normal((k, m), dtype=np.float32)
            grad = rng.standard_normal((f, m), dtype=np.float32)
            t_fwd, t_bwd, t_gemm = best_times(
                lambda: conv2d_forward(x, weight, bias, 1, PADDING),
                lambda: conv2d_backward(dout, cache),
                lambda: (a @ cols, grad @ cols.T, a.T @ grad),
            )

            total = t_fwd + t_bwd
            conv_rate = 3 * flops_fwd / total / 1e9
            gemm_rate = 3 * flops_fwd / t_gemm / 1e9
            ratios.append(conv_rate / gemm_rate)
            print(
                f"{n:>2} {c:>3} {f'{h} x {w}':>9} {f:>3} | {1e3 * t_fwd:7.2f} {1e3 * t_bwd:7.2f} "
                f"{1e3 * total:8.2f} {conv_rate:9.1f} | {1e3 * t_gemm:7.2f} {gemm_rate:9.1f} | "
                f"{ratios[-1]:5.2f}"
            )
    print(
        f"conv fwd+bwd / bare GEMM rate: min {min(ratios):.2f}, "
        f"geometric mean {np.exp(np.mean(np.log(ratios))):.2f} (target >= {TARGET_RATIO})"
    )


if __name__ == "__main__":
    main()
