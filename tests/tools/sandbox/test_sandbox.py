"""Functional behaviour of the sandboxed Python interpreter (vista_envs.tools.sandbox).

Every test runs in both isolation modes; bwrap tests are skipped where bubblewrap is unusable.
The attacks (escapes, bombs, crashes) are in test_attacks.py (this folder).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import pytest

from vista_envs.tools import (
    ExecutionResult,
    PythonSandbox,
    SandboxFallbackWarning,
    SandboxUnavailableError,
    bwrap_unavailable_reason,
)
from vista_envs.tools.sandbox import api as sandbox_module

BWRAP_REASON = bwrap_unavailable_reason()
MODES = [
    pytest.param("process"),
    pytest.param("bwrap", marks=pytest.mark.skipif(BWRAP_REASON is not None, reason=f"bwrap unusable: {BWRAP_REASON}")),
]


@pytest.fixture(scope="module", params=MODES)
def sandbox(request: pytest.FixtureRequest) -> Iterator[PythonSandbox]:
    with PythonSandbox(request.param, timeout_s=0.5, max_output_chars=1_000, max_code_chars=5_000) as box:
        yield box


def test_sandbox_reports_the_isolation_it_was_asked_for(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        assert session.isolation == sandbox.isolation in ("bwrap", "process")


def test_globals_persist_between_calls_of_one_session(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        assert session.run("x = 20\ndef double(v):\n    return 2 * v").ok
        result = session.run("print(double(x) + 2)")
    assert result == ExecutionResult("42\n", "", True, None, False, result.duration_s)


def test_sessions_do_not_share_globals(sandbox: PythonSandbox) -> None:
    with sandbox.session() as first, sandbox.session() as second:
        first.run("secret = 'first'")
        result = second.run("print(secret)")
    assert not result.ok
    assert "NameError: name 'secret' is not defined" in result.error


def test_image_is_preloaded_as_an_identical_numpy_array(sandbox: PythonSandbox) -> None:
    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    with sandbox.session(image=image) as session:
        result = session.run("print(type(image).__name__, image.dtype, image.shape, int(image.astype(np.int64).sum()))")
    assert result.stdout == f"ndarray uint8 (224, 224, 3) {int(image.astype(np.int64).sum())}\n"


def test_preloaded_image_is_writable(sandbox: PythonSandbox) -> None:
    with sandbox.session(image=np.zeros((4, 4, 3), np.uint8)) as session:
        result = session.run("image[0, 0] = 255\nint(image.sum())")
    assert result.stdout == "765\n"


def test_set_image_replaces_image_and_keeps_other_globals(sandbox: PythonSandbox) -> None:
    with sandbox.session(image=np.zeros((2, 2, 3), np.uint8)) as session:
        session.run("kept = 7")
        session.set_image(np.full((3, 5), 1.5, np.float32))
        result = session.run("print(image.shape, image.dtype, float(image.sum()), kept)")
        session.set_image(None)
        cleared = session.run("print(image)")
    assert result.stdout == "(3, 5) float32 22.5 7\n"
    assert cleared.stdout == "None\n"


def test_session_without_image_has_image_none_and_numpy_as_np(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        result = session.run("print(image, np.arange(3).sum())")
    assert result.stdout == "None 3\n"


def test_final_expression_is_echoed_like_a_repl_but_none_is_not(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        echoed = session.run("x = [1, 2]\nx + [3]")
        silent = session.run("x.append(4)")
    assert echoed.stdout == "[1, 2, 3]\n"
    assert silent.stdout == ""


def test_exception_is_reported_as_traceback_without_worker_frames(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        result = session.run("def divide(a):\n    return a / 0\ndivide(1)")
    assert not result.ok and not result.timed_out and not result.restarted
    assert result.error.startswith("Traceback (most recent call last):")
    assert "return a / 0" in result.error  # the user's source line is shown
    assert result.error.endswith("ZeroDivisionError: division by zero")
    assert "worker" not in result.error


def test_syntax_error_is_reported_without_a_traceback(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        result = session.run("def f(:\n    pass")
    assert not result.ok
    assert result.error.endswith("SyntaxError: invalid syntax")
    assert "Traceback" not in result.error


def test_stderr_and_warnings_are_captured_apart_from_stdout(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        result = session.run(
            "import sys, warnings\nprint('out')\nprint('err', file=sys.stderr)\nwarnings.warn('careful')"
        )
    assert result.ok
    assert result.stdout == "out\n"
    assert result.stderr.startswith("err\n") and "UserWarning: careful" in result.stderr


def test_output_longer_than_max_output_chars_is_truncated_with_a_note(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        result = session.run("print('a' * 5000)")
    assert result.ok
    assert result.stdout.startswith("a" * 1_000)
    assert result.stdout.endswith("[... 4001 more characters truncated]")


def test_code_longer_than_max_code_chars_is_refused_without_running(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        refused = session.run("x = 1\n" + "#" * 5_000)
        result = session.run("print('x' in globals())")
    assert not refused.ok and "the limit is 5000" in refused.error
    assert result.stdout == "False\n"


def test_sys_exit_ends_the_call_only_and_status_zero_counts_as_success(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        session.run("kept = 1")
        success = session.run("import sys\nprint('before')\nsys.exit(0)\nprint('after')")
        failure = session.run("sys.exit('bad input')")
        after = session.run("print(kept)")
    assert success.ok and success.stdout == "before\n"
    assert not failure.ok and failure.error == "SystemExit: bad input"
    assert after.stdout == "1\n"


def test_code_that_runs_past_the_timeout_is_interrupted_and_globals_are_kept(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        session.run("kept = 'still here'")
        result = session.run("import time\ntime.sleep(30)")
        after = session.run("print(kept)")
    assert result.timed_out and not result.ok and not result.restarted
    assert "ran longer than the 0.5 s time limit" in result.error
    assert 0.5 <= result.duration_s < 1.5
    assert after.stdout == "still here\n"


def test_reading_stdin_gets_end_of_file_instead_of_blocking(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        result = session.run("input()")
    assert result.error.endswith("EOFError: EOF when reading a line")


def test_random_generators_are_seeded_so_sessions_are_reproducible(sandbox: PythonSandbox) -> None:
    code = "import random\nprint(random.random(), np.random.rand(), hash('abc'))"
    with sandbox.session() as first, sandbox.session() as second:
        assert first.run(code).stdout == second.run(code).stdout


def test_scratch_directory_is_the_working_directory_and_writable(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session:
        result = session.run("open('notes.txt', 'w').write('hi')\nprint(open('notes.txt').read())")
    assert result.stdout == "hi\n"


def test_result_text_joins_stdout_stderr_and_error_for_the_agent() -> None:
    result = ExecutionResult("out\n", "warn\n", False, "ValueError: x", False, 0.01)
    silent = ExecutionResult("", "", True, None, False, 0.01)
    restarted = ExecutionResult("2\n", "", True, None, False, 0.01, restarted=True)
    assert result.text == "out\nwarn\nValueError: x"
    assert silent.text == "(no output)"
    assert restarted.text.startswith("2\nThe interpreter was restarted")


def test_run_after_close_raises(sandbox: PythonSandbox) -> None:
    session = sandbox.session()
    session.close()
    session.close()  # closing twice is harmless
    assert session.closed
    with pytest.raises(RuntimeError, match="closed"):
        session.run("1")


def test_non_string_code_raises_type_error(sandbox: PythonSandbox) -> None:
    with sandbox.session() as session, pytest.raises(TypeError, match="code must be a str"):
        session.run(b"print(1)")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "error"),
    [
        ([[1, 2], [3, 4]], TypeError),
        (np.array(["a", "b"]), ValueError),
        (np.zeros((200, 1024, 1024), np.uint8), ValueError),  # over a quarter of memory_mb
    ],
)
def test_images_the_sandbox_cannot_hold_are_rejected(sandbox: PythonSandbox, image: object, error: type) -> None:
    with pytest.raises(error):
        sandbox.session(image=image)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "docker"}, {"timeout_s": 0}, {"memory_mb": -1}, {"pool_size": -1}, {"max_output_chars": 0}],
)
def test_invalid_constructor_arguments_raise_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        PythonSandbox(**kwargs)


@pytest.fixture
def bwrap_unusable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend bubblewrap cannot start, and that no fallback warning was issued yet."""
    monkeypatch.setitem(sandbox_module._bwrap_probe, "reason", "bubblewrap is not installed")
    monkeypatch.setattr(sandbox_module, "_warned_about_fallback", False)


@pytest.mark.usefixtures("bwrap_unusable")
def test_auto_mode_without_bwrap_falls_back_to_process_and_warns_once() -> None:
    with pytest.warns(SandboxFallbackWarning, match="'process' isolation because bubblewrap is unusable"):
        first = PythonSandbox("auto", pool_size=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = PythonSandbox("auto", pool_size=0)
    assert first.isolation == second.isolation == "process"
    first.close()
    second.close()


@pytest.mark.usefixtures("bwrap_unusable")
def test_bwrap_mode_without_bwrap_raises_a_clear_error() -> None:
    with pytest.raises(SandboxUnavailableError, match="mode='bwrap' was requested but bubblewrap is unusable"):
        PythonSandbox("bwrap")


@pytest.mark.skipif(BWRAP_REASON is not None, reason=f"bwrap unusable: {BWRAP_REASON}")
def test_auto_mode_uses_bwrap_when_it_works() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with PythonSandbox("auto", pool_size=0) as sandbox:
            assert sandbox.isolation == "bwrap"
