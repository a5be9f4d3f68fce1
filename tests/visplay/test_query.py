"""The grounded-mode query language: results on a hand-made scene, refusals, and the scripted templates."""

import random
import re

import pytest

from vista_envs.tasks import generate_task, get_family
from vista_envs.visplay.query import QueryError, QueryResult, parse_query, run_query
from vista_envs.visplay.scripted import ScriptedQuestioner, TemplateQuestion

# Two red circles (one large, one small), a blue square, a green star; y grows downwards.
SCENE = {
    "objects": [
        {"shape": "circle", "color": "red", "size": "large", "x": 20.0, "y": 30.0},
        {"shape": "circle", "color": "red", "size": "small", "x": 80.0, "y": 90.0},
        {"shape": "square", "color": "blue", "size": "large", "x": 150.0, "y": 40.0},
        {"shape": "star", "color": "green", "size": "small", "x": 60.0, "y": 150.0},
    ]
}


@pytest.mark.parametrize(
    ("program", "value", "answer_type"),
    [
        ("count(filter(color=red, shape=circle))", 2, "number"),
        ("count(filter())", 4, "number"),
        ("count(filter(shape=hexagon))", 0, "number"),
        ("exists(filter(color=green))", "yes", "yes_no"),
        ("exists(filter(color=yellow, shape=star))", "no", "yes_no"),
        ("query(color, filter(shape=square))", "blue", "text"),
        ("query(size, filter(color=red, size=small))", "small", "text"),
        ("query(shape, filter(color=green))", "star", "text"),
        ("relate(filter(size=large, shape=circle), left_of, filter(shape=square))", "yes", "yes_no"),
        ("relate(filter(shape=star), above, filter(shape=square))", "no", "yes_no"),
        ("relate(filter(shape=star), below, filter(color=blue))", "yes", "yes_no"),
        ("relate(filter(shape=square), right_of, filter(shape=star))", "yes", "yes_no"),
        ("more(filter(shape=circle), filter(shape=square))", "yes", "yes_no"),
        ("more(filter(shape=star), filter(shape=square))", "no", "yes_no"),
    ],
)
def test_programs_compute_the_answer_from_the_scene(program, value, answer_type):
    assert run_query(program, SCENE) == QueryResult(value, answer_type)


def test_names_are_case_insensitive_spaces_are_free_and_grey_means_gray():
    assert run_query("  COUNT ( Filter ( Color = RED ) ) ", SCENE).value == 2
    assert (
        run_query("exists(filter(color=grey))", {"objects": [{**SCENE["objects"][0], "color": "gray"}]}).text == "yes"
    )


@pytest.mark.parametrize(
    ("program", "message"),
    [
        ("query(color, filter(shape=hexagon))", "not in the image"),
        ("relate(filter(shape=triangle), left_of, filter(shape=square))", "not in the image"),
        ("query(color, filter(shape=circle))", "ambiguous: 2 objects"),
        ("relate(filter(shape=square), left_of, filter(color=blue))", "with itself"),
        ("count(filter(color=magenta))", "no object can have color=magenta"),
        ("count(filter(shape=dog))", "no object can have shape=dog"),
        ("count(filter(colour=red))", "unknown attribute 'colour'"),
        ("count(filter(color=red, color=blue))", "named twice"),
        ("relate(filter(shape=star), near, filter(shape=square))", "left_of, right_of, above, below"),
        ("query(weight, filter(shape=star))", "one of shape, color, size"),
        ("filter(color=red)", "must end in count"),
        ("count(count(filter()))", "expected an object set"),
        ("count(filter(), filter())", "count takes one object set"),
        ("launch(filter())", "unknown function 'launch'"),
        ("count(filter(color=red)", "never closed"),
        ("count(filter(color=red))) ", "after the end"),
        ("count(filter(color=red)); exit()", "unexpected character ';'"),
        ("__import__('os').system('ls')", "unexpected character"),
        ("count(filter(color=red),)", "expected a name"),
        ("", "empty"),
        ("count", "bare name"),
        ("count(" * 12 + ")" * 12, "nests deeper"),
        ("count(filter(color=red))" + " " * 2000, "over the limit"),
    ],
)
def test_bad_or_ungrounded_programs_are_refused_with_a_reason(program, message):
    with pytest.raises(QueryError, match=re.escape(message)):
        run_query(program, SCENE)


def test_objects_level_with_each_other_have_no_left_right_answer():
    scene = {"objects": [{**SCENE["objects"][0], "x": 50.0}, {**SCENE["objects"][2], "x": 50.0}]}
    with pytest.raises(QueryError, match="level"):
        run_query("relate(filter(shape=circle), left_of, filter(shape=square))", scene)


@pytest.mark.parametrize("scene", [{}, {"objects": "none"}, {"objects": [{"shape": "circle"}]}, None])
def test_a_scene_without_a_proper_object_list_is_refused(scene):
    with pytest.raises(QueryError, match="objects|keys"):
        run_query("count(filter())", scene)


def test_a_non_string_program_is_refused():
    with pytest.raises(QueryError, match="str"):
        parse_query(42)


@pytest.mark.parametrize("family", ["counting", "attributes", "spatial", "comparison", "grounding", "odd_one_out"])
def test_scripted_questions_read_back_as_themselves_and_their_programs_run(family):
    questioner = ScriptedQuestioner()
    for seed in range(15):
        scene = generate_task(get_family(family), seed, 1 + seed % 5).spec.scene
        questioner.difficulty = seed / 14
        question, truth = questioner.propose(scene, random.Random(seed))
        assert TemplateQuestion.read(question.text) == question
        assert run_query(question.program, scene) == truth


def test_text_that_is_not_a_template_question_is_not_read_as_one():
    for text in ["How many unicorns are there?", "Is there a red?", "What is the meaning of the star?", ""]:
        assert TemplateQuestion.read(text) is None


def count_answers(questioner: ScriptedQuestioner, draws: int = 400) -> list[int]:
    """The true answers of the "How many ...?" questions ``questioner`` asks about attributes scenes."""
    answers = []
    for seed in range(draws):
        scene = generate_task(get_family("attributes"), seed, 1).spec.scene
        question, truth = questioner.propose(scene, random.Random(seed))
        if question.kind == "count":
            answers.append(int(truth.value))
    return answers


def test_scripted_count_questions_name_objects_in_the_scene_unless_absent_counts_is_set():
    default = count_answers(ScriptedQuestioner())
    assert default and min(default) >= 1  # every count names an object that is there
    mixed = count_answers(ScriptedQuestioner(absent_counts=0.5))
    zeros = sum(answer == 0 for answer in mixed) / len(mixed)
    assert 0.25 < zeros < 0.75 and max(mixed) >= 1  # about half name something absent, the rest something there
    assert min(count_answers(ScriptedQuestioner(absent_counts=1.0))) == 0


def test_absent_counts_changes_the_count_questions_and_must_be_a_share():
    scene = generate_task(get_family("attributes"), 3, 1).spec.scene
    asked = [ScriptedQuestioner().ask(scene, random.Random(seed)) for seed in range(50)]
    assert asked != [ScriptedQuestioner(absent_counts=1.0).ask(scene, random.Random(seed)) for seed in range(50)]
    with pytest.raises(ValueError, match="absent_counts must be a share"):
        ScriptedQuestioner(absent_counts=1.5)
