"""How close conv2d's forward + backward gets to the speed of its bare matrix products.

For the tiny detector's layer shapes (3x3 kernels, padding 1, float32, batch 1 and 8) it
times ``conv2d_forward`` + ``conv2d_backward`` and, in the same run, the three bare GEMMs
that a convolution of that shape reduces to, on ready-made contiguous arrays, with
K = C*kH*kW and M = N*Ho*Wo, in both layouts of the window matrix:

* rows, as ``conv2d_forward`` lays it out: forward (M, K) @ (K, F), dw (F, M) @ (M, K),
  the windows' gradient (M, F) @ (F, K);
* columns, Caffe's classic im2col: forward (F, K) @ (K, M), dw (F, M) @ (M, K), the
  columns' gradient (K, F) @ (F, M).

The ratio of the conv's GFLOP/s to the rows' GEMMs is what im2col, col2im, the layout
changes and the bias cost; rows over columns is what the layout gains.

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
        f"{'conv GF/s':>9} | {'rows GF/s':>9} {'cols GF/s':>9} | {'ratio':>5}"
    )
    ratios, gains = [], []
    for n in BATCHES:
        for c, h, w, f in SHAPES:
            x = rng.standard_normal((n, c, h, w), dtype=np.float32)
            weight = rng.standard_normal((f, c, KERNEL, KERNEL), dtype=np.float32)
            bias = rng.standard_normal(f, dtype=np.float32)
            out, cache = conv2d_forward(x, weight, bias, 1, PADDING)
            dout = rng.standard_normal(out.shape, dtype=np.float32)
            k, m = c * KERNEL * KERNEL, n * out.shape[2] * out.shape[3]
            flops_fwd = 2.0 * f * k * m

            # The three GEMMs on contiguous operands, in each layout of the window matrix.
            a = rng.standard_normal((f, k), dtype=np.float32)
            a_t = np.ascontiguousarray(a.T)
            rows = rng.standard_normal((m, k), dtype=np.float32)
            cols = np.ascontiguousarray(rows.T)
            grad = rng.standard_normal((f, m), dtype=np.float32)
            grad_t = np.ascontiguousarray(grad.T)
            t_fwd, t_bwd, t_rows, t_cols = best_times(
                lambda: conv2d_forward(x, weight, bias, 1, PADDING),
                lambda: conv2d_backward(dout, cache),
                lambda: (rows @ a_t, grad @ rows, grad_t @ a),
                lambda: (a @ cols, grad @ rows, a_t @ grad),
            )

            total = t_fwd + t_bwd
            conv_rate, rows_rate, cols_rate = (
                3 * flops_fwd / t / 1e9 for t in (total, t_rows, t_cols)
            )
            ratios.append(conv_rate / rows_rate)
            gains.append(rows_rate / cols_rate)
            print(
                f"{n:>2} {c:>3} {f'{h} x {w}':>9} {f:>3} | {1e3 * t_fwd:7.2f} {1e3 * t_bwd:7.2f} "
                f"{1e3 * total:8.2f} {conv_rate:9.1f} | {rows_rate:9.1f} {cols_rate:9.1f} | "
                f"{ratios[-1]:5.2f}"
            )
    print(
        f"conv fwd+bwd / bare GEMM rate (rows): min {min(ratios):.2f}, "
        f"geometric mean {np.exp(np.mean(np.log(ratios))):.2f} (target >= {TARGET_RATIO})"
    )
    print(
        f"bare GEMMs, rows / columns layout: min {min(gains):.2f}x, max {max(gains):.2f}x, "
        f"geometric mean {np.exp(np.mean(np.log(gains))):.2f}x"
    )


if __name__ == "__main__":
    main()
