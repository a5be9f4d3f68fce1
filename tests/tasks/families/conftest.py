"""What every family's tests get: a ``family`` argument that names the file's family, and its tasks to read.

A family's tests live in ``test_<family>.py``: the file's name says which family its shared checks run for.
"""

from pathlib import Path

import pytest

from family_checks import DIFFICULTIES, tasks


def family_of(module) -> str:
    """The family that ``test_<family>.py`` tests."""
    return Path(module.__file__).stem.removeprefix("test_")


@pytest.hookimpl(trylast=True)  # after the test's own parametrize marks, so the family comes last in its id
def pytest_generate_tests(metafunc):
    """A shared check (it takes ``family``) runs for the family its file is named after."""
    if "family" in metafunc.fixturenames:
        metafunc.parametrize("family", [family_of(metafunc.module)])


@pytest.fixture(scope="module")
def generated(request):
    """The file's family's tasks per difficulty at 224 x 224 (seeds 0 to 79), for the tests that only read them."""
    return {difficulty: tasks(family_of(request.module), difficulty, range(80)) for difficulty in DIFFICULTIES}
