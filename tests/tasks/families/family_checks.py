"""What the family tests share: the difficulties and sizes they check, the tasks they check, a wrong answer.

Each family has its own file, ``test_<family>.py``. The checks that every family of a kind runs are written once, in
the kind's module (``reading_checks``, ``reasoning_checks``, ``scene_checks``, ``tool_checks``), whose ``__all__``
lists them: a family's file star-imports its kind's module, so that pytest collects those tests there too, and
``conftest.py`` gives them the ``family`` the file is named after (so each test id still names the family).
"""

import random

from vista_envs.tasks import Task, TaskSpec, generate_task, get_family

DIFFICULTIES = (1, 2, 3, 4, 5)
SIZES = ((224, 224), (128, 128), (336, 336), (320, 240))


def specs(family: str, difficulty: int, count: int = 60, size=(224, 224)) -> list[TaskSpec]:
    """The specs of ``family`` for seeds ``0 .. count - 1`` at ``difficulty``: sampled, not drawn (cheap)."""
    fam = get_family(family)
    return [fam.sample(random.Random(seed), difficulty, size) for seed in range(count)]


def tasks(family: str, difficulty: int, seeds, size=(224, 224), config=None) -> list[Task]:
    """The tasks of ``family`` (with ``config``) for ``seeds`` at ``difficulty``, drawn at ``size``."""
    generator = get_family(family, config)
    return [generate_task(generator, seed, difficulty, size=size) for seed in seeds]


def wrong_answer(spec: TaskSpec) -> str:
    """An answer of the spec's type that must score 0."""
    if spec.answer_type == "number":
        return str(spec.answer + spec.tolerance + 1)
    if spec.answer_type == "yes_no":
        return "no" if spec.answer == "yes" else "yes"
    if spec.answer_type == "choice":
        return next(letter for letter in spec.choices if letter != spec.answer)
    if spec.answer_type == "sequence":
        return ", ".join(reversed(spec.answer))
    if spec.answer_type == "box":
        x0, y0, x1, y1 = spec.answer
        width = x1 - x0
        return f"[{x0 + 2 * width}, {y0}, {x1 + 2 * width}, {y1}]"
    if spec.answer_type == "text":
        return spec.answer[::-1] + "x"
    raise AssertionError(f"unexpected answer type {spec.answer_type}")
