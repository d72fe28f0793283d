"""Where one training step's time goes, stage by stage, against this machine's bare speed.

    python benchmarks/roofline.py [--run DIR] [--repeats N] [--rounds N] [--system-malloc]

One training step of the tiny detector (2 toy images of 128 x 128, float32, one BLAS
thread, as ``minirpn train`` runs it) is cut into its stages: each layer's forward and
backward as the step calls it (inputs and tapes captured from a real step), im2col and
col2im inside the convolutions, the losses, the sampling (anchor targets, proposal layer,
RoI sampling) and the SGD update. Each stage is then timed on its own, and beside it, in
the same round, its *bare* counterpart:

* a stage made of matrix products (convolutions, fc layers) is compared with the bare
  float32 products of the same shapes on ready-made contiguous arrays (``np.matmul`` with
  ``out=``): its FLOPs, its GFLOP/s and the products' GFLOP/s, the roof for those shapes;
* a stage that only moves memory (im2col, col2im, ReLU, pooling, the RoI layer, the SGD
  update) is compared with a bare copy (``np.copyto``) of as many bytes as it must at least
  read and write: its GB/s against the copy's;
* the rest (losses, sampling, the glue of a step) has no such model: only its time.

``x bare`` is the stage's time over its counterpart's: 1.0 is as fast as the machine goes
for that work. Times are the median over ``--rounds`` interleaved rounds of the median of
``--repeats`` calls (± half the range over the rounds), so that a stage and its roof see
the same load from other processes. The totals compare the sum of the stages with a whole
step timed the same way, with the page faults each whole step takes (the kernel zeroes
every fresh page on its first touch). Like ``minirpn train``, the script keeps the memory
an iteration frees for the next one (:mod:`minirpn.malloc`); ``--system-malloc`` leaves
glibc's defaults, to see what that saves.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the minirpn command does (see cli.py)

import argparse  # noqa: E402
import functools  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from minirpn import Config  # noqa: E402
from minirpn.backbone import preprocess  # noqa: E402
from minirpn.batching import load_batch  # noqa: E402
from minirpn.data import TOY_CLASS_NAMES, ToyShapes  # noqa: E402
from minirpn.malloc import keep_freed_memory  # noqa: E402
from minirpn.model import Detector  # noqa: E402
from minirpn.nn import SGD, Conv2d, Linear, MaxPool2d, ReLU  # noqa: E402
from minirpn.nn import conv as conv_module  # noqa: E402
from minirpn.roi_head import roi_head_loss  # noqa: E402
from minirpn.runs import load_run  # noqa: E402
from minirpn.schemes import ApproximateJoint  # noqa: E402
from minirpn.schemes.steps import sample_rois  # noqa: E402

FLOAT32 = 4  # bytes


@dataclass
class Stage:
    """One row of the table: ``run`` does the stage's work once, ``bare`` its roof.

    flops: the FLOPs of its matrix products (GEMM stages); moved: the bytes it must at
    least read and write (memory stages); neither: time only. ``sub``: a part of the stage
    above it, left out of the sum.
    """

    name: str
    run: Callable[[], object]
    flops: float = 0.0
    moved: float = 0.0
    bare: Callable[[], object] | None = None
    sub: bool = False
    times: list[float] = field(default_factory=list)
    bare_times: list[float] = field(default_factory=list)


def bare_products(shapes) -> Callable[[], None]:
    """The bare float32 products ``a (.., m, k) @ b (.., k, n)`` of ``shapes``, with ``out=``."""
    rng = np.random.default_rng(0)
    operands = []
    for batch, m, k, n in shapes:
        a = rng.standard_normal((*batch, m, k), dtype=np.float32)
        b = rng.standard_normal((*batch, k, n), dtype=np.float32)
        operands.append((a, b, np.empty((*batch, m, n), dtype=np.float32)))

    def run():
        for a, b, out in operands:
            np.matmul(a, b, out=out)

    return run


def gemm_flops(shapes) -> float:
    return sum(2.0 * math.prod(batch) * m * k * n for batch, m, k, n in shapes)


def bare_copy(moved: float) -> Callable[[], None]:
    """A bare copy that reads ``moved / 2`` bytes and writes as many."""
    source = np.ones(max(int(moved / 2 / FLOAT32), 1), dtype=np.float32)
    target = np.empty_like(source)
    return lambda: np.copyto(target, source)


def memory_stage(name, run, moved, sub=False) -> Stage:
    return Stage(name, run, moved=moved, bare=bare_copy(moved), sub=sub)


def gemm_stage(name, run, shapes, sub=False) -> Stage:
    return Stage(name, run, flops=gemm_flops(shapes), bare=bare_products(shapes), sub=sub)


def capture(detector: Detector, step: ApproximateJoint, batch, samples) -> list:
    """Run one step with every leaf layer's forward and backward recorded, in call order:
    ``(name, layer, "forward", (x,))`` or ``(name, layer, "backward", (dout, cache))``
    (``"param_backward"`` for a first layer that skips its input's gradient)."""
    calls = []
    leaves = [(f"backbone.{i}", layer) for i, layer in enumerate(detector.backbone.layers)]
    leaves += [(f"rpn.{name}", layer) for name, layer in detector.rpn.children.items()]
    leaves += [(f"roi_head.{name}", layer) for name, layer in detector.roi_head.children.items()]
    for name, layer in leaves:
        for method in ("forward", "backward", "param_backward"):
            original = getattr(layer, method)

            def recorded(
                *args, _name=name, _layer=layer, _method=method, _original=original, **kwargs
            ):
                calls.append((_name, _layer, _method, args))  # keywords: left at defaults
                return _original(*args, **kwargs)

            setattr(layer, method, recorded)
    detector.zero_grad()
    _, tape = step.forward(batch, None, samples=samples)
    step.backward(tape)
    for _, layer in leaves:
        del layer.forward, layer.backward, layer.param_backward  # back to the class's methods
    return calls


def conv_stages(name, layer: Conv2d, method, args) -> list[Stage]:
    """A convolution's forward (with its im2col) or backward (with its col2im)."""
    if method == "forward":
        (x,) = args
        out, cache = layer.forward(x)
        n, f, ho, wo = out.shape
        k = cache.cols.shape[2]
        kernel, stride, padding = layer.kernel_size, layer.stride, layer.padding
        return [
            gemm_stage(f"{name} conv fwd", lambda: layer.forward(x), [((n,), ho * wo, k, f)]),
            memory_stage(
                "  im2col",
                lambda: conv_module._im2col(x, kernel, stride, padding),
                x.nbytes + cache.cols.nbytes,
                sub=True,
            ),
        ]
    dout, cache = args
    n, f, ho, wo = dout.shape
    k = cache.cols.shape[2]
    dw_product = ((n,), f, ho * wo, k)  # dw: (F, Ho*Wo) @ (Ho*Wo, K) per image
    if method == "param_backward":  # the first layer: no input gradient
        run = lambda: layer.param_backward(dout, cache)  # noqa: E731
        return [gemm_stage(f"{name} conv bwd (dw only)", run, [dw_product])]
    dcols = np.ones_like(cache.cols)
    dx_bytes = math.prod(cache.x_shape) * dout.itemsize
    col2im = (dcols, cache.x_shape, cache.w.shape[2:], cache.stride, cache.padding, (ho, wo))
    return [
        gemm_stage(
            f"{name} conv bwd",
            lambda: layer.backward(dout, cache),
            [dw_product, ((n,), ho * wo, f, k)],
        ),
        memory_stage(
            "  col2im",
            lambda: conv_module._col2im(*col2im),
            dcols.nbytes + 2 * dx_bytes,
            sub=True,
        ),
    ]


def layer_stages(calls) -> list[Stage]:
    """A row (or two) for every recorded layer call."""
    stages = []
    for name, layer, method, args in calls:
        short = "fwd" if method == "forward" else "bwd"
        run = functools.partial(getattr(layer, method), *args)
        if isinstance(layer, Conv2d):
            stages += conv_stages(name, layer, method, args)
        elif isinstance(layer, Linear):
            x = args[0] if method == "forward" else args[1].x
            rows, (out, inputs) = x.shape[0], layer.params["weight"].shape
            shapes = (
                [((), rows, inputs, out)]
                if method == "forward"
                else [((), rows, out, inputs), ((), out, rows, inputs)]
            )
            stages.append(gemm_stage(f"{name} fc {short}", run, shapes))
        elif isinstance(layer, (ReLU, MaxPool2d)):
            stages.append(memory_stage(f"{name} {short}", run, memory_bytes(layer, method, args)))
        else:  # the RoI layer
            stages.append(memory_stage(f"{name} {short}", run, roi_bytes(layer, method, args)))
    return stages


def memory_bytes(layer, method, args) -> float:
    """Bytes a ReLU or max pooling must read and write (masks and argmax included)."""
    if method == "forward":
        (x,) = args
        out, cache = layer.forward(x)
        tape = cache if isinstance(cache, np.ndarray) else cache.argmax
        return x.nbytes + out.nbytes + tape.nbytes
    dout, cache = args
    tape = cache if isinstance(cache, np.ndarray) else cache.argmax
    dx = layer.backward(dout, cache)
    return dout.nbytes + tape.nbytes + dx.nbytes


def roi_bytes(layer, method, args) -> float:
    """Bytes the RoI layer must read and write: its map (once), outputs and tape."""
    if method == "forward":
        features, rois = args
        out, cache = layer.forward(features, rois)
        tape = getattr(cache, "argmax", None)
        return features.nbytes + out.nbytes + (0 if tape is None else tape.nbytes)
    dout, cache = args
    dfeatures, _ = layer.backward(dout, cache)
    tape = getattr(cache, "argmax", None)
    return dout.nbytes + dfeatures.nbytes + (0 if tape is None else tape.nbytes)


def step_stages(detector: Detector, step: ApproximateJoint, batch, samples) -> list[Stage]:
    """The losses, the sampling, the SGD update, and the whole step for the totals."""
    cfg = detector.cfg
    rpn = detector.rpn
    features, _ = detector.features(batch.images)
    rpn_out, _ = rpn.forward(features)
    image_size = batch.images.shape[1:3]
    proposals = [p.boxes for p in rpn.propose(rpn_out, image_size, train=True)]
    (cls_logits, box_deltas), _ = detector.roi_head.forward(features[0], samples.rois)
    optimizer = SGD(step.parameters(), lr=1e-6, momentum=cfg.momentum, weight_decay=1e-4)
    num_params = sum(p.size for _, p, _ in step.parameters())
    gt = [t.boxes for t in batch.targets]
    return [
        memory_stage("preprocess", lambda: preprocess(batch.images), 5 * batch.images.size),
        Stage("RPN loss (F11)", lambda: rpn.loss(rpn_out, samples.anchor_targets)),
        Stage(
            "head loss (F17)",
            lambda: roi_head_loss(cls_logits, box_deltas, samples.roi_targets, cfg),
        ),
        Stage(
            "anchor targets (F8, F13)",
            lambda: rpn.anchor_targets(rpn_out, gt, image_size, np.random.default_rng(0)),
        ),
        Stage("proposal layer (F15, F16)", lambda: rpn.propose(rpn_out, image_size, train=True)),
        Stage(
            "RoI sampling (F17)",
            lambda: sample_rois(
                proposals,
                batch.targets,
                detector.num_classes,
                cfg,
                np.random.default_rng(0),
                detector.dtype,
            ),
        ),
        memory_stage("zero_grad", detector.zero_grad, FLOAT32 * num_params),
        memory_stage("SGD update", optimizer.step, 5 * FLOAT32 * num_params),
    ]


def whole_steps(detector, step, batch, samples) -> list[Stage]:
    optimizer = SGD(step.parameters(), lr=1e-6, momentum=0.9, weight_decay=1e-4)

    def one_step(rng, given):
        detector.zero_grad()
        step.backward(step.forward(batch, rng, samples=given)[1])
        optimizer.step()

    return [
        Stage("whole step, same samples", lambda: one_step(None, samples)),
        Stage("whole step, sampling included", lambda: one_step(np.random.default_rng(0), None)),
    ]


def median_call(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        function()
        times.append(time.perf_counter() - tic)
    return float(np.median(times))


def measure(stages: list[Stage], repeats: int, rounds: int) -> None:
    """Interleaved rounds: every stage, then its bare counterpart, in each round."""
    for stage in stages:  # warm up: first-call allocations, caches
        stage.run()
        if stage.bare is not None:
            stage.bare()
    for _ in range(rounds):
        for stage in stages:
            stage.times.append(median_call(stage.run, repeats))
            if stage.bare is not None:
                stage.bare_times.append(median_call(stage.bare, repeats))


def page_faults(function, repeats: int) -> float:
    """Page faults (minor: a fresh page the kernel maps and zeroes) per call of ``function``."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(repeats):
        function()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / repeats


def median_spread(values) -> tuple[float, float]:
    return float(np.median(values)), (max(values) - min(values)) / 2


def rate(amount: float, seconds: float, unit: str) -> str:
    return f"{amount / seconds / 1e9:7.1f} {unit}"


def print_table(stages: list[Stage], totals: list[Stage], repeats: int) -> None:
    print(
        f"{'stage':<30}{'work':>12}{'ms':>8}{'±':>6}{'rate':>14}"
        f"{'bare ms':>9}{'bare rate':>14}{'x bare':>8}"
    )
    for s in stages:
        t, spread = median_spread(s.times)
        if s.flops:
            work, amount, unit = f"{s.flops / 1e6:.1f} MFLOP", s.flops, "GFLOP/s"
        elif s.moved:
            work, amount, unit = f"{s.moved / 1e6:.2f} MB", s.moved, "GB/s"
        else:
            work, amount, unit = "", 0.0, ""
        row = f"{s.name:<30}{work:>12}{1e3 * t:8.3f}{1e3 * spread:6.3f}"
        if s.bare is not None:
            bare = float(np.median(s.bare_times))
            row += f"{rate(amount, t, unit):>14}{1e3 * bare:9.3f}{rate(amount, bare, unit):>14}"
            row += f"{t / bare:8.2f}"
        print(row)
    total = sum(float(np.median(s.times)) for s in stages if not s.sub)
    flops = sum(s.flops for s in stages if not s.sub)
    gemm = sum(float(np.median(s.bare_times)) for s in stages if s.flops and not s.sub)
    print(f"\n{'sum of the stages':<30}{1e3 * total:8.2f} ms")
    print(
        f"{'matrix products in them':<30}{flops / 1e9:8.3f} GFLOP; bare, they take "
        f"{1e3 * gemm:.2f} ms ({flops / gemm / 1e9:.1f} GFLOP/s)"
    )
    for s in totals:
        t, spread = median_spread(s.times)
        faults = page_faults(s.run, repeats)
        print(f"{s.name:<30}{1e3 * t:8.2f} ms ± {1e3 * spread:.2f}, {faults:.0f} page faults")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        type=Path,
        default=Path("runs/benchmark"),
        help="trained run whose weights to use (default: untrained weights if it does not exist)",
    )
    parser.add_argument("--repeats", type=int, default=10, help="calls per timing")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="leave glibc's malloc settings (default: keep freed memory, as minirpn train does)",
    )
    args = parser.parse_args()
    kept = False if args.system_malloc else keep_freed_memory()
    cfg = Config.tiny()
    detector = Detector(cfg, num_classes=len(TOY_CLASS_NAMES), seed=0)
    trained = (args.run / "checkpoint.npz").exists()
    if trained:
        detector.load_params(load_run(args.run).detector.params)
    batch = load_batch(ToyShapes("train"), np.arange(cfg.images_per_batch), None)
    step = ApproximateJoint(detector)
    samples = step.forward(batch, np.random.default_rng(0))[1].samples
    stages = layer_stages(capture(detector, step, batch, samples))
    stages += step_stages(detector, step, batch, samples)
    totals = whole_steps(detector, step, batch, samples)
    measure(stages + totals, args.repeats, args.rounds)
    print(
        f"one training step: {len(batch.images)} images of {batch.images.shape[1]}x"
        f"{batch.images.shape[2]}, {len(samples.rois)} RoIs, float32, "
        f"{'trained run ' + str(args.run) if trained else 'untrained weights (seed 0)'}; "
        f"BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}; median of {args.rounds} rounds "
        f"of {args.repeats} calls; freed memory {'kept' if kept else 'returned (glibc default)'}"
    )
    print_table(stages, totals, args.repeats)


if __name__ == "__main__":
    main()
