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
