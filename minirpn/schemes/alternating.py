"""4-step alternating training (F20 (1)), as the original code runs it.

The paper (section 3.2, "4-Step Alternating Training"): first train the RPN; then train a
separate detection network (Fast R-CNN) on the proposals of that RPN, from a fresh
initialisation — the two networks share nothing yet; then initialise the RPN from the
detector's convolutional layers, fix them and fine-tune only the RPN's own layers; last,
with the shared layers still fixed, fine-tune the detector's own layers on the new
proposals. The two networks now share the convolutional layers and form one network::

    step 1  backbone(fresh) ─► RPN(fresh)                      train: backbone, rpn
                        │ proposals of every training image step 2 sees (generated once)
                        ▼
    step 2  backbone(fresh) ─► RoI head(fresh) on step 1's proposals
                                                               train: backbone, roi_head
    step 3  backbone(step 2, fixed) ─► RPN(fresh layers)       train: rpn
                        │ proposals generated once, from this network
                        ▼
    step 4  backbone(step 2, fixed) ─► RoI head(step 2) on step 3's proposals
                                                               train: roi_head

As in py-faster-rcnn: the step-3 RPN's own layers start from a fresh initialisation (its
init model is step 2's detector, which has none), each step has its own solver (fresh
momentum, its own learning-rate schedule: ``cfg``'s warm-up and steps scaled to the step's
length) and the proposals for steps 2 and 4 come from the proposal layer with the
training values (``cfg.rpn_nms_thresh`` = 0.7, ``rpn_pre_nms_top_n_train`` →
``rpn_post_nms_top_n_train``; 12000 → 2000 with the paper's config), computed once at the
start of the step for exactly the images the step will train on.

Iterations per step: ``cfg.alternating_iters``, or by default ``cfg.max_iters`` split
2:1:2:1 as the original's 80k / 40k / 80k / 40k (VOC, VGG-16): 2500 become 833, 417, 833,
417. The budget itself: the original trains its alternating steps 240k iterations where its
end-to-end solver runs 70k; :func:`original_budget` scales a joint training config the same
way, and ``minirpn train --scheme alternating`` uses it unless ``--iters`` is given (the
tiny preset's 2500 become 8571: 2857, 1428, 2857, 1429). With joint training's 2500 the
step-2 detector, whose backbone starts from random weights here (the paper's starts from
ImageNet), gets 417 iterations and mAP@0.5 ends at 0.89-0.94; with the original budget 0.99.
One network (the :class:`~minirpn.model.Detector` given) holds
the result: step 2 re-initialises its backbone and head, step 3 its RPN layers.

Each step is an :class:`~minirpn.schemes.approximate_joint.ApproximateJoint` with the
other stages frozen (frozen stages still run forward and report their losses). The
training loop (:func:`minirpn.train.train`) drives the steps through
:meth:`Alternating.begin_iteration`, which says when a step starts so that it builds the
step's solver. Resuming an alternating run is not supported (the proposals and the step
networks are not in the checkpoint); the loop refuses it with a message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

import numpy as np

from minirpn.backbone import preprocess
from minirpn.model import Detector
from minirpn.proposal import proposal_layer
from minirpn.schemes.approximate_joint import ApproximateJoint
from minirpn.schemes.steps import Targets, sample_anchor_targets, sample_rois

# Stages each step trains (the others are frozen), and what the step starts with.
STEP_TRAINS = (("backbone", "rpn"), ("backbone", "roi_head"), ("rpn",), ("roi_head",))
STEP_SPLIT = (2, 1, 2, 1)  # py-faster-rcnn: 80k RPN, 40k Fast R-CNN, 80k RPN, 40k Fast R-CNN
STAGES = ("backbone", "rpn", "roi_head")
# Seed offsets of the fresh initialisations of steps 2 and 3 (other weights than step 1's).
FRESH_SEED_OFFSET = {1: 1000, 2: 2000}


# py-faster-rcnn (VOC 2007, VGG-16): 80k + 40k + 80k + 40k alternating, 70k end-to-end.
ORIGINAL_BUDGET_RATIO = 240 / 70


def original_budget(cfg):
    """``cfg`` (a joint training budget) with the original code's alternating budget (F20 (1)).

    ``max_iters`` times 240/70 and the learning-rate steps scaled alike; the warm-up is
    scaled per step by :meth:`Alternating.schedule`. ``alternating_iters`` is cleared (the
    2:1:2:1 split of the new total applies).
    """
    total = round(cfg.max_iters * ORIGINAL_BUDGET_RATIO)
    lr_steps = _scaled_steps(cfg.lr_steps, total / cfg.max_iters)
    return dataclasses.replace(cfg, max_iters=total, lr_steps=lr_steps, alternating_iters=())


def _scaled_steps(lr_steps, scale: float) -> tuple[int, ...]:
    """The learning-rate steps of a schedule stretched by ``scale`` (a step at 0 dropped)."""
    return tuple(sorted({round(step * scale) for step in lr_steps} - {0}))


def step_iterations(cfg) -> tuple[int, int, int, int]:
    """The iterations of the 4 steps: ``cfg.alternating_iters`` or ``max_iters`` split 2:1:2:1."""
    if cfg.alternating_iters:
        return tuple(cfg.alternating_iters)
    if cfg.max_iters < len(STEP_SPLIT):
        raise ValueError(
            f"alternating training needs max_iters >= 4 (one per step), got {cfg.max_iters}"
        )
    total = sum(STEP_SPLIT)
    ends = [cfg.max_iters * sum(STEP_SPLIT[: i + 1]) // total for i in range(len(STEP_SPLIT))]
    return tuple(int(b - a) for a, b in zip([0] + ends[:-1], ends, strict=True))  # all >= 1


class _GivenProposals(ApproximateJoint):
    """Approximate joint training whose RoIs are sampled from proposals computed beforehand."""

    def __init__(self, detector, proposals: dict[int, np.ndarray], *, frozen):
        super().__init__(detector, frozen=frozen)
        self.proposals = proposals  # dataset index -> (P, 4) boxes
        self.batch_indices: Sequence[int] = ()

    def sample(self, scores, deltas, gt_boxes, gt_labels, image_size, rng) -> Targets:
        det = self.detector
        anchors = det.anchors(*scores.shape[2:])
        anchor_targets = sample_anchor_targets(anchors, gt_boxes, image_size, det.cfg, rng)
        given = [self.proposals[int(i)].astype(det.dtype, copy=False) for i in self.batch_indices]
        if len(given) != len(scores):
            raise RuntimeError("begin_iteration() must name the images of each batch")
        rois, roi_targets = sample_rois(
            given, gt_boxes, gt_labels, det.num_classes, det.cfg, rng, det.dtype
        )
        return Targets(anchor_targets, rois, roi_targets)


class Alternating:
    """The 4-step alternating training of the original code (F20 (1)).

    Args:
        detector: the network the 4 steps train (steps 2 and 3 re-initialise parts of it).
        seed: seeds the fresh initialisations of steps 2 and 3.

    Use (what :func:`minirpn.train.train` does)::

        scheme = Alternating(detector, seed=0)
        for iteration in range(cfg.max_iters):
            indices = ...                       # dataset indices of this batch
            if scheme.begin_iteration(iteration, indices, step_images, load):
                optimizer = SGD(scheme.parameters(), ...)   # a new step: a new solver
            losses = scheme.forward(images, boxes, labels, rng)
            scheme.backward()
            optimizer.lr = learning_rate(*scheme.schedule(iteration))
            optimizer.step()

    ``step_images(step)`` lists the dataset indices the step trains on (its proposals are
    made for those) and ``load(index)`` reads one training image (H, W, 3).
    """

    name = "alternating"

    def __init__(self, detector, *, seed: int = 0):
        self.detector = detector
        self.seed = seed
        self.iterations = step_iterations(detector.cfg)
        self.starts = tuple(int(s) for s in np.cumsum((0,) + self.iterations[:-1]))
        self.step: int | None = None  # 0-based index of the current step
        self._inner: ApproximateJoint | None = None
        self.proposals: dict[int, np.ndarray] = {}

    # --- which step --------------------------------------------------------------------
    def step_of(self, iteration: int) -> int:
        """0-based step of ``iteration`` (0-based)."""
        return int(np.searchsorted(self.starts, iteration, side="right") - 1)

    def step_range(self, step: int) -> range:
        return range(self.starts[step], self.starts[step] + self.iterations[step])

    def schedule(self, iteration: int):
        """``(step_cfg, iteration_in_step)``: the step's own learning-rate schedule.

        ``step_cfg`` is ``cfg`` with its warm-up and lr steps scaled to the step's length;
        the loop's :func:`minirpn.train.learning_rate` of the pair is the rate.
        """
        cfg = self.detector.cfg
        step = self.step_of(iteration)
        n = self.iterations[step]
        scale = n / cfg.max_iters
        step_cfg = dataclasses.replace(
            cfg,
            lr_steps=_scaled_steps(cfg.lr_steps, scale),
            warmup_iters=round(cfg.warmup_iters * scale),
            alternating_iters=(),
            max_iters=n,
        )
        return step_cfg, iteration - self.starts[step]

    # --- the steps ---------------------------------------------------------------------
    def begin_iteration(
        self,
        iteration: int,
        batch_indices: Sequence[int],
        step_images: Callable[[int], Sequence[int]],
        load: Callable[[int], np.ndarray],
    ) -> bool:
        """Called by the loop before each iteration; True when a new step starts there.

        Args:
            iteration: 0-based iteration about to run.
            batch_indices: the dataset indices of its batch.
            step_images: ``step -> indices`` of every image the step trains on.
            load: ``index -> image (H, W, 3)`` of the training set.
        """
        step = self.step_of(iteration)
        started = step != self.step
        if started:
            self._start_step(step, step_images(step), load)
        if isinstance(self._inner, _GivenProposals):
            self._inner.batch_indices = list(batch_indices)
        return started

    def _start_step(self, step: int, images: Sequence[int], load) -> None:
        det = self.detector
        if step in (1, 3):  # proposals from the network as the previous step left it
            self.proposals = self.generate_proposals(images, load)
        if step == 1:  # a detector of its own: fresh backbone and head
            self._reinitialise(("backbone", "roi_head"), FRESH_SEED_OFFSET[1])
        if step == 2:  # the RPN's own layers start fresh on step 2's backbone
            self._reinitialise(("rpn",), FRESH_SEED_OFFSET[2])
        frozen = set(STAGES) - set(STEP_TRAINS[step])
        if step in (1, 3):
            self._inner = _GivenProposals(det, self.proposals, frozen=frozen)
        else:
            self._inner = ApproximateJoint(det, frozen=frozen)
        self.step = step

    def _reinitialise(self, stages: Sequence[str], offset: int) -> None:
        det = self.detector
        fresh = Detector(det.cfg, det.num_classes, seed=self.seed + offset, dtype=det.dtype)
        for name, param in det.params.items():
            if name.split(".", 1)[0] in stages:
                param[...] = fresh.params[name]

    def generate_proposals(self, indices: Sequence[int], load) -> dict[int, np.ndarray]:
        """Proposals of each image (F15, F16, training top-N), from the current network."""
        det = self.detector
        out = {}
        for index in indices:
            image = load(int(index))
            features = det.backbone.forward(preprocess(image[None], det.dtype))
            scores, deltas = det.rpn.forward(features)
            anchors = det.anchors(*features.shape[2:])
            boxes, _ = proposal_layer(scores, deltas, anchors, image.shape[:2], det.cfg, train=True)
            out[int(index)] = boxes
        return out

    # --- the scheme interface -----------------------------------------------------------
    @property
    def frozen(self) -> frozenset[str]:
        return self._current().frozen

    @property
    def last_targets(self) -> Targets | None:
        return self._current().last_targets

    def parameters(self):
        """``(name, param, grad)`` of the stages the current step trains."""
        return self._current().parameters()

    def forward(self, images, gt_boxes, gt_labels, rng, targets: Targets | None = None):
        """The current step's forward pass and its four losses (frozen stages' too)."""
        return self._current().forward(images, gt_boxes, gt_labels, rng, targets=targets)

    def backward(self) -> None:
        self._current().backward()

    def _current(self) -> ApproximateJoint:
        if self._inner is None:
            raise RuntimeError("call begin_iteration() before the first step")
        return self._inner
