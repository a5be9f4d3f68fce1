"""The built-in leaderboard agents: random guessing, a scripted heuristic, the oracle, and two
``VistaVideo-v0`` baselines that bound what choosing frames is worth.

They bracket the board with the random guesser: the oracle (``env.unwrapped.oracle()``, always right)
is the ceiling, random guessing is chance, and the scripted agent shows how far simple image
statistics go without any learning. The scripted agent answers in the default
``<think>...</think><answer>...</answer>`` format and understands the ``VisualQA-v0`` observation
(``{"image", "question"}``) and the multi-turn ``VistaTool-v0`` one (``{"image", "text"}`` with the
conversation in ``info["messages"]``).

The video baselines, :class:`VideoOverviewPolicy` (answers from the reset overview alone) and
:class:`VideoLookAllPolicy` (asks for every frame from the first on until the frame budget runs out,
then answers), perceive perfectly: they answer with ``env.unwrapped.observer_answer()``, the best answer
the frames the episode has shown support. They differ from the oracle only in which frames they look
at, so the gap between them and the oracle is the worth of choosing frames. On other envs they play as
the scripted agent.
"""

from __future__ import annotations

import json
import random
import re
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from vista_envs.answers import ResponseFormat, get_response_format
from vista_envs.bench.gui_baselines import ScriptedGUIPolicy, is_gui_episode
from vista_envs.tasks.drawing import COLORS, SHAPES

__all__ = [
    "EnvAwarePolicy",
    "OraclePolicy",
    "RandomGuesser",
    "ScriptedPolicy",
    "SeededPolicy",
    "VideoLookAllPolicy",
    "VideoOverviewPolicy",
    "scripted_answer",
    "task_view",
]

_PALETTE_NAMES = tuple(COLORS)
_PALETTE = np.array([COLORS[name] for name in _PALETTE_NAMES], dtype=np.int32)
# A pixel belongs to a palette colour when it is this close (L2 in RGB) to it and closer than to any
# other: wide enough for the scenes' colour jitter and noise, narrow enough to keep outlines out.
_PALETTE_TOLERANCE = 60
_MIN_BLOB_PIXELS = 12
_RGB_PATTERN = re.compile(r"RGB\s*\(?\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})")


@runtime_checkable
class EnvAwarePolicy(Protocol):
    """A policy that reads the envs themselves (only the oracle should): the runner passes them in batch order."""

    def act_in_envs(
        self, envs: Sequence[gym.Env], observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]
    ) -> list[str]: ...


@runtime_checkable
class SeededPolicy(Protocol):
    """A stochastic policy that draws from one random stream per episode.

    The runner seeds ``rngs[i]`` from episode ``i``'s identity when the episode starts and passes the
    same stream at every turn, so an episode's responses depend neither on which episodes share its
    batch nor on whether the run was interrupted and resumed.
    """

    def act_seeded(
        self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]], rngs: Sequence[random.Random]
    ) -> list[str]: ...


_LETTER_RANGE = re.compile(r"\(([A-Z])\s*-\s*([A-Z])\)")  # "(A-P)"
_LETTER_LIST = re.compile(r"\(([A-Z](?:,\s*[A-Z])+)\)")  # "(A, B, C, D)"
_EITHER_OR_WORDS = re.compile(r"(\w+)\s+or\s+(\w+)\s*\?")  # "...: small or large?"
_FALLBACK_WORDS = (
    "red",
    "green",
    "blue",
    "yellow",
    "purple",
    "gray",
    "circle",
    "square",
    "triangle",
    "star",
    "small",
    "large",
)


class RandomGuesser:
    """The chance baseline: a well-formed response (``<think>...</think><answer>...</answer>``) whose
    answer is a uniformly random guess of the asked type.

    The type is ``info["answer_type"]``; the options are the letters of ``info["options"]`` or those
    the question names ("(A-F)", "(A, B, C)"), else A-D. ``number``: an int in [0, 10]; ``time``: a
    random ``H:MM``; ``text``: a word of an "X or Y?" question, else a common colour/shape/size word;
    ``box``: a random box inside the image. It draws only from the per-episode stream it is given
    (:class:`SeededPolicy`), so its guesses are the same in any batch and after any resume.
    """

    # The answer types it knows; any other is guessed as a number.
    ANSWER_TYPES = ("yes_no", "choice", "sequence", "number", "time", "text", "box")

    def __init__(
        self, response_format: str | ResponseFormat = "think_answer", number_range: tuple[int, int] = (0, 10)
    ) -> None:
        self.response_format = get_response_format(response_format)
        self.number_range = number_range

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        """Unseeded use (outside the bench): one fresh stream per call."""
        return self.act_seeded(observations, infos, [random.Random() for _ in observations])

    def act_seeded(
        self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]], rngs: Sequence[random.Random]
    ) -> list[str]:
        return [
            self.response_format.wrap("A random guess.", self.guess(o, i, r))
            for o, i, r in zip(observations, infos, rngs)
        ]

    @staticmethod
    def _letters(question: str, info: dict[str, Any]) -> list[str]:
        options = info.get("options")
        if isinstance(options, (list, tuple)) and 0 < len(options) <= 26:
            return [chr(ord("A") + i) for i in range(len(options))]
        if match := _LETTER_RANGE.search(question):
            first, last = ord(match.group(1)), ord(match.group(2))
            if first <= last:
                return [chr(code) for code in range(first, last + 1)]
        if match := _LETTER_LIST.search(question):
            return [letter.strip() for letter in match.group(1).split(",")]
        return list("ABCD")

    def guess(self, observation: Any, info: dict[str, Any], rng: random.Random) -> str:
        """A random answer (without the response format) for one episode's turn."""
        observation = observation if isinstance(observation, dict) else {}
        question = str(observation.get("text", ""))
        answer_type = info.get("answer_type")
        if answer_type == "yes_no":
            return rng.choice(("yes", "no"))
        if answer_type == "choice":
            return rng.choice(self._letters(question, info))
        if answer_type == "sequence":
            letters = self._letters(question, info)
            rng.shuffle(letters)
            return ", ".join(letters)
        if answer_type == "time":
            return f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}"
        if answer_type == "text":
            match = _EITHER_OR_WORDS.search(question)
            return rng.choice(match.groups() if match else _FALLBACK_WORDS).lower()
        if answer_type == "box":
            image = observation.get("image")
            height, width = image.shape[:2] if isinstance(image, np.ndarray) and image.ndim == 3 else (224, 224)
            x0, x1 = sorted(rng.sample(range(width + 1), 2))
            y0, y1 = sorted(rng.sample(range(height + 1), 2))
            return f"[{x0}, {y0}, {x1}, {y1}]"
        return str(rng.randint(*self.number_range))  # number, and any type this guesser does not know


def _answer_response(answer: str, reasoning: str) -> str:
    """A response in the default format: reasoning in <think>, the answer in <answer>."""
    return f"<think>{reasoning}</think><answer>{answer}</answer>"


def task_view(observation: dict[str, Any], info: dict[str, Any]) -> tuple[str, np.ndarray]:
    """The question and the task's original image: the first user turn of the episode's conversation.

    The task envs' prompt is the question, then one line on how to answer (and call tools): the question is
    what comes before that line.
    """
    messages = info.get("messages", [])
    first_user = next((m for m in messages if m.get("role") == "user"), None)
    content = first_user["content"] if first_user else observation.get("text", "")
    prompt = (
        content
        if isinstance(content, str)
        else " ".join(p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text")
    )
    question = prompt.rsplit("\n", 1)[0]
    images = info.get("images") or [observation["image"]]
    return question, images[0]


def _option_letters(question: str) -> list[str]:
    """The option letters a question offers: ``(A-I)``, ``A, B, C, D`` or ``A) ... B) ...``."""
    span = re.search(r"\(([A-Z])\s*-\s*([A-Z])\)", question)
    if span:
        return [chr(c) for c in range(ord(span.group(1)), ord(span.group(2)) + 1)]
    listed = re.search(r"\(([A-Z](?:,\s*[A-Z])+)\)", question)
    if listed:
        return re.findall(r"[A-Z]", listed.group(1))
    return re.findall(r"(?:^|\s)([A-Z])[).:]\s", question) or ["A", "B", "C", "D"]


def _either_or(question: str) -> list[str]:
    """The two options of a question ending in ``...: X or Y?``."""
    match = re.search(r":\s*([\w' -]+?)\s+or\s+([\w' -]+?)\s*\?", question)
    return [match.group(1), match.group(2)] if match else []


class OraclePolicy:
    """Plays ``env.unwrapped.oracle()``: a correct response or the next turn of a correct tool trajectory."""

    def act_in_envs(
        self, envs: Sequence[gym.Env], observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]
    ) -> list[str]:
        return [env.unwrapped.oracle() for env in envs]


class VideoOverviewPolicy:
    """``VistaVideo-v0``: answers at once, from the overview frames only (perfect perception)."""

    def act_in_envs(
        self, envs: Sequence[gym.Env], observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]
    ) -> list[str]:
        return [self._turn(env, observation, info) for env, observation, info in zip(envs, observations, infos)]

    def _turn(self, env: gym.Env, observation: dict[str, Any], info: dict[str, Any]) -> str:
        video = env.unwrapped
        if not hasattr(video, "observer_answer"):
            return ScriptedPolicy()._turn(observation, info)
        return video.scorer.format.wrap("I answer from the frames I have seen.", video.observer_answer())


class VideoLookAllPolicy(VideoOverviewPolicy):
    """``VistaVideo-v0``: asks for frames 0, 1, 2, ... in grids, as many calls a turn as allowed, until the
    clip or the frame budget runs out; then answers from everything it saw (perfect perception)."""

    def _turn(self, env: gym.Env, observation: dict[str, Any], info: dict[str, Any]) -> str:
        video = env.unwrapped
        if not hasattr(video, "observer_answer"):
            return ScriptedPolicy()._turn(observation, info)
        tools = video.tools
        start = max(tools.viewed, default=-1) + 1
        if tools.left <= 0 or start >= info["n_frames"]:
            return super()._turn(env, observation, info)
        calls = []
        for _ in range(video.max_calls_per_turn):
            if start >= info["n_frames"]:
                break
            end = min(start + tools.max_grid - 1, info["n_frames"] - 1)
            calls.append(json.dumps({"name": "frames", "arguments": {"start": start, "end": end}}))
            start = end + 1
        return "<think>I look at every frame in order.</think>" + "".join(
            f"<tool_call>{call}</tool_call>" for call in calls
        )


# -- the scripted heuristic -------------------------------------------------------------------------


def _palette_labels(image: np.ndarray) -> np.ndarray:
    """Per pixel, the index of the nearest palette colour within tolerance, else -1."""
    pixels = image[..., :3].astype(np.int32)
    distances = ((pixels[:, :, None, :] - _PALETTE[None, None]) ** 2).sum(axis=-1)
    nearest = distances.argmin(axis=-1)
    close = np.take_along_axis(distances, nearest[..., None], axis=-1)[..., 0] <= _PALETTE_TOLERANCE**2
    return np.where(close, nearest, -1)


def _blobs(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """4-connected components of ``mask`` with at least ``_MIN_BLOB_PIXELS`` pixels, as ``(pixels, x0, y0, x1, y1)``."""
    height, width = mask.shape
    unseen = mask.copy()
    found = []
    for start_y, start_x in zip(*np.nonzero(mask)):
        if not unseen[start_y, start_x]:
            continue
        unseen[start_y, start_x] = False
        queue, pixels = deque([(start_y, start_x)]), 0
        x0, y0, x1, y1 = start_x, start_y, start_x, start_y
        while queue:
            y, x = queue.popleft()
            pixels += 1
            x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x), max(y1, y)
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < height and 0 <= nx < width and unseen[ny, nx]:
                    unseen[ny, nx] = False
                    queue.append((ny, nx))
        if pixels >= _MIN_BLOB_PIXELS:
            found.append((pixels, int(x0), int(y0), int(x1) + 1, int(y1) + 1))
    return found


def _named_colours(text: str) -> list[str]:
    words = re.findall(r"[a-z]+", text.lower().replace("grey", "gray"))
    return [word for word in words if word in COLORS]


def _exact_colour_mask(image: np.ndarray, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.all(image[..., :3] == np.array(rgb, dtype=image.dtype), axis=-1)


def scripted_answer(question: str, image: np.ndarray, answer_type: str | None) -> tuple[str, str]:
    """``(answer, reasoning)`` from the question's wording and simple image statistics, else a fixed guess.

    It measures exact-colour pixels (areas, bar extents, dot distances), counts and boxes blobs of a
    named palette colour, compares two colours' blob counts, and names the most common colour.
    Anything else (shapes, clocks, charts, text, mazes) gets a fixed guess of the asked type.
    """
    lowered = question.lower()
    rgbs = [tuple(int(v) for v in match) for match in _RGB_PATTERN.findall(question)]
    colours = _named_colours(question)
    if rgbs and "how many pixels of the image" in lowered:
        return str(int(_exact_colour_mask(image, rgbs[0]).sum())), "I count the pixels of exactly that colour."
    if rgbs and ("pixels wide" in lowered or "pixels tall" in lowered):
        axis = 0 if "wide" in lowered else 1
        extent = np.flatnonzero(_exact_colour_mask(image, rgbs[0]).any(axis=axis))
        if extent.size:
            return str(int(extent[-1] - extent[0] + 1)), "I measure the span of the pixels of that colour."
    if len(rgbs) >= 2 and "distance" in lowered:
        centres = []
        for rgb in rgbs[:2]:
            ys, xs = np.nonzero(_exact_colour_mask(image, rgb))
            centres.append((xs.mean(), ys.mean()) if xs.size else (0.0, 0.0))
        (ax, ay), (bx, by) = centres
        return str(
            round(float(np.hypot(ax - bx, ay - by)))
        ), "I measure between the centres of the two colours' pixels."
    labels = _palette_labels(image) if colours or "colo" in lowered else None

    def blob_count(colour: str) -> int:
        return len(_blobs(labels == _PALETTE_NAMES.index(colour)))

    if answer_type == "number" and lowered.startswith("how many") and colours:
        return str(blob_count(colours[0])), f"I count the {colours[0]} blobs."
    if answer_type == "box" and colours:
        blobs = _blobs(labels == _PALETTE_NAMES.index(colours[0]))
        if blobs:
            _, x0, y0, x1, y1 = max(blobs)
            return f"[{x0}, {y0}, {x1}, {y1}]", f"I box the largest {colours[0]} blob."
    if len(set(colours)) >= 2 and answer_type in ("yes_no", "text"):
        first, second = colours[0], next(c for c in colours if c != colours[0])
        counts = blob_count(first), blob_count(second)
        reasoning = f"I count {counts[0]} {first} and {counts[1]} {second} blobs."
        if answer_type == "text":
            return (first if counts[0] >= counts[1] else second), reasoning
        if "as many" in lowered:
            return ("yes" if counts[0] == counts[1] else "no"), reasoning
        more = counts[0] > counts[1] if "more" in lowered else counts[0] < counts[1]
        return ("yes" if more else "no"), reasoning
    if answer_type == "text" and re.search(r"\bwhat colou?r\b", lowered) and labels is not None:
        counts = np.bincount(labels[labels >= 0], minlength=len(_PALETTE_NAMES))
        if counts.any():
            return _PALETTE_NAMES[int(counts.argmax())], "I name the most common colour in the image."
    return _fixed_guess(question, answer_type), "I cannot measure this, so I guess."


def _fixed_guess(question: str, answer_type: str | None) -> str:
    if answer_type == "yes_no":
        return "yes"
    if answer_type == "choice":
        return _option_letters(question)[0]
    if answer_type == "sequence":
        return ", ".join(_option_letters(question))
    if answer_type == "time":
        return "12:00"
    if answer_type == "box":
        return "[0, 0, 32, 32]"
    if answer_type == "text":
        options = _either_or(question)
        shapes = [word for word in re.findall(r"[a-z]+", question.lower()) if word in SHAPES]
        return options[0] if options else (shapes[0] if shapes else "circle")
    return "1"


class ScriptedPolicy:
    """A non-learning heuristic baseline (see :func:`scripted_answer`).

    In a tool env it makes one sensible tool call first (Python to count the pixels of an ``RGB``
    colour, a knowledge-base search for a flag question, otherwise a 2x zoom on the image centre),
    then answers from the tool's output where it printed a number, else from its own heuristic.
    In ``VistaGUI-v0`` it plays :class:`vista_envs.bench.gui_baselines.ScriptedGUIPolicy`.
    """

    def __init__(self) -> None:
        self._gui = ScriptedGUIPolicy()

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        return [
            self._gui.act([observation], [info])[0] if is_gui_episode(info) else self._turn(observation, info)
            for observation, info in zip(observations, infos)
        ]

    def _turn(self, observation: dict[str, Any], info: dict[str, Any]) -> str:
        question, image = task_view(observation, info)
        answer_type = info.get("answer_type")
        messages = info.get("messages")
        # VistaVideo-v0's tools fetch frames, not views of this image: there it answers from the overview.
        video = any(t["function"]["name"] == "frames" for t in info.get("tools") or ())
        if info.get("tools") and not video and not any(m.get("role") == "assistant" for m in messages or []):
            return self._tool_call(question, image)
        answer, reasoning = scripted_answer(question, image, answer_type)
        tool_output = next((m.get("content") for m in reversed(messages or []) if m.get("role") == "tool"), None)
        if (
            answer_type == "number"
            and isinstance(tool_output, str)
            and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", tool_output)
        ):
            answer, reasoning = tool_output.strip(), "The Python tool printed the answer."
        return _answer_response(answer, reasoning)

    @staticmethod
    def _tool_call(question: str, image: np.ndarray) -> str:
        rgbs = _RGB_PATTERN.findall(question)
        if rgbs and "how many pixels of the image" in question.lower():
            rgb = ", ".join(rgbs[0])
            call = {"name": "python", "arguments": {"code": f"print(int(np.all(image == ({rgb}), axis=-1).sum()))"}}
        elif "flag" in question.lower():
            call = {"name": "search", "arguments": {"query": question.split("\n")[0]}}
        else:
            height, width = image.shape[:2]
            call = {"name": "zoom", "arguments": {"x": width // 2, "y": height // 2, "factor": 2}}
        return f"<think>I look closer before answering.</think><tool_call>{json.dumps(call)}</tool_call>"
