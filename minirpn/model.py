"""The tiny Faster R-CNN: backbone → RPN → proposals → RoI pooling → head (F21).

The four parts of the paper (F21), each an object of the module named after it:

1. **feature extraction** — :mod:`minirpn.backbone`: four 3x3 conv + ReLU stages with
   three 2x2 max-poolings: a 128 x 128 image becomes a 64-channel 16 x 16 map (stride 8);
   :meth:`Detector.features` runs it and returns the list of feature maps (one here);
2. **RPN** — :class:`minirpn.rpn.RegionProposalNetwork`: its head slides over the maps
   (F6); every cell has ``cfg.num_anchors`` anchors (F7) centred on the cell's
   receptive-field centre (F4);
3. **proposal layer** — :meth:`RegionProposalNetwork.propose` turns the RPN's output into
   proposals (F15, F16);
4. **RoI pooling + classifier** — :class:`minirpn.roi_head.RoIHead` pools a 7 x 7 grid out
   of the map for each proposal (F18, F19), then classifies it and refines its box (F17).

:class:`Detector` holds these parts and their weights, and runs the test-time pipeline
(:meth:`Detector.detect`). It holds no training state: how the parts are trained —
which targets are sampled, which losses are added, which gradients flow where — is a
training scheme's business (:mod:`minirpn.schemes`, F20). Every ``forward`` returns its
cache to the caller, so nothing stays behind on the model after a call returns.

Usage::

    detector = Detector(Config.tiny(), num_classes=4)
    boxes, scores, labels = detector.detect(image)        # (D, 4), (D,), (D,)
    features, cache = detector.features(images)           # [(B, 64, H / 8, W / 8)]
    rpn_out, rpn_cache = detector.rpn.forward(features)   # scores, deltas, anchors per map
"""

from __future__ import annotations

import numpy as np

from minirpn.backbone import (
    BACKBONE_CHANNELS,
    check_images,
    min_input_size,
    preprocess,
    tiny_backbone,
)
from minirpn.config import Config
from minirpn.image import as_rgb
from minirpn.nn import Container
from minirpn.receptive_field import receptive_field
from minirpn.roi_head import RoIHead, postprocess
from minirpn.rpn import RegionProposalNetwork


class Detector(Container):
    """The whole tiny Faster R-CNN, with its parameters and gradients by name.

    Args:
        cfg: configuration (``Config.tiny()``); its ``feat_stride`` must equal the
            backbone's effective stride (8).
        num_classes: C, the number of object classes (labels 1..C; 0 is background).
        seed: seeds the weight initialisation.
        dtype: float32 to train, float64 for gradient checks.

    Attributes: ``backbone`` (an ``nn.Sequential``), ``rpn``
    (:class:`~minirpn.rpn.RegionProposalNetwork`, whose anchors are centred on cell 0's
    receptive-field centre), ``roi_head`` (:class:`~minirpn.roi_head.RoIHead`),
    ``min_image_size`` (the smallest side giving a 1-cell map).
    Parameter names: ``backbone.<i>.weight`` (i = index in the backbone), ``rpn.conv.weight``,
    ``rpn.cls_score.weight``, ``rpn.bbox_pred.weight``, ``roi_head.fc6.weight``,
    ``roi_head.fc7.weight``, ``roi_head.cls_score.weight``, ``roi_head.bbox_pred.weight`` and
    the matching ``.bias`` entries.
    """

    def __init__(self, cfg: Config, num_classes: int, *, seed: int = 0, dtype=np.float32):
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
            raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
        if num_classes < 1:
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
        # The anchors of cell (i, j) sit on that cell's receptive-field centre (F4, F7),
        # unless the config places them elsewhere.
        center = float(rf.center(0)) if cfg.anchor_center is None else cfg.anchor_center
        self.min_image_size = min_input_size(self.backbone)
        channels = BACKBONE_CHANNELS[-1]
        self.rpn = RegionProposalNetwork(cfg, channels, center, rng=rng, dtype=dtype)
        self.roi_head = RoIHead(channels, self.num_classes, cfg, rng=rng, dtype=dtype)
        super().__init__({"backbone": self.backbone, "rpn": self.rpn, "roi_head": self.roi_head})

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

    def features(self, images: np.ndarray):
        """Images (B, H, W, 3), uint8 or float in [0, 1] -> ``(feature maps, cache)``.

        The maps are a list (the tiny backbone makes one, (B, 64, H // 8, W // 8)); give the
        cache and the maps' gradients to :meth:`features_backward`.
        """
        feature, cache = self.backbone.forward(preprocess(images, self.dtype))
        return [feature], cache

    def features_backward(self, dfeatures: list[np.ndarray], cache) -> None:
        """Backpropagate d loss / d each feature map into the backbone's gradients."""
        (dfeature,) = dfeatures
        self.backbone.backward(dfeature, cache, need_dx=False)  # nobody needs d images

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
        rgb = check_images(as_rgb(image), "image")
        height, width = rgb.shape[:2]
        if min(height, width) < self.min_image_size:
            raise ValueError(
                f"image is {height}x{width} pixels; the backbone needs at least "
                f"{self.min_image_size}x{self.min_image_size}"
            )
        features, _ = self.features(rgb[None])  # [(1, C, h, w)]
        rpn_out, _ = self.rpn.forward(features)
        (proposals,) = self.rpn.propose(rpn_out, (height, width), train=False)
        boxes = proposals.boxes
        rois = np.hstack([np.zeros((len(boxes), 1), self.dtype), boxes.astype(self.dtype)])
        (cls_logits, box_deltas), _ = self.roi_head.forward(features[0], rois)
        return postprocess(boxes, cls_logits, box_deltas, (height, width), cfg)
