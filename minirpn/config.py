"""One frozen configuration for the whole detector, passed explicitly.

``Config()`` holds the defaults of the Faster R-CNN paper (Ren et al., 2015) and of
its reference implementation (py-faster-rcnn) for VGG-16 on PASCAL VOC. ``Config.tiny()``
is the small-scale preset the tiny detector trains with on the toy data.

No module reads a global: every function that needs a hyper-parameter takes the
config (or the single value) as an argument. Derive a variant with
``dataclasses.replace(cfg, rpn_nms_thresh=0.6)``.

Every field is checked on construction (``__post_init__``), so a bad value -- a negative
learning rate, ``images_per_batch=0``, a NaN threshold, ``"many"`` iterations in a hand-edited
checkpoint -- is refused at once with one ``ValueError`` naming the field and the value,
instead of failing somewhere in the middle of training. Numbers are normalised on the way
in: float fields hold Python floats, int fields Python ints, sequence fields tuples.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
from dataclasses import dataclass

RPN_LOSS_NORMALIZATIONS = ("anchor_locations", "minibatch")


@dataclass(frozen=True)
class Config:
    # --- anchors (F7) -----------------------------------------------------
    anchor_base_size: int = 16
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)  # h / w
    anchor_scales: tuple[float, ...] = (8.0, 16.0, 32.0)
    feat_stride: int = 16  # effective stride of the shared feature map (F3)
    # x = y centre of cell 0's anchors in image pixels; None: the cell's receptive-field
    # centre (F4), which is where this code and the paper put them. 0 puts them on the
    # cells' corners, as torchvision's AnchorGenerator does.
    anchor_center: float | None = None

    # --- RPN head (F6) ----------------------------------------------------
    rpn_channels: int = 512  # 256 for ZF, 512 for VGG-16

    # --- anchor targets (F8, F13) ----------------------------------------
    rpn_positive_overlap: float = 0.7
    rpn_negative_overlap: float = 0.3
    rpn_batch_size: int = 256
    rpn_fg_fraction: float = 0.5
    rpn_allowed_border: float = 0.0

    # --- RPN loss (F11, F12) ---------------------------------------------
    rpn_sigma: float = 3.0  # smooth-L1 sigma of the original RPN
    rpn_lambda: float = 10.0
    # "anchor_locations": cls / N_cls + lambda * reg / N_reg with N_reg the number of
    # anchor locations (the paper, F11); "minibatch": both terms divided by the number
    # of sampled anchors and lambda = 1 (what py-faster-rcnn's released code does).
    rpn_loss_normalization: str = "anchor_locations"
    rpn_n_reg: int | None = None  # None: the number of anchor locations (H * W)

    # --- proposal layer (F15, F16) ---------------------------------------
    rpn_nms_thresh: float = 0.7
    rpn_pre_nms_top_n_train: int = 12000
    rpn_post_nms_top_n_train: int = 2000
    rpn_pre_nms_top_n_test: int = 6000
    rpn_post_nms_top_n_test: int = 300
    rpn_min_size: float = 16.0  # in pixels of the original image, times the image scale

    # --- proposal targets / second stage (F17) ---------------------------
    roi_batch_size: int = 128
    roi_fg_fraction: float = 0.25
    roi_fg_thresh: float = 0.5
    roi_bg_thresh_hi: float = 0.5
    roi_bg_thresh_lo: float = 0.1
    bbox_normalize_means: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    bbox_normalize_stds: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)
    roi_pool_size: int = 7  # F19: the output grid of either RoI layer
    # The head's RoI layer, a name in minirpn.roi_ops.ROI_OPS: "pool" is the paper's RoI max
    # pooling (F19); "align" is RoIAlign (bilinear samples, no rounding, F20 (3)).
    roi_op: str = "pool"
    roi_align_sampling_ratio: int = 2  # bilinear samples per bin side (roi_op "align")
    roi_align_aligned: bool = True  # half-pixel shift of the projected corners ("align")
    head_sigma: float = 1.0  # smooth-L1 sigma of the Fast R-CNN head
    # Non-approximate joint training (F20 (3)): weight of the head's gradient through the
    # RoI coordinates into the RPN's deltas (1: the exact gradient of the summed loss).
    roi_coord_grad_weight: float = 1.0
    fc_channels: int = 4096

    # --- inference --------------------------------------------------------
    test_nms: float = 0.3
    test_score_thresh: float = 0.05
    test_max_detections: int = 100

    # --- optimisation (SGD with momentum) ---------------------------------
    learning_rate: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 0.0005
    lr_steps: tuple[int, ...] = (50000,)
    lr_gamma: float = 0.1
    max_iters: int = 70000
    init_std: float = 0.01  # Gaussian init of new layers (F14)
    images_per_batch: int = 1  # images per SGD iteration (the paper's RPN: 1)
    # Linear warm-up of the learning rate from warmup_factor * lr over warmup_iters
    # iterations (0: none, as the paper, whose backbone starts pre-trained).
    warmup_iters: int = 0
    warmup_factor: float = 1.0 / 3.0
    # Iterations of the 4 steps of alternating training (F20 (1)); () splits max_iters
    # 2:1:2:1 as py-faster-rcnn's 80k/40k/80k/40k (minirpn.schemes.alternating). When
    # given, the four must add up to max_iters.
    alternating_iters: tuple[int, ...] = ()
    # Train on every image and its mirror image (minirpn.batching.flip_horizontally), as the
    # paper's code does (py-faster-rcnn's TRAIN.USE_FLIPPED). False by default so that a
    # checkpoint written before this field existed keeps the training it had.
    flip: bool = False

    def __post_init__(self):
        for name, (kind, *bounds) in _FIELD_RULES.items():
            value = _checked(name, getattr(self, name), kind, *bounds)
            object.__setattr__(self, name, value)  # frozen: the normalised value goes in here
        _check_order(self, "rpn_negative_overlap", "rpn_positive_overlap")
        _check_order(self, "roi_bg_thresh_lo", "roi_bg_thresh_hi")
        steps = self.alternating_iters
        if steps and (len(steps) != 4 or sum(steps) != self.max_iters):
            raise ValueError(
                f"alternating_iters must be 4 iteration counts adding up to max_iters "
                f"({self.max_iters}), got {steps!r}"
            )

    @property
    def num_anchors(self) -> int:
        """k, the number of anchors per feature-map cell (F7)."""
        return len(self.anchor_ratios) * len(self.anchor_scales)

    @classmethod
    def tiny(cls, **overrides) -> Config:
        """Small-scale preset for the tiny detector on the toy data (CPU, minutes)."""
        values = dict(
            anchor_base_size=8,
            anchor_scales=(2.0, 4.0, 8.0),
            feat_stride=8,
            rpn_channels=64,
            rpn_batch_size=128,
            rpn_pre_nms_top_n_train=2000,
            rpn_post_nms_top_n_train=300,
            rpn_pre_nms_top_n_test=1000,
            rpn_post_nms_top_n_test=100,
            rpn_min_size=4.0,
            roi_batch_size=64,
            fc_channels=256,
            # Trained from scratch (no pre-trained backbone exists for this network), so a
            # higher rate than the paper's 0.001 after a short warm-up; 2500 iterations of
            # 2 images (2.5 passes over the 2000 toy images; the mAP they reach over seeds
            # and BLAS kernels: benchmarks/seeds.py).
            images_per_batch=2,
            learning_rate=0.02,
            warmup_iters=100,
            lr_steps=(2000,),
            max_iters=2500,
            # No horizontal flips: the toy shapes are mirror-symmetric and their backgrounds
            # run in every direction, so mirrored images are more of the same; measured
            # over seeds and BLAS kernels, flips change neither mAP beyond the spread of
            # seeds (benchmarks/flip.py), and without them the shipped weights stay valid.
            flip=False,
            # Non-approximate joint training only: the exact gradient through the RoI
            # coordinates is many times the RPN loss's own (lesson 10 prints the ratio on
            # one batch) and would drive the RPN at this learning rate; with a tenth of it
            # the scheme trains as well as approximate joint training with RoIAlign (the
            # "schemes" table of docs/paper_claims.md).
            roi_coord_grad_weight=0.1,
        )
        values.update(overrides)
        return cls(**values)

    # --- (de)serialisation: checkpoints store the config as JSON ----------
    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str | os.PathLike | None = None) -> Config:
        """The config of a JSON object as :meth:`to_json` writes it, checked like any other.

        source: where the text comes from (a checkpoint file), named in every error.
        Raises ValueError for invalid JSON, unknown fields and bad values.
        """
        where = "config JSON" if source is None else f"config in {str(source)!r}"
        try:
            raw = json.loads(text)
        except ValueError as error:  # JSONDecodeError, or an integer of over 4300 digits
            raise ValueError(f"{where} is not valid JSON ({error})") from None
        except RecursionError:
            raise ValueError(f"{where} is nested too deeply to be a config") from None
        if not isinstance(raw, dict):
            raise ValueError(f"{where} must be a JSON object, got {type(raw).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"{where} has unknown fields {unknown}")
        # JSON has no tuples; __post_init__ turns the lists back into tuples.
        try:
            return cls(**raw)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None


# --- validation -------------------------------------------------------------------------
# field -> (kind, lower bound, upper bound); the bounds are inclusive, None means none.
_POSITIVE_INT = ("int", 1, None)

# Upper bounds of the size fields. A config also comes from a checkpoint, which may be
# hand-edited or hostile: fc_channels=10**8 would allocate terabytes, and a loop over
# roi_align_sampling_ratio=10**7 samples would never end. Each bound is far above what
# the paper or this code uses and still fits in memory and time on an ordinary machine.
#
# The largest fully connected layer: VGG-16's. fc6 with the largest RoI grid then holds
# 4096 x 64 x 14 x 14 = 51 M weights (205 MB in float32, three copies while training).
MAX_FC_CHANNELS = 4096
# The RoI grid side: 7 in the paper, 14 for Mask R-CNN's mask head.
MAX_ROI_POOL_SIZE = 14
# RoIAlign samples per bin side: torchvision's adaptive grid picks ceil(RoI cells / bins),
# a handful for a large RoI. 16 is 16 x 16 = 256 bilinear samples per bin, 64 times the
# default's cost.
MAX_SAMPLING_RATIO = 16
# The RPN's 3x3 conv: 512 for VGG-16, 2048 the widest ResNet stage.
MAX_RPN_CHANNELS = 2048
# Anchor ratios or scales: 3 of each in the paper; the RPN predicts len x len per cell.
MAX_ANCHOR_SHAPES = 16
# Counts of boxes: sampled anchors and proposals kept before NMS (the paper: 256, 12000)
# cost memory in proportion, 10**6 is more than the anchors of a 4000x4000 image at stride
# 16 (560 k); RoIs per image through the head (the paper: 128 sampled, 300 proposals at
# test time) cost ~ 4 fc_channels values each: 10**4 of them are 160 MB per layer.
MAX_ANCHOR_COUNT = 10**6
MAX_ROI_COUNT = 10**4
# Images per batch: minirpn.memory refuses a batch that does not fit with a better message
# (naming --batch-size and the largest that fits); this bound only keeps the sizes' products
# far from overflowing.
MAX_IMAGES_PER_BATCH = 10**6
# Iterations (the paper: 70 k): the loss history keeps 4 floats per iteration.
MAX_ITERATIONS = 10**7
# Pixel sizes of anchors and strides: larger than any image minirpn decodes in full.
MAX_PIXELS_SIDE = 2**16
# Other sequences: learning-rate drops (1 or 2 in the papers), the 4 alternating steps.
MAX_STEPS = 64
_PROBABILITY = ("float", 0.0, 1.0)
_POSITIVE_FLOAT = ("float", 0.0, None, "exclusive")
_NON_NEGATIVE_FLOAT = ("float", 0.0, None)


def _roi_ops():
    """The RoI layers' registry, :data:`minirpn.roi_ops.ROI_OPS`, imported when a config is
    checked rather than with this module: ``import minirpn`` must not load NumPy, so that the
    command line can still choose NumPy's BLAS threads (:mod:`minirpn.cli`)."""
    from minirpn.roi_ops import ROI_OPS

    return ROI_OPS


_FIELD_RULES = {
    "anchor_base_size": ("int", 1, MAX_PIXELS_SIDE),
    "anchor_ratios": ("positive floats", None, MAX_ANCHOR_SHAPES),
    "anchor_scales": ("positive floats", None, MAX_ANCHOR_SHAPES),
    "feat_stride": ("int", 1, MAX_PIXELS_SIDE),
    "anchor_center": ("float or None", None, None),
    "rpn_channels": ("int", 1, MAX_RPN_CHANNELS),
    "rpn_positive_overlap": _PROBABILITY,
    "rpn_negative_overlap": _PROBABILITY,
    "rpn_batch_size": ("int", 1, MAX_ANCHOR_COUNT),
    "rpn_fg_fraction": _PROBABILITY,
    "rpn_allowed_border": ("float or inf", 0.0, None),  # inf: keep every anchor
    "rpn_sigma": _POSITIVE_FLOAT,
    "rpn_lambda": _NON_NEGATIVE_FLOAT,
    "rpn_loss_normalization": ("choice", RPN_LOSS_NORMALIZATIONS),
    "rpn_n_reg": ("int or None", 1, MAX_ANCHOR_COUNT),
    "rpn_nms_thresh": _PROBABILITY,
    "rpn_pre_nms_top_n_train": ("int", 1, MAX_ANCHOR_COUNT),
    "rpn_post_nms_top_n_train": ("int", 1, MAX_ROI_COUNT),
    "rpn_pre_nms_top_n_test": ("int", 1, MAX_ANCHOR_COUNT),
    "rpn_post_nms_top_n_test": ("int", 1, MAX_ROI_COUNT),
    "rpn_min_size": _NON_NEGATIVE_FLOAT,
    "roi_batch_size": ("int", 1, MAX_ROI_COUNT),
    "roi_fg_fraction": _PROBABILITY,
    "roi_fg_thresh": _PROBABILITY,
    "roi_bg_thresh_hi": _PROBABILITY,
    "roi_bg_thresh_lo": _PROBABILITY,
    "bbox_normalize_means": ("finite floats", 4),
    "bbox_normalize_stds": ("positive floats", 4),
    "roi_pool_size": ("int", 1, MAX_ROI_POOL_SIZE),
    "roi_op": ("choice", _roi_ops),  # the registry itself: a new RoI layer is known at once
    "roi_align_sampling_ratio": ("int", 1, MAX_SAMPLING_RATIO),
    "roi_align_aligned": ("bool",),
    "head_sigma": _POSITIVE_FLOAT,
    "roi_coord_grad_weight": _NON_NEGATIVE_FLOAT,
    "fc_channels": ("int", 1, MAX_FC_CHANNELS),
    "test_nms": _PROBABILITY,
    "test_score_thresh": _PROBABILITY,
    "test_max_detections": ("int", 1, MAX_ROI_COUNT),
    "learning_rate": _POSITIVE_FLOAT,
    "momentum": _PROBABILITY,
    "weight_decay": _NON_NEGATIVE_FLOAT,
    "lr_steps": ("increasing positive ints",),
    "lr_gamma": _POSITIVE_FLOAT,
    "max_iters": ("int", 1, MAX_ITERATIONS),
    "init_std": _POSITIVE_FLOAT,
    "images_per_batch": ("int", 1, MAX_IMAGES_PER_BATCH),
    "warmup_iters": ("int", 0, MAX_ITERATIONS),
    "warmup_factor": _PROBABILITY,
    "alternating_iters": ("positive ints",),  # () or 4, checked in __post_init__
    "flip": ("bool",),
}


def _checked(name: str, value, kind: str, *bounds):
    """``value`` normalised for field ``name`` of the given kind, or ValueError naming both."""
    shown = f"{value!r} ({type(value).__name__})"
    if kind == "choice":
        choices = bounds[0]() if callable(bounds[0]) else bounds[0]
        if value not in choices:
            raise ValueError(f"{name} must be one of {list(choices)}, got {shown}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):  # not 1 or "yes": a typo should not pass
            raise ValueError(f"{name} must be True or False, got {shown}")
        return bool(value)
    if kind in ("int or None", "float or None"):
        return None if value is None else _checked(name, value, kind.split()[0], *bounds)
    if kind.endswith("floats") or kind.endswith("ints"):
        if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
            raise ValueError(f"{name} must be a tuple of numbers, got {shown}")
        length = bounds[0] if bounds else None
        most = bounds[1] if len(bounds) > 1 else MAX_STEPS
        if (length is not None and len(value) != length) or (
            not value and not kind.endswith("ints")
        ):
            expected = f"{length} numbers" if length else "at least one number"
            raise ValueError(f"{name} must hold {expected}, got {value!r}")
        if len(value) > most:
            raise ValueError(f"{name} must hold at most {most} numbers, got {len(value)}")
        if kind.endswith("ints"):  # iteration counts
            items = tuple(
                _checked(f"{name}[{i}]", v, "int", 1, MAX_ITERATIONS) for i, v in enumerate(value)
            )
            in_order = kind.startswith("increasing")
            if in_order and any(b <= a for a, b in zip(items[:-1], items[1:], strict=True)):
                raise ValueError(f"{name} must be strictly increasing, got {value!r}")
            return items
        low, exclusive = (0.0, "exclusive") if kind == "positive floats" else (None, "")
        return tuple(
            _checked(f"{name}[{i}]", v, "float", low, None, exclusive) for i, v in enumerate(value)
        )

    low, high = bounds[0], bounds[1]
    exclusive = len(bounds) > 2
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an int, got {shown}")
        value = int(value)
    else:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {shown}")
        value = float(value)
        if math.isnan(value) or (math.isinf(value) and kind != "float or inf"):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    too_low = low is not None and (value <= low if exclusive else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        if high is not None:
            allowed = f"in [{low}, {high}]"
        else:
            allowed = f"> {low}" if exclusive else f">= {low}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return value


def _check_order(cfg: Config, low: str, high: str) -> None:
    if getattr(cfg, low) > getattr(cfg, high):
        raise ValueError(
            f"{low} ({getattr(cfg, low)!r}) must not exceed {high} ({getattr(cfg, high)!r})"
        )
