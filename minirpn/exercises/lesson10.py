"""Exercises of lesson 10, training (F20, F21)."""

from __future__ import annotations

from minirpn.config import Config
from minirpn.data import TOY_SPLIT_SIZES
from minirpn.exercises import Exercise, number_close_to
from minirpn.model import Detector
from minirpn.schemes import ApproximateJoint
from minirpn.schemes.alternating import original_budget, step_iterations
from minirpn.train import learning_rate

ITERATIONS = 700  # the lesson's training run
CFG = Config.tiny(max_iters=ITERATIONS, lr_steps=(int(0.8 * ITERATIONS),), warmup_iters=100)
NUM_CLASSES = 4  # the toy shapes
EPOCHS = ITERATIONS * CFG.images_per_batch / TOY_SPLIT_SIZES["train"]


def _trainable_numbers(frozen) -> int:
    """Numbers the optimiser updates when the stages in ``frozen`` are frozen (F20)."""
    scheme = ApproximateJoint(Detector(CFG, NUM_CLASSES), frozen=frozen)
    return sum(param.size for _, param, _ in scheme.parameters())


HEAD_NUMBERS = _trainable_numbers({"backbone", "rpn"})  # step (iv): only Fast R-CNN's layers
TINY = Config.tiny()
CLI_BUDGET = original_budget(TINY)  # what `minirpn train --scheme alternating` runs
STEP_3 = step_iterations(CLI_BUDGET)[2]  # the RPN's fine-tuning on the frozen shared backbone

EXERCISES = [
    Exercise(
        name="10.epochs",
        verify=number_close_to(
            EPOCHS,
            rtol=0.01,
            mistakes=[
                (ITERATIONS / TOY_SPLIT_SIZES["train"], "each iteration takes 2 images"),
                (ITERATIONS * CFG.images_per_batch, "that is images; divide by the 2,000"),
            ],
        ),
        solution=lambda: EPOCHS,
        wrong=lambda: ITERATIONS / TOY_SPLIT_SIZES["train"],
        explanation="0.7 passes: the detector has not even seen every training image once.",
    ),
    Exercise(
        name="10.lr_at_50",
        verify=number_close_to(
            learning_rate(CFG, 50),
            rtol=0.01,
            mistakes=[
                (CFG.learning_rate * 50 / CFG.warmup_iters, "the warm-up starts at 1/3, not 0"),
                (CFG.learning_rate, "iteration 50 is still inside the 100-iteration warm-up"),
                (CFG.learning_rate * CFG.warmup_factor, "that is the start, iteration 0"),
            ],
        ),
        solution=lambda: learning_rate(CFG, 50),
        wrong=lambda: CFG.learning_rate * 50 / CFG.warmup_iters,
        explanation="halfway from 0.0067 to 0.02: 0.0133.",
    ),
    Exercise(
        name="10.head_numbers",
        verify=number_close_to(
            HEAD_NUMBERS,
            mistakes=[
                (_trainable_numbers({"backbone"}), "step (iv) freezes the RPN head too"),
                (_trainable_numbers(()), "that is every parameter: freeze the shared part"),
                (_trainable_numbers({"rpn"}), "step (iv) freezes the shared backbone too"),
            ],
        ),
        solution=lambda: HEAD_NUMBERS,
        wrong=lambda: _trainable_numbers({"backbone"}),
        explanation=(
            "fc6 alone holds 64 x 7 x 7 x 256 = 802,816 of them: the head is most of the "
            "tiny detector's weights."
        ),
    ),
    Exercise(
        name="10.step3_iters",
        verify=number_close_to(
            STEP_3,
            rtol=0.002,
            mistakes=[
                (
                    step_iterations(TINY)[2],
                    "that is step (iii) of joint training's 2,500; the "
                    "CLI gives alternating the original budget",
                ),
                (
                    CLI_BUDGET.max_iters / 4,
                    "the steps are not equal: 2:1:2:1, like 80k/40k/80k/40k",
                ),
                (
                    CLI_BUDGET.max_iters / 6,
                    "that is a 1-share step, (ii) or (iv); step (iii) has 2",
                ),
                (CLI_BUDGET.max_iters * 2 / 3, "that is steps (i) and (ii) together"),
            ],
        ),
        solution=lambda: STEP_3,
        wrong=lambda: step_iterations(TINY)[2],
        explanation=(
            f"{STEP_3:,} = {CLI_BUDGET.max_iters:,} x 2/6, rounded down: the RPN steps get "
            "twice the Fast R-CNN steps, as in the original code, and the whole budget is "
            "240/70 of joint training's, which is why alternating takes longer."
        ),
    ),
]
