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
tiny preset's 2500 become 8571: 2857, 1428, 2857, 1429). With joint training's budget the
step-2 detector, whose backbone starts from random weights here (the paper's starts from
ImageNet), gets too few iterations (``docs/paper_claims.md`` and ``benchmarks/schemes.py``
measure both budgets). One network holds the result: step 2 re-initialises its backbone
and head, step 3 its RPN layers.

Each step is a :class:`~minirpn.schemes.phase.Phase` of training, run by the same loop as
joint training: an :class:`~minirpn.schemes.approximate_joint.ApproximateJoint` step with
the other stages frozen (frozen stages still run forward and report their losses), fed, in
steps 2 and 4, the proposals made at the step's start. :meth:`Alternating.phases` is the
whole plan; :func:`minirpn.train.train` runs it, and a run interrupted in any step resumes
there (the step's proposals are kept in the run folder).
"""

from __future__ import annotations

import dataclasses

from minirpn.schemes.approximate_joint import ApproximateJoint
from minirpn.schemes.phase import Phase

# The steps: a name, the stages each trains (the others are frozen), the stages it starts
# afresh, and whether its RoIs come from proposals made at its start.
STEPS = (
    ("1-rpn", ("backbone", "rpn"), (), False),
    ("2-detector", ("backbone", "roi_head"), ("backbone", "roi_head"), True),
    ("3-rpn", ("rpn",), ("rpn",), False),
    ("4-detector", ("roi_head",), (), True),
)
STEP_SPLIT = (2, 1, 2, 1)  # py-faster-rcnn: 80k RPN, 40k Fast R-CNN, 80k RPN, 40k Fast R-CNN
# Seed offsets of the fresh initialisations of steps 2 and 3 (other weights than step 1's).
FRESH_SEED_OFFSET = {1: 1000, 2: 2000}

# py-faster-rcnn (VOC 2007, VGG-16): 80k + 40k + 80k + 40k alternating, 70k end-to-end.
ORIGINAL_BUDGET_RATIO = 240 / 70


def original_budget(cfg):
    """``cfg`` (a joint training budget) with the original code's alternating budget (F20 (1)).

    ``max_iters`` times 240/70 and the learning-rate steps scaled alike; the warm-up is
    scaled per step by :meth:`Alternating.phases`. ``alternating_iters`` is cleared (the
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


class Alternating:
    """The 4-step alternating training of the original code (F20 (1)): a plan of phases."""

    name = "alternating"
    needs_box_gradient = False

    @staticmethod
    def phases(cfg) -> list[Phase]:
        """The 4 steps as phases, each with its own schedule: ``cfg``'s warm-up and
        learning-rate steps scaled to the step's length (a new solver per step)."""
        phases = []
        for index, (n, (name, trains, fresh, given)) in enumerate(
            zip(step_iterations(cfg), STEPS, strict=True)
        ):
            scale = n / cfg.max_iters
            schedule = dataclasses.replace(
                cfg,
                lr_steps=_scaled_steps(cfg.lr_steps, scale),
                warmup_iters=round(cfg.warmup_iters * scale),
                alternating_iters=(),
                max_iters=n,
            )
            phases.append(
                Phase(
                    name,
                    n,
                    schedule,
                    trains,
                    ApproximateJoint,
                    fresh=fresh,
                    seed_offset=FRESH_SEED_OFFSET.get(index, 0),
                    given_proposals=given,
                )
            )
        return phases
