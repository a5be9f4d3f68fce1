"""The ``vista-envs`` commands list, show, gallery and play: every env id they accept works, bad input is one line."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
from PIL import Image

import vista_envs
from vista_envs.cli import main
from vista_envs.tasks import family_names


def test_list_names_every_env_and_family(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert all(env_id in out for env_id in vista_envs.ENV_IDS) and all(name in out for name in family_names())


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_show_renders_every_env_and_prints_its_task_as_json(env_id, tmp_path, capsys):
    out = tmp_path / "task.png"
    assert main(["show", env_id, "--seed", "1", "--size", "128", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["image"] == str(out) and isinstance(printed["text"], str) and printed["text"]
    assert Image.open(out).size[0] >= 128


def test_show_of_a_visual_qa_task_gives_its_answer(tmp_path, capsys):
    assert (
        main(["show", "VisualQA-v0", "--family", "clock", "--difficulty", "1", "--out", str(tmp_path / "x.png")]) == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed["family"] == "clock" and printed["answer"].count(":") == 1  # a time such as 3:05


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "VisualQA-v0", "--out", "{tmp}/no-extension"], "must name an image file"),
        (["show", "VisualQA-v0", "--out", "{tmp}/x.txt"], "must name an image file"),
        (["show", "VisualQA-v0", "--out", "{tmp}/a-file/x.png"], "File exists"),
        (["show", "NoSuchEnv-v0"], "NoSuchEnv"),
        (["gallery", "--seeds", "0"], "--seeds must be in [1, 32]"),
        (["gallery", "--size", "10"], "image sides must be within [64, 4096]"),
        (["gallery", "--out", "{tmp}/a-file"], "File exists"),
        (["play", "VistaRobotEE-v0"], "play needs an env whose actions are text"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(argv, message, tmp_path, capsys):
    (tmp_path / "a-file").write_text("")
    assert main([arg.format(tmp=tmp_path) for arg in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _typed(monkeypatch, lines):
    """Make input() return ``lines`` one by one, then raise EOFError (Ctrl-D)."""
    feed = iter(lines)

    def fake_input(prompt=""):
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)


def test_play_scores_a_typed_answer_and_quits_on_ctrl_d(monkeypatch, capsys):
    env = gym.make("VisualQA-v0")
    env.reset(seed=3, options={"family": "clock", "difficulty": 1, "split": "train"})
    task = env.unwrapped.task  # the task play will show: same seed and options
    _typed(monkeypatch, [task.answer])
    assert main(["play", "VisualQA-v0", "--family", "clock", "--difficulty", "1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert task.question in out
    assert f"\nsolved (answer: {task.answer})" in out and "'correctness': 1.0" in out


def test_play_goes_turn_by_turn_in_a_multi_turn_env(monkeypatch, capsys):
    call = '<tool_call>{"name": "zoom", "arguments": {"x": 10, "y": 10}}</tool_call>'
    _typed(monkeypatch, [call, "<think>I looked closely at it.</think><answer>3</answer>"])
    assert main(["play", "VistaTool-v0", "--family", "counting", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    verdicts = [line for line in out.splitlines() if line.startswith(("solved", "not solved"))]
    assert out.count("reward ") == 2 and len(verdicts) == 1  # two turns, then the episode ended


def test_the_video_gallery_writes_a_sheet_per_question_kind_of_what_the_oracle_saw(tmp_path, capsys):
    from vista_envs.video.questions import KINDS

    assert main(["gallery", "--video", "--seeds", "1", "--out", str(tmp_path)]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(tmp_path / f"video_{kind}.png") for kind in KINDS]
    assert all(Image.open(path).size[0] >= 2 * 336 for path in written)  # the overview and at least one grid
