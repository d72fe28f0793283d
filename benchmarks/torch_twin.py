"""The tiny detector's twin in PyTorch: same weights, same samples → same losses and gradients.

    python benchmarks/torch_twin.py [--run DIR] [--repeats N]

PyTorch is the reference here, never a dependency of minirpn (install it with
``pip install torch``); without it the script says so and exits.

1. **Check** (float64): our detector samples its anchors and RoIs on a batch of toy
   images; the twin — the same network written with ``torch.nn.functional`` and autograd —
   gets our weights and exactly those samples, and computes the four losses. We compare
   the losses and the gradient of every parameter with our hand-written backward.
   RoI pooling in the twin gathers the feature cells our kernel chose (its argmax), so
   the check covers everything around the kernel; the kernel itself is checked against
   its NumPy twin in tests/test_ops*.py.
2. **Speed** (float32): one training step — forward through both stages, the losses,
   backward, SGD update — of each on the same input and samples, interleaved, median of
   ``--repeats``. Both use one thread (the ``minirpn`` command runs NumPy's BLAS with one
   thread); the twin with two threads is shown too. Targets (issue 24): ours <= 1.0x the
   twin with the same samples, and our full step, which also samples anchors and RoIs
   (anchor targets, proposal layer, NMS, RoI sampling: work the twin does not do),
   <= 1.15x.
3. **RoIHead alone** (float64): :class:`minirpn.roi_head.RoIHead`'s forward outputs and its
   backward (parameter gradients and the feature map's gradient) against
   ``torchvision.ops.roi_pool`` + ``linear`` + ``relu`` with autograd; target: 1e-10.
   Without torchvision, the twin gathers our argmax instead (and says so).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the minirpn command does (see cli.py)

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from minirpn import Config  # noqa: E402
from minirpn.backbone import preprocess  # noqa: E402
from minirpn.batching import load_batch  # noqa: E402
from minirpn.data import TOY_CLASS_NAMES, ToyShapes  # noqa: E402
from minirpn.malloc import keep_freed_memory  # noqa: E402
from minirpn.model import Detector  # noqa: E402
from minirpn.nn import SGD, Conv2d, MaxPool2d, ReLU  # noqa: E402
from minirpn.ops import roi_pool  # noqa: E402
from minirpn.proposal_target import proposal_targets  # noqa: E402
from minirpn.roi_head import RoIHead  # noqa: E402
from minirpn.runs import load_run  # noqa: E402
from minirpn.schemes import LOSS_NAMES, ApproximateJoint  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None
try:
    from torchvision.ops import roi_pool as torchvision_roi_pool
except ImportError:
    torchvision_roi_pool = None

TARGETS = {"minirpn (same samples)": 1.0, "minirpn (full step, samples itself)": 1.15}
TIMING_LR = 1e-6


def smooth_l1_sum(pred, target, sigma, inside, outside):
    """F12 with py-faster-rcnn's sigma and weights, summed (the twin of minirpn.nn.smooth_l1)."""
    sigma2 = sigma * sigma
    x = inside * (pred - target)
    quadratic = x.abs() < 1.0 / sigma2
    per_entry = torch.where(quadratic, 0.5 * sigma2 * x * x, x.abs() - 0.5 / sigma2)
    return (outside * per_entry).sum()


class TorchTwin:
    """The tiny Faster R-CNN's two training losses in PyTorch, parameters named as ours."""

    def __init__(self, detector: Detector, dtype):
        self.detector = detector
        self.cfg = detector.cfg
        self.params = {
            name: torch.tensor(p, dtype=dtype, requires_grad=True)
            for name, p in detector.params.items()
        }

    def backbone(self, x):
        for i, layer in enumerate(self.detector.backbone.layers):
            if isinstance(layer, Conv2d):
                weight = self.params[f"backbone.{i}.weight"]
                bias = self.params[f"backbone.{i}.bias"]
                x = F.conv2d(x, weight, bias, stride=layer.stride, padding=layer.padding)
            elif isinstance(layer, ReLU):
                x = F.relu(x)
            elif isinstance(layer, MaxPool2d):
                x = F.max_pool2d(
                    x, layer.kernel_size, layer.stride, layer.padding, ceil_mode=layer.ceil_mode
                )
            else:
                raise TypeError(f"the twin does not know layer {type(layer).__name__}")
        return x

    def losses(self, x, samples, argmax):
        """The four losses for input x (B, 3, H, W) and our samples and RoI argmax."""
        p, cfg = self.params, self.cfg
        features = self.backbone(x)  # (B, C, h, w)
        batch, channels, feat_h, feat_w = features.shape
        hidden = F.relu(F.conv2d(features, p["rpn.conv.weight"], p["rpn.conv.bias"], padding=1))
        scores = F.conv2d(hidden, p["rpn.cls_score.weight"], p["rpn.cls_score.bias"])
        deltas = F.conv2d(hidden, p["rpn.bbox_pred.weight"], p["rpn.bbox_pred.bias"])
        num_anchors = scores.shape[1] // 2
        rpn_cls = rpn_reg = 0.0
        for b, at in enumerate(samples.anchor_targets):
            # (2A, h, w) -> (h*w*A, 2): the grid-anchor order of minirpn.rpn.flatten_scores.
            logits = scores[b].reshape(num_anchors, 2, feat_h, feat_w)
            logits = logits.permute(2, 3, 0, 1).reshape(-1, 2)  # (h*w*A, 2)
            pred = deltas[b].reshape(num_anchors, 4, feat_h, feat_w)
            pred = pred.permute(2, 3, 0, 1).reshape(-1, 4)  # (h*w*A, 4)
            labels = torch.as_tensor(at.labels)
            rpn_cls = rpn_cls + F.cross_entropy(logits, labels, ignore_index=-1) / batch
            reg = smooth_l1_sum(
                pred,
                torch.as_tensor(at.bbox_targets, dtype=pred.dtype),
                cfg.rpn_sigma,
                torch.as_tensor(at.inside_weights, dtype=pred.dtype),
                1.0,
            )
            rpn_reg = rpn_reg + cfg.rpn_lambda / (feat_h * feat_w) * reg / batch

        # RoI pooling: gather the cells our kernel picked; empty bins (argmax -1) give 0.
        rois = samples.rois
        index = torch.as_tensor(argmax).reshape(len(rois), channels, -1)  # (R, C, ph*pw)
        flat = features.reshape(batch, channels, -1)[torch.as_tensor(rois[:, 0].astype(np.int64))]
        pooled = flat.gather(2, index.clamp(min=0)) * (index >= 0)  # (R, C, ph*pw)
        pooled = pooled.reshape(len(rois), -1)  # (R, C*ph*pw)
        h6 = F.relu(F.linear(pooled, p["roi_head.fc6.weight"], p["roi_head.fc6.bias"]))
        h7 = F.relu(F.linear(h6, p["roi_head.fc7.weight"], p["roi_head.fc7.bias"]))
        cls_logits = F.linear(h7, p["roi_head.cls_score.weight"], p["roi_head.cls_score.bias"])
        box_deltas = F.linear(h7, p["roi_head.bbox_pred.weight"], p["roi_head.bbox_pred.bias"])
        t = samples.roi_targets
        cls = F.cross_entropy(cls_logits, torch.as_tensor(t.labels))
        as_t = lambda a: torch.as_tensor(a, dtype=box_deltas.dtype)  # noqa: E731
        reg = smooth_l1_sum(
            box_deltas,
            as_t(t.bbox_targets),
            cfg.head_sigma,
            as_t(t.inside_weights),
            as_t(t.outside_weights),
        ) / len(rois)
        return {"rpn_cls": rpn_cls, "rpn_reg": rpn_reg, "cls": cls, "reg": reg}


def detector_like(trained: Detector | None, dtype) -> Detector:
    cfg = trained.cfg if trained is not None else Config.tiny()
    detector = Detector(cfg, num_classes=len(TOY_CLASS_NAMES), seed=0, dtype=dtype)
    if trained is not None:
        detector.load_params({k: v.astype(dtype) for k, v in trained.params.items()})
    return detector


def sample(detector, batch):
    """Our forward once: the samples (anchor targets, RoIs) and the RoI-pooling argmax."""
    _, tape = ApproximateJoint(detector).forward(batch, np.random.default_rng(0))
    (features,), _ = detector.features(batch.images)
    cfg = detector.cfg
    _, argmax = roi_pool(features, tape.samples.rois, cfg.roi_pool_size, 1.0 / cfg.feat_stride)
    return tape.samples, argmax


def check(trained, batch) -> None:
    ours = detector_like(trained, np.float64)
    samples, argmax = sample(ours, batch)
    step = ApproximateJoint(ours)
    ours.zero_grad()
    our_losses, tape = step.forward(batch, None, samples=samples)
    step.backward(tape)
    twin = TorchTwin(ours, torch.float64)
    x = torch.as_tensor(preprocess(batch.images, np.float64))
    twin_losses = twin.losses(x, samples, argmax)
    sum(twin_losses.values()).backward()

    print(
        f"check, float64, {len(batch.images)} images, {len(samples.rois)} RoIs, "
        f"{sum((a.labels >= 0).sum() for a in samples.anchor_targets)} sampled anchors:"
    )
    print(f"{'loss':<10}{'minirpn':>14}{'torch twin':>14}{'rel. diff':>11}")
    for name in LOSS_NAMES:
        a, b = our_losses[name], twin_losses[name].item()
        print(f"{name:<10}{a:14.8f}{b:14.8f}{abs(a - b) / max(abs(b), 1e-300):11.1e}")
    worst_name, worst = None, 0.0
    for name, grad in ours.grads.items():
        theirs = twin.params[name].grad.numpy()
        error = np.linalg.norm(grad - theirs) / max(np.linalg.norm(theirs), 1e-300)
        if error > worst:
            worst_name, worst = name, error
    print(
        f"gradients of all {len(ours.grads)} parameter tensors: largest relative difference "
        f"{worst:.1e} ({worst_name})"
    )


def check_roi_head() -> None:
    """RoIHead forward and backward (float64) against roi_pool + linear + relu in PyTorch."""
    cfg = Config.tiny()
    rng = np.random.default_rng(0)
    num_classes = len(TOY_CLASS_NAMES)
    features = rng.standard_normal((2, 64, 16, 16))
    gt = np.array([[10.0, 12.0, 60.0, 50.0], [70.0, 20.0, 120.0, 110.0]])
    corners = rng.uniform(0, 100, size=(200, 2))
    proposals = np.hstack([corners, corners + rng.uniform(8, 60, size=(200, 2))])
    sampled = proposal_targets(proposals, gt, np.array([1, 3]), num_classes, cfg, rng)
    rois = np.hstack([(np.arange(len(sampled.rois)) % 2)[:, None], sampled.rois])
    head = RoIHead(64, num_classes, cfg, rng=np.random.default_rng(1), dtype=np.float64)
    dcls = rng.standard_normal((len(rois), num_classes + 1))
    ddeltas = rng.standard_normal((len(rois), 4 * (num_classes + 1)))
    head.zero_grad()
    (cls_logits, box_deltas), cache = head.forward(features, rois)
    dfeatures = head.backward((dcls, ddeltas), cache).dfeatures

    params = {n: torch.tensor(p, requires_grad=True) for n, p in head.params.items()}
    x = torch.tensor(features, requires_grad=True)
    boxes = torch.tensor(rois)
    if torchvision_roi_pool is not None:
        pooled = torchvision_roi_pool(x, boxes, cfg.roi_pool_size, 1.0 / cfg.feat_stride)
        source = "torchvision.ops.roi_pool"
    else:  # gather the cells our kernel chose; empty bins (argmax -1) give 0
        _, argmax = roi_pool(features, rois, cfg.roi_pool_size, 1.0 / cfg.feat_stride)
        index = torch.as_tensor(argmax).reshape(len(rois), 64, -1)
        flat = x.reshape(2, 64, -1)[torch.as_tensor(rois[:, 0].astype(np.int64))]
        pooled = flat.gather(2, index.clamp(min=0)) * (index >= 0)
        source = "our argmax gathered (torchvision not installed)"
    h = pooled.reshape(len(rois), -1)
    h = F.relu(F.linear(h, params["fc6.weight"], params["fc6.bias"]))
    h = F.relu(F.linear(h, params["fc7.weight"], params["fc7.bias"]))
    twin_cls = F.linear(h, params["cls_score.weight"], params["cls_score.bias"])
    twin_deltas = F.linear(h, params["bbox_pred.weight"], params["bbox_pred.bias"])
    ((twin_cls * torch.tensor(dcls)).sum() + (twin_deltas * torch.tensor(ddeltas)).sum()).backward()

    def rel(a, b):
        return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))

    rows = [
        ("cls_logits", rel(cls_logits, twin_cls.detach().numpy())),
        ("box_deltas", rel(box_deltas, twin_deltas.detach().numpy())),
        ("d features", rel(dfeatures, x.grad.numpy())),
    ] + [(f"d {name}", rel(head.grads[name], params[name].grad.numpy())) for name in params]
    worst = max(error for _, error in rows)
    print()
    print(f"RoIHead alone, float64, {len(rois)} RoIs, pooling by {source}:")
    for name, error in rows:
        print(f"  {name:<22}largest relative difference {error:.1e}")
    print(f"target 1e-10 -> {'met' if worst <= 1e-10 else 'NOT met'} ({worst:.1e})")


def median_seconds(step, repeats):
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        step()
        times.append(time.perf_counter() - tic)
    return float(np.median(times))


def speed(trained, batch, repeats) -> None:
    keep_freed_memory()  # as minirpn train runs (for both: PyTorch allocates with malloc too)
    ours = detector_like(trained, np.float32)
    samples, argmax = sample(ours, batch)
    step = ApproximateJoint(ours)
    twin = TorchTwin(ours, torch.float32)
    x = torch.as_tensor(preprocess(batch.images, np.float32))
    # Each step ends with an SGD update; the tiny rate keeps the repeated steps where they are.
    cfg = ours.cfg
    our_sgd = SGD(
        step.parameters(),
        lr=TIMING_LR,
        momentum=cfg.momentum,
        weight_decay=cfg.weight_decay,
    )
    twin_sgd = torch.optim.SGD(
        twin.params.values(), lr=TIMING_LR, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )

    def our_step():
        ours.zero_grad()
        step.backward(step.forward(batch, None, samples=samples)[1])
        our_sgd.step()

    def our_full_step():
        ours.zero_grad()
        step.backward(step.forward(batch, np.random.default_rng(0))[1])
        our_sgd.step()

    def twin_step():
        twin_sgd.zero_grad()
        sum(twin.losses(x, samples, argmax).values()).backward()
        twin_sgd.step()

    rows = {
        "minirpn (same samples)": [],
        "minirpn (full step, samples itself)": [],
        "torch twin, 1 thread": [],
        "torch twin, 2 threads": [],
    }
    for _ in range(3):  # interleaved rounds, so both see the same machine load
        torch.set_num_threads(1)
        rows["torch twin, 1 thread"].append(median_seconds(twin_step, repeats))
        rows["minirpn (same samples)"].append(median_seconds(our_step, repeats))
        rows["minirpn (full step, samples itself)"].append(median_seconds(our_full_step, repeats))
        torch.set_num_threads(2)
        rows["torch twin, 2 threads"].append(median_seconds(twin_step, repeats))
    best = {name: min(values) for name, values in rows.items()}
    reference = best["torch twin, 1 thread"]
    print()
    print(
        f"one training step, float32, {len(batch.images)} images of "
        f"{batch.images.shape[1]}x{batch.images.shape[2]}, best of 3 medians of {repeats}:"
    )
    print(f"{'':<38}{'ms':>8}{'vs twin (1 thread)':>20}")
    for name, seconds in best.items():
        print(f"{name:<38}{1e3 * seconds:8.2f}{seconds / reference:19.2f}x")
    for name, target in TARGETS.items():
        ratio = best[name] / reference
        verdict = "met" if ratio <= target else "NOT met"
        print(f"target: {name} <= {target:g}x the twin -> {ratio:.2f}x, {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        type=Path,
        default=Path("runs/benchmark"),
        help="trained run whose weights to use (default: untrained weights if it does not exist)",
    )
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    if torch is None:
        print("PyTorch is not installed; 'pip install torch' to run the twin. Skipping.")
        return
    trained = load_run(args.run).detector if (args.run / "checkpoint.npz").exists() else None
    print(
        f"weights: {'trained run ' + str(args.run) if trained else 'untrained (seed 0)'}; "
        f"torch {torch.__version__}"
    )
    batch = load_batch(ToyShapes("train"), np.arange(Config.tiny().images_per_batch), None)
    check(trained, batch)
    check_roi_head()
    speed(trained, batch, args.repeats)


if __name__ == "__main__":
    sys.exit(main())
