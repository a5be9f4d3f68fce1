"""Answer extraction, normalisation and verification: known-right and known-wrong inputs per answer type."""

import pytest

from vista_envs.answers import box_iou, format_answer, get_response_format, is_correct, score_answer
from vista_envs.answers.normalize import parse_number, parse_sequence, parse_time
from vista_envs.tasks import TaskSpec


def spec(answer, answer_type, **kwargs):
    return TaskSpec(question="q", answer=answer, answer_type=answer_type, scene={}, rationale="r", **kwargs)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("3", 3), ("three", 3), ("3.0", 3), ("Three.", 3), ("There are 3 circles.", 3), ("twenty-one", 21),
        ("$1,234.50", 1234.5), ("45°", 45), ("45 degrees", 45), ("12.5%", 12.5), ("-7", -7), ("45px", 45),
        ("one hundred and five", 105), ("3 (three)", 3),
    ],
)  # fmt: skip
def test_numbers_in_any_common_form_parse(text, expected):
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["3 or 4", "", "many", "between 2 and 5", "x3"])
def test_ambiguous_or_missing_numbers_do_not_parse(text):
    assert parse_number(text) is None


def test_number_verifier_uses_the_task_tolerance():
    exact = spec(3, "number")
    assert score_answer("three", exact) == 1.0
    assert score_answer("4", exact) == 0.0
    assert score_answer("3.4", exact) == 0.0
    tolerant = spec(40, "number", tolerance=2)
    assert score_answer("41.5", tolerant) == 1.0
    assert score_answer("42", tolerant) == 1.0
    assert score_answer("42.5", tolerant) == 0.0


def test_text_verifier_ignores_case_articles_punctuation_plural_and_accepts_aliases():
    gray = spec("gray", "text", aliases=("grey",))
    for right in ["gray", "Gray.", "the gray", " GREY "]:
        assert score_answer(right, gray) == 1.0, right
    for wrong in ["green", "gray-blue", "", "not gray"]:
        assert score_answer(wrong, gray) == 0.0, wrong
    assert score_answer("circles", spec("circle", "text")) == 1.0


@pytest.mark.parametrize(
    "text, expected", [("yes", 1.0), ("Yes, it is.", 1.0), ("TRUE", 1.0), ("no", 0.0), ("maybe", 0.0)]
)
def test_yes_no_verifier(text, expected):
    assert score_answer(text, spec("yes", "yes_no")) == expected


def test_choice_verifier_accepts_letters_and_option_text():
    choice = spec("B", "choice", choices=("red", "blue", "green"))
    for right in ["B", "b", "(B)", "B) blue", "Option B", "blue", "B."]:
        assert score_answer(right, choice) == 1.0, right
    for wrong in ["A", "green", "D", "", "Bee"]:
        assert score_answer(wrong, choice) == 0.0, wrong


def test_box_verifier_scores_iou_and_success_at_half():
    box = spec((10, 10, 30, 30), "box")
    assert score_answer("[10, 10, 30, 30]", box) == 1.0
    assert score_answer("(30,30),(10,10)", box) == 1.0  # corners in any order
    half = score_answer("[10, 10, 30, 20]", box)
    assert half == pytest.approx(0.5)
    assert is_correct(half, box)
    assert not is_correct(score_answer("[0, 0, 12, 12]", box), box)
    assert score_answer("[10, 10, 30]", box) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_sequence_verifier_accepts_common_separators():
    order = spec(("C", "A", "B"), "sequence")
    for right in ["C, A, B", "C -> A -> B", "c a b", "CAB", "C → A → B", "frames C then A then B"]:
        assert parse_sequence(right) == ("C", "A", "B"), right
        assert score_answer(right, order) == 1.0
    assert score_answer("A, B, C", order) == 0.0
    assert score_answer("C, A", order) == 0.0


@pytest.mark.parametrize(
    "text, expected", [("3:05", "3:05"), ("03:05", "3:05"), ("15:05", "3:05"), ("3 o'clock", "3:00"), ("0:30", "12:30")]
)
def test_times_parse_to_a_twelve_hour_dial(text, expected):
    assert parse_time(text) == expected


def test_time_verifier():
    assert score_answer("15:05", spec("3:05", "time")) == 1.0
    assert score_answer("3:06", spec("3:05", "time")) == 0.0
    assert score_answer("3:05 or 4:05", spec("3:05", "time")) == 0.0


@pytest.mark.parametrize(
    "value, answer_type, expected",
    [
        (3, "number", "3"),
        (2.5, "number", "2.5"),
        ((1, 2, 3, 4), "box", "[1, 2, 3, 4]"),
        (("B", "A"), "sequence", "B, A"),
        ("3:05", "time", "3:05"),
    ],
)
def test_format_answer_round_trips_through_the_verifier(value, answer_type, expected):
    task = spec(value, answer_type)
    assert format_answer(task) == expected
    assert score_answer(expected, task) == 1.0


def test_missing_answer_scores_zero():
    assert score_answer(None, spec(3, "number")) == 0.0


class TestResponseFormats:
    fmt = get_response_format("think_answer")

    def test_well_formed_response(self):
        parsed = self.fmt.parse("<think>I count three.</think>\n<answer> 3 </answer>")
        assert (parsed.answer, parsed.reasoning, parsed.well_formed, parsed.error) == (
            "3",
            "I count three.",
            True,
            None,
        )

    @pytest.mark.parametrize(
        "response",
        [
            "3",
            "<answer>3</answer>",
            "<think>x</think>",
            "<think>unclosed <answer>3</answer>",
            "<think>a</think><answer>1</answer><answer>2</answer>",
            "<think>a</think>chatter<answer>1</answer>",
            "preamble <think>a</think><answer>1</answer>",
            "<think>a</think><answer>1</answer> trailing",
            "<think>a</think><think>b</think><answer>1</answer>",
        ],
    )
    def test_malformed_responses_are_flagged_with_a_reason(self, response):
        parsed = self.fmt.parse(response)
        assert not parsed.well_formed
        assert parsed.error

    def test_several_answers_keep_the_last_one(self):
        assert self.fmt.parse("<think>a</think><answer>1</answer><answer>2</answer>").answer == "2"

    def test_boxed_format_takes_the_last_balanced_box(self):
        boxed = get_response_format("boxed")
        parsed = boxed.parse(r"<think>so</think> The answer is \boxed{\frac{1}{2}}.")
        assert parsed.answer == r"\frac{1}{2}" and parsed.well_formed
        assert not boxed.parse(r"<think>so</think> \boxed{1} or \boxed{2}").well_formed
        assert boxed.parse(r"\boxed{unclosed").answer is None

    def test_wrap_produces_a_well_formed_response_in_every_format(self):
        for name in ["think_answer", "boxed", "answer_only"]:
            fmt = get_response_format(name)
            parsed = fmt.parse(fmt.wrap("some reasoning here", "42"))
            assert parsed.well_formed and parsed.answer == "42", name

    def test_unknown_format_is_a_clear_error(self):
        with pytest.raises(ValueError, match="unknown response format"):
            get_response_format("xml")

    def test_junk_is_parsed_in_linear_time(self):
        import time

        junk = "<answer>" * 200_000
        start = time.perf_counter()
        assert not self.fmt.parse(junk).well_formed
        assert time.perf_counter() - start < 2.0
