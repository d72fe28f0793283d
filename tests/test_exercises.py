"""Every lesson exercise accepts its reference solution, rejects a plausible mistake, and
says "not done yet" to the placeholder."""

import pytest

from minirpn.exercises import (
    CORRECT,
    NOT_DONE,
    WRONG,
    all_exercises,
    check,
    evaluate,
    number_close_to,
    solution,
)

EXERCISES = all_exercises()


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_solution_is_accepted(name):
    assert evaluate(name, solution(name)).status == CORRECT


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_plausible_mistake_is_rejected_with_a_message(name):
    verdict = evaluate(name, EXERCISES[name].wrong())
    assert verdict.status == WRONG
    assert verdict.message.startswith("not yet: ") and len(verdict.message) > len("not yet: ")


@pytest.mark.parametrize("name", sorted(EXERCISES))
@pytest.mark.parametrize("placeholder", [..., None])
def test_placeholder_is_not_done(name, placeholder):
    assert evaluate(name, placeholder).status == NOT_DONE


def test_names_say_their_lesson():
    for name in EXERCISES:
        lesson, _, short = name.partition(".")
        assert len(lesson) == 2 and lesson.isdigit() and short, name


def test_check_prints_the_verdict(capsys):
    name = sorted(EXERCISES)[0]
    check(name, ...)
    assert capsys.readouterr().out == "not done yet\n"
    check(name, solution(name))
    assert capsys.readouterr().out.startswith("correct")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="no exercise named 'nope'.*01."):
        evaluate("nope", 1)


def test_a_crashing_answer_is_a_wrong_answer():
    def crashes(dout):
        raise IndexError("boom")

    verdict = evaluate("01.bias_gradient", crashes)
    assert verdict.status == WRONG and "IndexError: boom" in verdict.message


def test_number_close_to_names_known_mistakes_and_direction():
    verify = number_close_to(10.0, rtol=0.01, mistakes=[(5.0, "halved")])
    assert verify(10.05) is None
    assert verify(5.0) == "halved"
    assert verify(20.0) == "20 is too large"
    assert verify(1.0) == "1 is too small"
    assert "expected a number" in verify("ten")
    assert "expected a number" in verify(True)


@pytest.mark.parametrize(
    "name, right",
    [
        ("01.smallest_width", 62 * 16 + 1),  # 62 full strides of 16, one pixel into the 63rd
        ("01.im2col_entries", 27 * 224 * 224),  # 3 * 3 * 3 values per column, 224^2 columns
        ("06.he_std", (2 / 576) ** 0.5),
        ("06.shrink_512", 0.48),  # 0.01 * sqrt(4608 / 2) = 0.01 * 48
        ("06.cls_layer_gain", 0.01 * 512**0.5),  # 1x1 conv, fan-in 512, no ReLU: no halving
        ("00.head_multiply_adds", 100 * (64 * 7 * 7 * 256 + 256 * 256)),  # fc6 + fc7, 100 RoIs
        # t = (1, -0.5, 0.5, 0) x (0.1, 0.1, 0.2, 0.2); centre (40 + 4, 50 - 2), w 40 e^0.1
        ("09.decoded_box", (44 - 20 * 2.718281828**0.1, 28.0, 44 + 20 * 2.718281828**0.1, 68.0)),
        ("10.step3_iters", 8571 // 3),  # 2500 x 240/70 = 8571 iterations, step (iii) 2/6
        # The samples' mean is the RoI's centre on the map, (x1 + x2) / 2 / 8 - 0.5: a ramp
        # reads it as its value, so d out / d x1 = 1/2 x 1/8.
        ("11.ramp_gradient", 1 / 16),
        ("11.unaligned_shift", 0.5 * 8),  # half a cell further right, a cell being 8 px
        ("11.align_gradient_total", 7 * 7 * 1.0),  # each bin's weights add up to 1
    ],
)
def test_answers_worked_by_hand_are_accepted(name, right):
    assert evaluate(name, right).status == CORRECT


def test_every_other_width_near_the_answer_is_rejected():
    """993 is the only answer: 992 gives 62 columns, and 994..1008 are not the smallest."""
    for width in range(960, 1030):
        expected = CORRECT if width == 993 else WRONG
        assert evaluate("01.smallest_width", width).status == expected, width


def test_answers_of_several_numbers_say_how_many_are_expected():
    short = evaluate("05.targets_by_hand", (0.1, 0.2, 0.3))
    assert (
        short.status == WRONG and "expected 4 numbers (t_x, t_y, t_w, t_h), got 3" in short.message
    )
    words = evaluate("09.decoded_box", "a box")
    assert words.status == WRONG and "expected 4 numbers (x1, y1, x2, y2)" in words.message
