"""VistaGUI-v0 on the command line: play by coordinates, the gallery's app sheets, show."""

import io
import json

import gymnasium as gym
from PIL import Image

import vista_envs  # noqa: F401
from vista_envs.cli import main
from vista_envs.gui.terminal import command_to_turn, with_ruler


def _call_of(turn):
    return json.loads(turn.removeprefix("<tool_call>").removesuffix("</tool_call>"))


def test_play_commands_become_tool_calls():
    assert _call_of(command_to_turn("120 48")) == {"name": "click", "arguments": {"x": 120, "y": 48}}
    assert _call_of(command_to_turn("click 3, 4")) == {"name": "click", "arguments": {"x": 3, "y": 4}}
    assert _call_of(command_to_turn("type hello world")) == {"name": "type", "arguments": {"text": "hello world"}}
    assert _call_of(command_to_turn("key enter")) == {"name": "key", "arguments": {"name": "enter"}}
    assert _call_of(command_to_turn("scroll 200")) == {"name": "scroll", "arguments": {"dx": 0, "dy": 200}}
    assert _call_of(command_to_turn("drag 1 2 3 4")) == {
        "name": "drag",
        "arguments": {"x0": 1, "y0": 2, "x1": 3, "y1": 4},
    }
    assert _call_of(command_to_turn("answer 42")) == {"name": "answer", "arguments": {"text": "42"}}
    assert command_to_turn("what now?") == "what now?"  # sent as it is: the env explains what is wrong


def test_the_ruler_adds_a_margin_of_coordinates():
    framed = with_ruler(Image.new("RGB", (200, 100), (255, 255, 255)))
    assert framed.size == (224, 124) and framed.getpixel((24 + 50, 20)) == (200, 0, 0)


def test_a_person_solves_an_episode_by_coordinates_in_the_terminal(monkeypatch, capsys):
    env = gym.make("VistaGUI-v0")
    env.reset(seed=5, options={"family": "dashboard", "difficulty": 1, "split": "train"})
    answer = env.unwrapped.task.goal.answer  # the task play will show: same seed and options
    monkeypatch.setattr("sys.stdin", io.StringIO(f"10 10\nanswer {answer}\n"))  # input() reads it, then EOF quits
    assert main(["play", "VistaGUI-v0", "--family", "dashboard", "--difficulty", "1", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert "Commands: X Y (click)" in out and out.count("reward ") == 2 and "\nsolved" in out


def test_gallery_writes_one_sheet_per_app_kind(tmp_path, capsys):
    assert main(["gallery", "--app", "files", "--seeds", "1", "--out", str(tmp_path)]) == 0
    sheet = Image.open(tmp_path / "gui_files.png")
    assert sheet.size[0] == 512 and sheet.size[1] > 5 * 320
    assert not list(tmp_path.glob("counting.png"))  # --app alone draws no task families
