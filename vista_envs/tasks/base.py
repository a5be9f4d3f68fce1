"""The task-family protocol: a generator that is a pure function of (seed, difficulty, config) and a verifier.

A family samples a :class:`TaskSpec` (question, ground truth, structured scene: everything but pixels)
from a seeded :class:`random.Random`, then renders it with Pillow. Sampling is cheap, so the split of
a task is decided on its content before anything is drawn: a task belongs to the split that the hash
of its spec falls in, and :func:`generate_task` re-samples until the spec lands in the requested
split. Train, eval and test tasks are therefore disjoint by construction, whatever the seeds.

Adding a family touches one file::

    @register_family
    class CountShapes(TaskFamily):
        name = "counting"
        description = "How many objects of a kind are in the picture?"

        def sample(self, rng, difficulty, size): ...   # -> TaskSpec
        def render(self, spec, size, rng): ...         # -> PIL.Image.Image
"""

from __future__ import annotations

import abc
import dataclasses
import hashlib
import marshal
import numbers
import random
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from PIL import Image

__all__ = [
    "ANSWER_TYPES",
    "AnswerType",
    "FamilyConfig",
    "SPLITS",
    "Split",
    "Task",
    "TaskFamily",
    "TaskSpec",
    "ToolStep",
    "family_names",
    "generate_task",
    "get_family",
    "register_family",
    "split_of",
]

AnswerType = Literal["number", "text", "yes_no", "choice", "box", "sequence", "time"]
ANSWER_TYPES: tuple[str, ...] = ("number", "text", "yes_no", "choice", "box", "sequence", "time")

Split = Literal["train", "eval", "test"]
SPLITS: tuple[str, ...] = ("train", "eval", "test")
# Share of the content-hash space owned by each split, in thousandths.
_SPLIT_BOUNDS = (("train", 800), ("eval", 900), ("test", 1000))
_MAX_SPLIT_ATTEMPTS = 10_000

MIN_DIFFICULTY, MAX_DIFFICULTY = 1, 5


@dataclass(frozen=True)
class TaskSpec:
    """Everything about a task except its pixels.

    Attributes:
        question: the text shown to the agent. For ``choice`` tasks it lists the options.
        answer: the canonical ground truth:
            ``number`` -> int or float; ``text`` -> lower-case str; ``yes_no`` -> "yes" | "no";
            ``choice`` -> the option letter ("A", "B", ...); ``box`` -> (x0, y0, x1, y1) in pixels
            of the observed image; ``sequence`` -> tuple of str (e.g. frame labels in order);
            ``time`` -> "H:MM" on a 12-hour clock ("3:05").
        answer_type: one of :data:`ANSWER_TYPES`; selects the verifier.
        scene: a JSON-serialisable description of what is drawn (objects with shape, colour, size,
            position and bbox; a chart's data; a maze grid; ...). Ground truth follows from it.
        rationale: a short, correct chain of reasoning that ends at the answer (oracle and SFT data).
        choices: the option texts of a ``choice`` task, in letter order.
        aliases: other accepted spellings of a ``text`` answer (e.g. "gray" for "grey").
        tolerance: absolute tolerance of a ``number`` answer (0 means exact).
    """

    question: str
    answer: Any
    answer_type: AnswerType
    scene: dict[str, Any]
    rationale: str
    choices: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    tolerance: float = 0.0

    def __post_init__(self) -> None:
        if self.answer_type not in ANSWER_TYPES:
            raise ValueError(f"unknown answer_type {self.answer_type!r}; expected one of {ANSWER_TYPES}")

    def content_key(self) -> bytes:
        """Bytes that identify the task's content; their hash decides the split.

        marshal format 2 (no object references, so identity never matters) is stable across
        processes and Python versions, and 6x faster than ``repr`` on a typical scene.
        """
        return marshal.dumps((self.question, self.answer, self.answer_type, self.choices, self.scene), 2)


@dataclass(frozen=True)
class ToolStep:
    """One assistant turn of an oracle tool trajectory: a thought and the tool calls it makes.

    ``calls`` are ``{"name": tool, "arguments": {...}}`` dicts (the Hermes/Qwen tool-call shape).
    """

    thought: str
    calls: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Task:
    """A generated task: its spec, the image to show, and where it came from."""

    family: str
    seed: int
    difficulty: int
    split: str
    spec: TaskSpec
    image: Image.Image

    @property
    def question(self) -> str:
        return self.spec.question

    @property
    def answer(self) -> Any:
        return self.spec.answer

    @property
    def answer_type(self) -> str:
        return self.spec.answer_type


@dataclass(frozen=True)
class FamilyConfig:
    """Base of a family's configuration dataclass. Families subclass it with their own knobs."""


ConfigT = TypeVar("ConfigT", bound=FamilyConfig)


class TaskFamily(abc.ABC):
    """A procedural task family: a generator (:meth:`sample` + :meth:`render`) and its verifier.

    Subclasses set :attr:`name` (the id used in ``options={"family": ...}``), :attr:`description`,
    and optionally :attr:`config_cls` (a :class:`FamilyConfig` dataclass of knobs with defaults).
    Both methods must be pure functions of their arguments: all randomness comes from ``rng``.
    The verifier is chosen by the spec's ``answer_type`` (see :mod:`vista_envs.answers`).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    config_cls: ClassVar[type[FamilyConfig]] = FamilyConfig
    # The family draws at ``detail_scale`` x the requested size; envs show a downscaled view and
    # crop/zoom tools read the full-resolution source (tiny text becomes legible only by zooming).
    # Families with detail_scale > 1 must not ask for answers in pixel coordinates.
    detail_scale: ClassVar[int] = 1
    # True for families designed so that tools (python, search, zoom, ...) genuinely help.
    tools_help: ClassVar[bool] = False

    def __init__(self, config: FamilyConfig | dict[str, Any] | None = None):
        if config is None:
            config = self.config_cls()
        elif isinstance(config, dict):
            known = {f.name for f in dataclasses.fields(self.config_cls)}
            unknown = set(config) - known
            if unknown:
                raise ValueError(
                    f"unknown config keys for family {self.name!r}: {sorted(unknown)}; known: {sorted(known)}"
                )
            config = self.config_cls(**config)
        elif not isinstance(config, self.config_cls):
            raise TypeError(f"family {self.name!r} expects a {self.config_cls.__name__}, got {type(config).__name__}")
        self.config = config

    @abc.abstractmethod
    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        """Sample a task's content for an image of ``size = (width, height)`` pixels."""

    @abc.abstractmethod
    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        """Draw ``spec`` as an RGB image of exactly ``size = (width, height)``."""

    def tool_plan(self, spec: TaskSpec) -> list[ToolStep]:
        """The tool calls an oracle makes before answering (none by default: answer directly).

        Coordinates in calls refer to the image as the agent sees it (the requested size).
        """
        return []


_REGISTRY: dict[str, type[TaskFamily]] = {}
FamilyT = TypeVar("FamilyT", bound=type[TaskFamily])


def register_family(cls: FamilyT) -> FamilyT:
    """Class decorator that makes a family available by its ``name``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute `name`")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(f"task family {name!r} is already registered by {_REGISTRY[name].__name__}")
    _REGISTRY[name] = cls
    return cls


_plugins_loaded = False


def _load_family_plugins() -> None:
    """Register the families that installed packages declare (entry-point group ``vista_envs.families``), once.

    An entry point may name a :class:`TaskFamily` subclass (registered here) or a module that registers
    its families on import. One that fails to load is reported by name (see ``vista_envs.plugins``) and
    the others still load.
    """
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True  # first, so a plugin that looks families up while it loads does not recurse
    from vista_envs import plugins

    for entry_point in plugins.declared(plugins.FAMILIES_GROUP):
        try:
            loaded = plugins.load_entry_point(plugins.FAMILIES_GROUP, entry_point)
        except ImportError:
            continue  # reported by name in plugins.plugin_errors()
        try:
            if isinstance(loaded, type) and issubclass(loaded, TaskFamily):
                register_family(loaded)
        except (TypeError, ValueError) as error:  # no name, or a name a built-in family already has
            plugins.report_failure(plugins.FAMILIES_GROUP, entry_point, error)


def family_names() -> tuple[str, ...]:
    """Names of every registered family (built-in and from plugins), sorted."""
    _load_family_plugins()
    return tuple(sorted(_REGISTRY))


def get_family(name: str, config: FamilyConfig | dict[str, Any] | None = None) -> TaskFamily:
    """Instantiate the family registered as ``name``."""
    _load_family_plugins()
    try:
        cls = _REGISTRY[name]
    except KeyError:
        from vista_envs import plugins

        hint = plugins.provider_hint(plugins.FAMILIES_GROUP, name)
        raise ValueError(f"unknown task family {name!r}: {hint}; available: {', '.join(family_names())}") from None
    return cls(config)


def split_of(family: str, spec: TaskSpec) -> str:
    """The split that owns ``spec``: a fixed partition of the content-hash space."""
    digest = hashlib.blake2b(family.encode() + b"\x00" + spec.content_key(), digest_size=8).digest()
    bucket = int.from_bytes(digest, "little") % 1000
    for split, upper in _SPLIT_BOUNDS:
        if bucket < upper:
            return split
    raise AssertionError("unreachable: the split bounds cover [0, 1000)")


def check_difficulty(difficulty: int) -> int:
    """``difficulty`` as an int, if it is a whole number in range (NumPy ints too: vector envs' infos hold them)."""
    if (
        isinstance(difficulty, bool)
        or not isinstance(difficulty, numbers.Integral)
        or not MIN_DIFFICULTY <= difficulty <= MAX_DIFFICULTY
    ):
        raise ValueError(f"difficulty must be an int in [{MIN_DIFFICULTY}, {MAX_DIFFICULTY}], got {difficulty!r}")
    return int(difficulty)


def generate_task(
    family: TaskFamily,
    seed: int,
    difficulty: int,
    split: str = "train",
    size: tuple[int, int] = (224, 224),
) -> Task:
    """Generate the task of ``family`` for ``(seed, difficulty, split, size)``; deterministic across processes.

    The image is ``size`` times the family's ``detail_scale``.

    The spec is re-sampled (with a new attempt number in the seed string) until its content hash
    falls in ``split``: about 1.25 samples for train and 10 for eval/test, which is cheap because
    nothing is drawn until the split is settled.
    """
    check_difficulty(difficulty)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    size = (int(size[0]) * family.detail_scale, int(size[1]) * family.detail_scale)
    for attempt in range(_MAX_SPLIT_ATTEMPTS):
        # A str seed is hashed with SHA-512 by `random`, so it is stable across processes and runs.
        rng = random.Random(f"{family.name}|{difficulty}|{size[0]}x{size[1]}|{split}|{seed}|{attempt}")
        spec = family.sample(rng, difficulty, size)
        if split_of(family.name, spec) == split:
            break
    else:
        raise RuntimeError(
            f"family {family.name!r} produced no {split} task in {_MAX_SPLIT_ATTEMPTS} samples: its content space is "
            "too small"
        )
    image = family.render(spec, size, rng)
    if image.size != size or image.mode != "RGB":
        raise AssertionError(
            f"family {family.name!r} rendered a {image.mode} image of {image.size}, expected RGB {size}"
        )
    return Task(
        family=family.name,
        seed=seed,
        difficulty=difficulty,
        split=split,
        spec=spec,
        image=image,
    )
