"""The checks every tool family runs: chart_arithmetic, financial_chart, flag_lookup, pixel_measure, product_price
and tiny_text (the families where tools genuinely help), and the helpers their tests share.

Each tool family is checked for sizes, JSON scenes and answers, and its oracle tool plan is checked by running it:
calculator expressions are evaluated, Python code is executed on the image the agent sees, searches are run on the
shipped knowledge base, zooms are applied to the view, and each plan must lead to an answer that scores 1.
"""

import contextlib
import io
import itertools
import json
import statistics
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pytest

from vista_envs.answers import format_answer, score_answer
from vista_envs.knowledge_base import load_knowledge_base
from vista_envs.tasks import Task, generate_task, get_family
from vista_envs.tasks.drawing import text_extent
from vista_envs.tools.calculator import evaluate
from vista_envs.tools.image_view import ImageView
from vista_envs.tools.search import get_local_search
from vista_envs.tools.toolbox import DEFAULT_TOOLS, validate_arguments

from family_checks import DIFFICULTIES, SIZES, wrong_answer

__all__ = [
    "test_canonical_answer_scores_one_and_a_wrong_answer_scores_zero",
    "test_families_are_registered_as_tool_families",
    "test_images_are_rgb_at_the_requested_size_times_the_detail_scale",
    "test_oracle_tool_plans_are_valid_calls_inside_the_view",
    "test_running_the_oracle_plan_reaches_the_answer",
    "test_scene_is_json_serialisable_and_answer_type_is_right",
]

SEEDS = 40  # per family and difficulty
VIEW = (224, 224)
TOOLS = {tool.name: tool for tool in DEFAULT_TOOLS}
MAX_CALLS_PER_TURN = 4  # VistaTool-v0's default


def task(family: str, seed: int, difficulty: int, size: tuple[int, int] = VIEW) -> Task:
    return generate_task(get_family(family), seed, difficulty, "train", size)


def view_of(generated: Task, size: tuple[int, int] = VIEW) -> ImageView:
    """What the agent sees at reset: the whole source, scaled to the env's image size."""
    return ImageView.full(generated.image, size)


def half_up(value: Decimal, places: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def all_tasks(family: str, seeds: int = SEEDS):
    for difficulty in DIFFICULTIES:
        for seed in range(seeds):
            yield difficulty, seed, task(family, seed, difficulty)


def mean_per_difficulty(family: str, statistic, seeds: int = 30) -> list[float]:
    return [statistics.mean(statistic(task(family, seed, d).spec.scene) for seed in range(seeds)) for d in DIFFICULTIES]


def strictly_rising(values: list[float]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


# The usual family contract ---------------------------------------------------------------------


def test_families_are_registered_as_tool_families(family):
    instance = get_family(family)
    assert instance.tools_help is True
    assert instance.detail_scale == {"tiny_text": 4, "pixel_measure": 1, "flag_lookup": 1}.get(family, 2)


@pytest.mark.parametrize("size", SIZES)
def test_images_are_rgb_at_the_requested_size_times_the_detail_scale(family, size):
    scale = get_family(family).detail_scale
    for difficulty in DIFFICULTIES:
        for seed in range(6):
            generated = task(family, seed, difficulty, size=size)
            assert generated.image.mode == "RGB"
            assert generated.image.size == (size[0] * scale, size[1] * scale)
            assert score_answer(format_answer(generated.spec), generated.spec) == 1.0


def test_scene_is_json_serialisable_and_answer_type_is_right(family):
    expected_types = {"tiny_text": {"number", "text"}, "flag_lookup": {"text"}}.get(family, {"number"})
    for _, _, generated in all_tasks(family, seeds=10):
        spec = generated.spec
        assert json.loads(json.dumps(spec.scene)) == spec.scene
        assert spec.answer_type in expected_types
        if spec.answer_type == "number":
            assert isinstance(spec.answer, (int, float)) and not isinstance(spec.answer, bool)
        else:
            assert isinstance(spec.answer, str) and spec.answer == spec.answer.lower()
        assert 3 <= len(spec.rationale.split()) <= 300


def test_canonical_answer_scores_one_and_a_wrong_answer_scores_zero(family):
    for _, _, generated in all_tasks(family, seeds=20):
        spec = generated.spec
        assert score_answer(format_answer(spec), spec) == 1.0
        assert score_answer(wrong_answer(spec), spec) == 0.0


# Oracle tool plans -----------------------------------------------------------------------------


def printed_box(scene: dict[str, Any]) -> tuple[float, float, float, float]:
    """Source-pixel box of the small print that holds a tiny-text answer."""
    if scene["layout"] == "shelf":
        return tuple(scene["products"][scene["target"]]["tag_bbox"])
    section, key = scene["target"]
    (line,) = [line for line in scene["sections"][section]["lines"] if line["key"] == key]
    width, height = text_extent(f"{key}: {line['value']}", scene["text_px"])
    x, y = line["xy"]
    return x, y - height / 2, x + width, y + height / 2


def run_python(code: str, image: np.ndarray) -> str:
    """Run trusted oracle code the way the sandbox does: ``np`` and ``image`` preloaded, stdout captured."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code, {"np": np, "image": image.copy()})
    return out.getvalue().strip()


def flag_fact(scene: dict[str, Any]) -> tuple[str, str]:
    """(knowledge-base id, fact text) that the flag oracle's search must find."""
    country = load_knowledge_base().country(scene["flags"][scene["target"]]["country"])
    fact = {"continent": country.continent, "capital": country.capital}.get(scene["attribute"], country.currency_code)
    return country.id, fact


def check_step_calls(calls: tuple[dict[str, Any], ...], view: ImageView) -> None:
    assert 1 <= len(calls) <= MAX_CALLS_PER_TURN
    width, height = view.size
    for call in calls:
        assert set(call) == {"name", "arguments"}
        assert call["name"] in TOOLS, call
        assert validate_arguments(TOOLS[call["name"]].parameters, call["arguments"]) is None, call
        arguments = call["arguments"]
        if "x" in arguments:
            assert 0 <= arguments["x"] <= width and 0 <= arguments["y"] <= height
        if "box" in arguments:
            x0, y0, x1, y1 = arguments["box"]
            assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


def test_oracle_tool_plans_are_valid_calls_inside_the_view(family):
    for _, _, generated in all_tasks(family, seeds=20):
        steps = get_family(family).tool_plan(generated.spec)
        assert steps, "a tool family's oracle uses tools"
        for step in steps:
            assert len(step.thought.split()) >= 4
            check_step_calls(step.calls, view_of(generated))
        json.dumps([step.calls for step in steps])


def test_running_the_oracle_plan_reaches_the_answer(family):
    """Every result the plan computes scores 1; searches find the fact; zooms show the answer's print."""
    search = get_local_search()
    for _, _, generated in all_tasks(family, seeds=30):
        spec = generated.spec
        view = view_of(generated)
        computed = None
        for step in get_family(family).tool_plan(spec):
            for call in step.calls:
                name, arguments = call["name"], call["arguments"]
                if name == "calculator":
                    computed = repr(evaluate(arguments["expression"]))
                elif name == "python":
                    computed = run_python(arguments["code"], np.asarray(view.image))
                elif name == "search":
                    hits = search.search(arguments["query"], arguments.get("k", 3)).hits
                    if family == "product_price":
                        product = load_knowledge_base().product(arguments["query"])
                        assert hits[0].id == product.id and f"${product.price:.2f}" in hits[0].snippet
                    else:
                        entry_id, fact = flag_fact(spec.scene)
                        hit = next(h for h in hits if h.id == entry_id)
                        assert fact in hit.snippet
                elif name == "zoom":
                    view = view.zoom(arguments["x"], arguments["y"], arguments["factor"])
        if computed is not None:
            assert score_answer(computed, spec) == 1.0, (spec.question, computed, spec.answer)
        if family == "tiny_text":
            px0, py0, px1, py1 = printed_box(spec.scene)
            x0, y0, x1, y1 = view.region
            assert x0 <= px0 and px1 <= x1 and y0 <= py0 and py1 <= y1, "the zoom shows all of the answer's print"
            assert view.scale >= 1.0, "the zoom shows the print at full resolution"
        else:
            assert computed is not None or family == "flag_lookup"
