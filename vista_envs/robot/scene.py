r"""Scoring a model's description of the scene against the ground truth ("understand, then decide").

A ``VistaRobot-v0`` action may describe what the camera shows inside ``<scene>...</scene>``, as free
text ("a red cube, a blue bowl and a green ball on the table") or as a JSON list of objects
(``[{"color": "red", "shape": "cube"}, ...]``). The description is reduced to a set of
(colour, shape) pairs -- a colour word followed within two words by a shape word or synonym
("red cube", "red wooden block", "two green balls") -- and scored against the ground-truth objects by F1:

.. math::

    \text{precision} = \frac{|D \cap G|}{|D|},\quad \text{recall} = \frac{|D \cap G|}{|G|},\quad
    \text{score} = \frac{2\,\text{precision}\cdot\text{recall}}{\text{precision} + \text{recall}}

where :math:`D` is the set of described pairs and :math:`G` the set of objects on the table (every
object, container, zone and distractor; not the robot or the table). No description scores 0.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vista_envs.model_json import loads_model_json
from vista_envs.robot.objects import CONTAINER_SHAPES, OBJECT_SHAPES, SHAPE_SYNONYMS, ZONE
from vista_envs.robot.plan import first_block
from vista_envs.tasks.drawing import COLOR_NAMES

__all__ = ["describe_scene", "extract_scene", "parse_scene_description", "score_scene"]

_SHAPES = set(OBJECT_SHAPES + CONTAINER_SHAPES + (ZONE,))
_COLOR_SYNONYMS = {"grey": "gray", "violet": "purple", "magenta": "pink", "turquoise": "cyan", "teal": "cyan"}
_WORD = re.compile(r"[a-z]+")
_MAX_GAP = 2  # words allowed between a colour and its shape ("red wooden block")


def _shape_of(word: str) -> str | None:
    for candidate in (word, word[:-1] if word.endswith("s") else word, word[:-2] if word.endswith("es") else word):
        candidate = SHAPE_SYNONYMS.get(candidate, candidate)
        if candidate in _SHAPES:
            return candidate
    return None


def _color_of(word: str) -> str | None:
    word = _COLOR_SYNONYMS.get(word, word)
    return word if word in COLOR_NAMES else None


def parse_scene_description(text: str) -> set[tuple[str, str]]:
    """The (colour, shape) pairs a description mentions (free text or a JSON list of objects)."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = loads_model_json(stripped)
        except ValueError:  # not JSON: read as free text
            items = None
        if isinstance(items, list):
            pairs = set()
            for item in items:
                if isinstance(item, dict):
                    color = _color_of(str(item.get("color", item.get("colour", ""))).lower())
                    shape = _shape_of(str(item.get("shape", "")).lower())
                    if color and shape:
                        pairs.add((color, shape))
                elif isinstance(item, str):
                    pairs |= parse_scene_description(item)
            return pairs
    words = _WORD.findall(text.lower())
    pairs = set()
    for i, word in enumerate(words):
        color = _color_of(word)
        if color is None:
            continue
        for follower in words[i + 1 : i + 2 + _MAX_GAP]:
            shape = _shape_of(follower)
            if shape is not None:
                pairs.add((color, shape))
                break
            if _color_of(follower) is not None:
                break
    return pairs


def score_scene(description: str | None, objects: Iterable[dict]) -> float:
    """F1 in [0, 1] of a description against the ground-truth ``objects`` (dicts with "color" and "shape")."""
    if not description:
        return 0.0
    described = parse_scene_description(description)
    truth = {(obj["color"], obj["shape"]) for obj in objects}
    if not described or not truth:
        return 0.0
    hits = len(described & truth)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(described), hits / len(truth)
    return 2 * precision * recall / (precision + recall)


def describe_scene(objects: Iterable[dict]) -> str:
    """A reference description of ``objects`` that scores 1 (used by the oracle)."""
    names = [f"a {obj['color']} {obj['shape']}" for obj in objects]
    if len(names) > 1:
        names[-1] = "and " + names[-1]
    return "On the table: " + (", ".join(names) if len(names) > 2 else " ".join(names)) + "."


def extract_scene(response: str) -> str | None:
    """The contents of the response's ``<scene>`` block, if any."""
    return first_block(response, "scene")
