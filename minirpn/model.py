"""The tiny Faster R-CNN: backbone → RPN → proposals → RoI pooling → head (F21).

The four parts of the paper (F21), each a call into the module named after it:

1. **feature extraction** — :func:`tiny_backbone`, four 3x3 conv + ReLU stages with three
   2x2 max-poolings: a 128 x 128 image becomes a 64-channel 16 x 16 map (stride 8);
2. **RPN** — :class:`minirpn.rpn.RPNHead` slides over that map (F6); every cell has
   ``cfg.num_anchors`` anchors (F7) centred on the cell's receptive-field centre (F4);
   :func:`minirpn.anchor_target.anchor_targets` labels them (F8, F13) and
   :func:`minirpn.rpn.rpn_loss` scores them (F11);
3. **proposal layer** — :func:`minirpn.proposal.proposal_layer` turns the RPN's output into
   proposals (F15, F16), and :func:`minirpn.proposal_target.proposal_targets` samples the
   RoIs the head trains on (F17);
4. **RoI pooling + classifier** — :func:`minirpn.ops.roi_pool` cuts a 7 x 7 grid out of the
   map for each RoI (F18, F19); two fully connected layers, then a softmax over the classes
   plus background and a class-specific box regression (F17).

Training is *approximate joint training* (F20): the proposals are constants, so the loss
``rpn_cls + rpn_reg + cls + reg`` reaches the shared map along two paths — through the RPN
head and through RoI pooling — and the two gradients are added there before they flow
into the backbone (:meth:`Detector.backward`).

Initialisation (F14): the paper starts its shared layers (VGG-16's convs and fc6, fc7)
from an ImageNet-trained network and draws only the new layers from N(0, 0.01²). No
pre-trained weights exist for this tiny network, so the would-be pre-trained layers
(backbone, fc6, fc7) get He initialisation, which keeps activations at a steady scale
through ReLUs when training from scratch; the new layers (RPN head, cls_score) use the
paper's Gaussian with std 0.01, and bbox_pred std 0.001 as in the original code.

Images enter as uint8 RGB (or floats in [0, 1]); :func:`preprocess` scales them to about
zero mean and unit spread.

One training step by hand (what :func:`minirpn.train.train` does in a loop)::

    detector = Detector(Config.tiny(), num_classes=4)
    detector.zero_grad()
    losses = detector.forward_train(images, gt_boxes, gt_labels, rng)  # 4 floats
    detector.backward()                      # fills detector.grads["head.fc6.weight"], ...
    boxes, scores, labels = detector.detect(image)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from minirpn.anchor_target import AnchorTargets, anchor_targets
from minirpn.anchors import generate_base_anchors, grid_anchors
from minirpn.boxes import clip_boxes, decode
from minirpn.config import Config
from minirpn.datacheck import check_batch
from minirpn.image import as_rgb
from minirpn.nn import (
    Container,
    Conv2d,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
    relu_backward,
    relu_forward,
    smooth_l1,
    softmax,
    softmax_cross_entropy,
)
from minirpn.ops import batched_nms, roi_pool, roi_pool_backward
from minirpn.proposal import proposal_layer
from minirpn.proposal_target import BACKGROUND, ProposalTargets, proposal_targets
from minirpn.receptive_field import input_size, layer_specs, receptive_field
from minirpn.rpn import RPNHead, rpn_loss

LOSS_NAMES = ("rpn_cls", "rpn_reg", "cls", "reg")
COORDS_PER_BOX = 4

# Channels of the backbone's four conv stages; a 2x2 max-pool follows each of the first three.
BACKBONE_CHANNELS = (16, 32, 64, 64)
# Pixel values are scaled to [0, 1], then standardised with these (about the toy data's
# mean and spread), so the first layer sees inputs of unit scale, as He init assumes.
PIXEL_MEAN = 0.5
PIXEL_STD = 0.25
UINT8_MAX = 255.0
# bbox_pred starts 10x smaller than the other new layers, as in py-faster-rcnn: early
# regression outputs then stay close to "no change" while the classifier learns.
BBOX_PRED_STD = 0.001


def tiny_backbone(rng: np.random.Generator, dtype=np.float32) -> Sequential:
    """The shared convolutional layers (F21, part 1): stride 8, 64 output channels.

    conv3x3(3→16) ReLU pool2 → conv3x3(16→32) ReLU pool2 → conv3x3(32→64) ReLU pool2 →
    conv3x3(64→64) ReLU. Padding 1 keeps each conv's size, so an H x W image gives an
    (H // 8) x (W // 8) map; receptive field 38 pixels (F3), cell 0 centred at 4.0 (F4).
    """
    layers = []
    in_channels = 3
    for stage, out_channels in enumerate(BACKBONE_CHANNELS):
        if stage > 0:
            layers.append(MaxPool2d(2, 2))
        layers += [
            Conv2d(in_channels, out_channels, 3, padding=1, init="he", rng=rng, dtype=dtype),
            ReLU(),
        ]
        in_channels = out_channels
    return Sequential(*layers)


def preprocess(images: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Images (N, H, W, 3), uint8 in [0, 255] or float in [0, 1] → network input (N, 3, H, W)."""
    scalar = np.dtype(dtype).type
    x = images.astype(dtype)
    if images.dtype == np.uint8:
        x /= scalar(UINT8_MAX)
    return ((x - scalar(PIXEL_MEAN)) / scalar(PIXEL_STD)).transpose(0, 3, 1, 2)


class TrainTargets(NamedTuple):
    """The sampled targets of one training batch: constants of the loss (F20).

    anchor_targets: one :class:`minirpn.anchor_target.AnchorTargets` per image (F8, F13).
    rois: (R, 5) float, ``(batch_index, x1, y1, x2, y2)`` of the sampled RoIs of all images.
    roi_targets: their :class:`minirpn.proposal_target.ProposalTargets`, concatenated (F17).
    """

    anchor_targets: list[AnchorTargets]
    rois: np.ndarray
    roi_targets: ProposalTargets


class _TrainCache(NamedTuple):
    rpn_dscores: np.ndarray  # (B, 2A, h, w) d loss / d RPN scores
    rpn_ddeltas: np.ndarray  # (B, 4A, h, w)
    dcls: np.ndarray  # (R, C + 1) d loss / d class logits
    dreg: np.ndarray  # (R, 4 (C + 1)) d loss / d box deltas
    rois: np.ndarray  # (R, 5)
    argmax: np.ndarray  # (R, channels, ph, pw) from roi_pool
    features_shape: tuple[int, int, int, int]
    fc6_relu: np.ndarray  # ReLU caches of the head
    fc7_relu: np.ndarray


class Detector(Container):
    """The whole tiny Faster R-CNN, with its parameters and gradients by name.

    Args:
        cfg: configuration (``Config.tiny()``); its ``feat_stride`` must equal the
            backbone's effective stride (8).
        num_classes: C, the number of object classes (labels 1..C; 0 is background).
        seed: seeds the weight initialisation.
        dtype: float32 to train, float64 for gradient checks.

    Parameter names: ``backbone.<i>.weight`` (i = index in the backbone's Sequential),
    ``rpn.conv.weight``, ``rpn.cls_score.weight``, ``rpn.bbox_pred.weight``,
    ``head.fc6.weight``, ``head.fc7.weight``, ``head.cls_score.weight``,
    ``head.bbox_pred.weight`` and the matching ``.bias`` entries.
    """

    def __init__(self, cfg: Config, num_classes: int, *, seed: int = 0, dtype=np.float32):
        if not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        self.cfg = cfg
        self.num_classes = int(num_classes)
        self.dtype = np.dtype(dtype)
        rng = np.random.default_rng(seed)

        self.backbone = tiny_backbone(rng, dtype)
        rf = receptive_field(self.backbone)
        if rf.stride != cfg.feat_stride:
            raise ValueError(
                f"cfg.feat_stride is {cfg.feat_stride} but the backbone's effective "
                f"stride is {rf.stride}: anchors would not line up with the cells"
            )
        # The anchors of cell (i, j) sit on that cell's receptive-field centre (F4, F7).
        self.base_anchors = generate_base_anchors(
            cfg.anchor_base_size, cfg.anchor_ratios, cfg.anchor_scales, center=float(rf.center(0))
        )
        # Smallest input giving a 1 x 1 map: F2 applied from the last layer back to the image.
        size = 1
        for kernel, stride, padding in reversed(layer_specs(self.backbone)):
            size = input_size(size, kernel, stride, padding)
        self.min_image_size = size

        channels = BACKBONE_CHANNELS[-1]
        pooled = channels * cfg.roi_pool_size * cfg.roi_pool_size
        new = dict(init="gaussian", rng=rng, dtype=dtype)
        self.rpn = RPNHead(
            channels, cfg.rpn_channels, cfg.num_anchors, std=cfg.init_std, rng=rng, dtype=dtype
        )
        self.fc6 = Linear(pooled, cfg.fc_channels, init="he", rng=rng, dtype=dtype)
        self.fc7 = Linear(cfg.fc_channels, cfg.fc_channels, init="he", rng=rng, dtype=dtype)
        self.cls_score = Linear(cfg.fc_channels, self.num_classes + 1, std=cfg.init_std, **new)
        self.bbox_pred = Linear(
            cfg.fc_channels, COORDS_PER_BOX * (self.num_classes + 1), std=BBOX_PRED_STD, **new
        )
        super().__init__(
            {
                "backbone": self.backbone,
                "rpn": self.rpn,
                "head.fc6": self.fc6,
                "head.fc7": self.fc7,
                "head.cls_score": self.cls_score,
                "head.bbox_pred": self.bbox_pred,
            }
        )
        self._cache: _TrainCache | None = None
        self.last_targets: TrainTargets | None = None  # the samples of the last forward_train

    # --- parameters ---------------------------------------------------------------

    def load_params(self, params: dict[str, np.ndarray], source: str = "params") -> None:
        """Copy ``params`` (name → array, e.g. from a checkpoint) into the model, in place.

        Raises ValueError naming ``source`` if a name is missing or unknown or a shape differs.
        """
        own = self.params
        missing, unknown = sorted(own.keys() - params.keys()), sorted(params.keys() - own.keys())
        if missing or unknown:
            raise ValueError(
                f"{source} does not fit this model: missing {missing[:3]}, unknown {unknown[:3]}"
            )
        for name, param in own.items():
            if params[name].shape != param.shape:
                raise ValueError(
                    f"{source}: {name} has shape {params[name].shape}, "
                    f"the model expects {param.shape}"
                )
            param[...] = params[name]

    # --- shared pieces --------------------------------------------------------------

    def anchors(self, feat_h: int, feat_w: int) -> np.ndarray:
        """(feat_h * feat_w * A, 4) anchors of a feature map, in the RPN's output order (F7)."""
        return grid_anchors(self.base_anchors, feat_h, feat_w, self.cfg.feat_stride)

    def _head_forward(self, features: np.ndarray, rois: np.ndarray):
        """RoI pooling + fc6 + fc7 + the two siblings (F17, F19)."""
        cfg = self.cfg
        pooled, argmax = roi_pool(features, rois, cfg.roi_pool_size, 1.0 / cfg.feat_stride)
        flat = pooled.reshape(len(rois), -1)  # (R, C * ph * pw)
        h6, relu6 = relu_forward(self.fc6.forward(flat))  # (R, fc)
        h7, relu7 = relu_forward(self.fc7.forward(h6))  # (R, fc)
        return self.cls_score.forward(h7), self.bbox_pred.forward(h7), argmax, relu6, relu7

    # --- training -------------------------------------------------------------------

    def forward_train(
        self,
        images: np.ndarray,
        gt_boxes: list[np.ndarray],
        gt_labels: list[np.ndarray],
        rng: np.random.Generator,
        targets: TrainTargets | None = None,
    ) -> dict[str, float]:
        """Forward pass and losses of one batch; keeps what :meth:`backward` needs.

        Args:
            images: (B, H, W, 3) uint8 (or float in [0, 1]) RGB images of one size.
            gt_boxes: B arrays (G_b, 4) of ground-truth boxes ``(x1, y1, x2, y2)``.
            gt_labels: B int arrays (G_b,) of labels in 1..C.
            rng: generator for the random sampling of anchors and RoIs (unused when
                ``targets`` is given).
            targets: sampled targets to reuse (from :attr:`last_targets`); None samples new
                ones. Fixing them makes the loss a smooth function of the weights, which is
                what the gradient check needs.

        Returns:
            dict with the four losses (:data:`LOSS_NAMES`) as floats. The RPN terms are
            averaged over the images, the head terms over the RoIs of the batch. If the
            RPN's outputs are not finite (a diverging run) all four are NaN and no later
            stage runs.
        """
        check_batch(images, gt_boxes, gt_labels)  # issue 13: a clear message, not an IndexError
        cfg = self.cfg
        batch, height, width, _ = images.shape
        x = preprocess(images, self.dtype)  # (B, 3, H, W)
        features = self.backbone.forward(x)  # (B, C, h, w)
        scores, deltas = self.rpn.forward(features)  # (B, 2A, h, w), (B, 4A, h, w)
        if not (np.isfinite(scores).all() and np.isfinite(deltas).all()):
            self._cache = None
            return dict.fromkeys(LOSS_NAMES, float("nan"))
        if targets is None:
            targets = self._sample_targets(
                scores, deltas, gt_boxes, gt_labels, (height, width), rng
            )
        self.last_targets = targets

        # RPN loss (F11) per image, averaged over the batch.
        rpn_cls = rpn_reg = 0.0
        rpn_dscores, rpn_ddeltas = np.empty_like(scores), np.empty_like(deltas)
        for b in range(batch):
            loss = rpn_loss(scores[b : b + 1], deltas[b : b + 1], targets.anchor_targets[b], cfg)
            rpn_cls += loss.loss_cls / batch
            rpn_reg += loss.loss_reg / batch
            rpn_dscores[b] = loss.dscores[0] / batch
            rpn_ddeltas[b] = loss.ddeltas[0] / batch

        # Second stage (F17): softmax log loss and smooth L1, both averaged over the RoIs.
        cls_logits, box_deltas, argmax, relu6, relu7 = self._head_forward(features, targets.rois)
        t = targets.roi_targets
        loss_cls, dcls = softmax_cross_entropy(cls_logits, t.labels)
        num_rois = max(len(targets.rois), 1)
        loss_reg, dreg = smooth_l1(
            box_deltas,
            t.bbox_targets.astype(self.dtype, copy=False),
            sigma=cfg.head_sigma,
            inside_weights=t.inside_weights,
            outside_weights=t.outside_weights,
        )
        self._cache = _TrainCache(
            rpn_dscores,
            rpn_ddeltas,
            dcls,
            dreg / self.dtype.type(num_rois),
            targets.rois,
            argmax,
            features.shape,
            relu6,
            relu7,
        )
        return {"rpn_cls": rpn_cls, "rpn_reg": rpn_reg, "cls": loss_cls, "reg": loss_reg / num_rois}

    def _sample_targets(self, scores, deltas, gt_boxes, gt_labels, image_size, rng) -> TrainTargets:
        """Anchor targets, proposals and RoI sampling for every image (all constants, F20)."""
        cfg = self.cfg
        anchors = self.anchors(*scores.shape[2:])
        per_image_anchor_targets, rois, roi_targets = [], [], []
        for b in range(len(scores)):
            boxes = np.asarray(gt_boxes[b], dtype=np.float64).reshape(-1, COORDS_PER_BOX)
            per_image_anchor_targets.append(anchor_targets(anchors, boxes, image_size, cfg, rng))
            proposals, _ = proposal_layer(
                scores[b : b + 1], deltas[b : b + 1], anchors, image_size, cfg, train=True
            )
            sampled = proposal_targets(
                proposals, boxes, np.asarray(gt_labels[b]), self.num_classes + 1, cfg, rng
            )
            batch_column = np.full((len(sampled.rois), 1), b, dtype=self.dtype)
            rois.append(np.hstack([batch_column, sampled.rois.astype(self.dtype)]))
            roi_targets.append(sampled)
        merged = ProposalTargets(
            *(np.concatenate(parts) for parts in zip(*roi_targets, strict=True))
        )
        return TrainTargets(per_image_anchor_targets, np.concatenate(rois), merged)

    def backward(self) -> None:
        """Backpropagate the last :meth:`forward_train`'s total loss; accumulate into grads.

        The shared map gets two gradients — from the RPN head and, through RoI pooling,
        from the second stage — which are added before the backbone's backward (F20).
        """
        c = self._cache
        if c is None:
            raise RuntimeError("backward() needs a successful forward_train() first")
        dh7 = relu_backward(
            self.cls_score.backward(c.dcls) + self.bbox_pred.backward(c.dreg), c.fc7_relu
        )
        dh6 = relu_backward(self.fc7.backward(dh7), c.fc6_relu)
        dpooled = self.fc6.backward(dh6).reshape(c.argmax.shape)  # (R, C, ph, pw)
        dfeatures = roi_pool_backward(dpooled, c.rois, c.argmax, c.features_shape)
        dfeatures += self.rpn.backward(c.rpn_dscores, c.rpn_ddeltas)
        self.backbone.backward(dfeatures)
        self._cache = None

    # --- inference ------------------------------------------------------------------

    def detect(self, image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Detect objects in one image (the test-time pipeline).

        Args:
            image: (H, W, 3) RGB, (H, W) grayscale or (H, W, 4) RGBA, uint8 in [0, 255] or
                float in [0, 1], any size of at least :attr:`min_image_size` pixels.

        Returns:
            boxes (D, 4) float32 ``(x1, y1, x2, y2)`` inside the image, scores (D,) float32
            class probabilities above ``cfg.test_score_thresh`` in decreasing order,
            labels (D,) int64 in 1..C. Per-class NMS at ``cfg.test_nms``, at most
            ``cfg.test_max_detections`` (D may be 0).
        """
        cfg = self.cfg
        rgb = as_rgb(image)
        height, width = rgb.shape[:2]
        if min(height, width) < self.min_image_size:
            raise ValueError(
                f"image is {height}x{width} pixels; the backbone needs at least "
                f"{self.min_image_size}x{self.min_image_size}"
            )
        features = self.backbone.forward(preprocess(rgb[None], self.dtype))  # (1, C, h, w)
        scores, deltas = self.rpn.forward(features)
        anchors = self.anchors(*features.shape[2:])
        proposals, _ = proposal_layer(scores, deltas, anchors, (height, width), cfg, train=False)
        rois = np.hstack([np.zeros((len(proposals), 1), self.dtype), proposals.astype(self.dtype)])
        cls_logits, box_deltas = self._head_forward(features, rois)[:2]

        # Column BACKGROUND (0) is "no object", columns 1..C are the classes.
        probs = softmax(cls_logits)[:, BACKGROUND + 1 :]  # (P, C)
        num_props, num_cls = len(proposals), self.num_classes
        # Class-specific boxes (F17): each proposal decoded with the deltas of every class.
        per_class = box_deltas.reshape(num_props, num_cls + 1, COORDS_PER_BOX)
        per_class = per_class[:, BACKGROUND + 1 :]  # (P, C, 4)
        boxes = decode(
            np.repeat(proposals, num_cls, axis=0),
            per_class.reshape(-1, COORDS_PER_BOX),
            cfg.bbox_normalize_means,
            cfg.bbox_normalize_stds,
        )  # (P * C, 4)
        boxes = clip_boxes(boxes, (height, width))
        class_scores = probs.reshape(-1)  # (P * C,) same order as boxes
        labels = np.tile(np.arange(1, num_cls + 1), num_props)  # (P * C,)
        keep = np.flatnonzero(class_scores > cfg.test_score_thresh)
        boxes, class_scores, labels = boxes[keep], class_scores[keep], labels[keep]
        keep = batched_nms(boxes, class_scores, labels, cfg.test_nms)[: cfg.test_max_detections]
        return (
            boxes[keep].astype(np.float32),
            class_scores[keep].astype(np.float32),
            labels[keep].astype(np.int64),
        )
