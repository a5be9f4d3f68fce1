"""The ``vista-envs`` command line: list, show, gallery, play, bench, leaderboard, export and serve.

Examples::

    vista-envs list
    vista-envs show VisualQA-v0 --family counting --difficulty 3 --seed 1 --out x.png
    vista-envs gallery --out gallery/ --seeds 4
    vista-envs play VisualQA-v0 --family clock
    vista-envs play VistaGUI-v0          # type "120 48" to click there, "type hello", "key enter", ...
    vista-envs bench --suite quick --agent random --agent scripted --agent oracle --out results/
    vista-envs leaderboard results/
    vista-envs export --format verl --env VisualQA-v0 --n 1000 --split test --out data/
    vista-envs serve VistaTool-v0 --port 8000 --max-sessions 8 --env-kwargs '{"image_size": 224}'
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image

import vista_envs
from vista_envs.bench.commands import add_bench_parser, add_leaderboard_parser
from vista_envs.gui.apps import APP_KINDS
from vista_envs.gui.gallery import gui_contact_sheet
from vista_envs.gui.terminal import PLAY_HELP, command_to_turn, with_ruler
from vista_envs.integrations.export import add_export_parser
from vista_envs.pixels import normalize_image_size
from vista_envs.rendering import caption_image
from vista_envs.tasks import SPLITS, family_names, generate_task, get_family
from vista_envs.video.questions import KINDS as VIDEO_KINDS

__all__ = ["main"]


def _first_doc_line(obj: Any) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def cmd_list(args: argparse.Namespace) -> int:
    """Print every registered env id and every task family."""
    print("Environments:")
    for env_id in vista_envs.ENV_IDS:
        entry = gym.spec(env_id).entry_point
        try:
            doc = _first_doc_line(gym.envs.registration.load_env_creator(entry))
        except ImportError as error:  # an optional extra (e.g. pybullet) is missing
            doc = f"(unavailable: {error})"
        print(f"  {env_id:<22} {doc}")
    print("\nTask families (VisualQA-v0 options={'family': ...}):")
    for name in family_names():
        print(f"  {name:<16} {get_family(name).description}")
    from vista_envs import plugins
    from vista_envs.bench.agents import plugin_agent_kinds
    from vista_envs.bench.suites import builtin_suite_names, plugin_suite_names

    print(
        "\nBench agents: random, scripted, oracle, python:MODULE:FACTORY; from plugins: "
        f"{', '.join(plugin_agent_kinds()) or 'none'}"
    )
    print(
        f"Bench suites: {', '.join(builtin_suite_names())}; from plugins: {', '.join(plugin_suite_names()) or 'none'}"
    )
    failed = plugins.plugin_errors()
    if failed:
        print("\nPlugins that failed to load (the rest loaded):")
        for failure in failed:
            print(f"  {failure}")
    return 0


def _env_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"split": args.split}
    if args.family:
        options["family"] = args.family
    if args.difficulty:
        options["difficulty"] = args.difficulty
    return options


# Oracle steps `show` takes at most to end an episode (the robot EE expert needs about a hundred).
_SHOW_MAX_STEPS = 1000


def _printable(value: Any) -> Any:
    """A JSON-friendly stand-in for what json cannot write (arrays, images, ...)."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"<array {tuple(value.shape)} {value.dtype}>"
    return repr(value)


def cmd_show(args: argparse.Namespace) -> int:
    """Render one task of an env (image, question and, once solved by the oracle, the answer) to a PNG."""
    out = _image_path(args.out)
    env = gym.make(args.env_id, render_mode="rgb_array", image_size=args.size)
    try:
        obs, info = env.reset(seed=args.seed, options=_env_options(args))
        end_info: dict[str, Any] = info
        for _ in range(_SHOW_MAX_STEPS):  # the oracle plays the episode to its end, which reveals the answer
            _, _, terminated, truncated, end_info = env.step(env.unwrapped.oracle())
            if terminated or truncated:
                break
        frame = env.render()
    finally:
        env.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(out)
    text = obs.get("text") if isinstance(obs, dict) else None
    # The conversation repeats the prompt and holds the images: the summary shows the prompt once.
    public = {key: value for key, value in info.items() if key not in ("messages", "images", "tools")}
    summary = {**public, "text": text, "image": str(out)}
    if "answer" in end_info:
        summary["answer"] = end_info["answer"]
    print(json.dumps(summary, indent=2, default=_printable))
    return 0


def _image_path(out: str) -> Path:
    """``out``, checked before the episode is played: its extension must be one Pillow can save to."""
    path = Path(out)
    if path.suffix.lower() not in Image.registered_extensions():
        raise ValueError(f"--out {out!r} must name an image file that Pillow writes, such as show.png")
    return path


MAX_GALLERY_SEEDS = 32  # columns of a contact sheet


def cmd_gallery(args: argparse.Namespace) -> int:
    """One PNG per family and per VistaGUI-v0 app kind: a row per difficulty, a column per seed, each tile captioned
    with Q and A."""
    from vista_envs.answers import format_answer

    size = normalize_image_size(args.size)  # the envs' own bounds: [64, 4096] pixels
    if not 1 <= args.seeds <= MAX_GALLERY_SEEDS:
        raise ValueError(f"--seeds must be in [1, {MAX_GALLERY_SEEDS}], got {args.seeds}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.video:
        from vista_envs.video.gallery import write_video_gallery

        for path in write_video_gallery(out, seeds=args.seeds, split=args.split):
            print(path)
        return 0
    if args.views:  # VistaViews-v0 sheets (robot extra) instead of the task families
        from vista_envs.views.gallery import views_gallery

        for path in views_gallery(out, args.seeds, size[0], args.split):
            print(path)
        return 0
    names = args.family or ([] if args.app else list(family_names()))
    for kind in args.app or ([] if args.family else list(APP_KINDS)):  # VistaGUI-v0's apps, at 512x320
        path = out / f"gui_{kind}.png"
        gui_contact_sheet(kind, args.seeds, args.split, (512, 320)).save(path)
        print(path)
    for name in names:
        family = get_family(name)
        tiles = []
        for difficulty in range(1, 6):
            for seed in range(args.seeds):
                task = generate_task(family, seed, difficulty, args.split, size)
                lines = [f"d{difficulty} s{seed}: {task.question}", f"A: {format_answer(task.spec)}"]
                tiles.append(caption_image(task.image, lines, caption_lines=10))
        tile_w, tile_h = tiles[0].size
        sheet = Image.new("RGB", (tile_w * args.seeds, tile_h * 5), (200, 200, 200))
        for i, tile in enumerate(tiles):
            sheet.paste(tile, ((i % args.seeds) * tile_w, (i // args.seeds) * tile_h))
        path = out / f"{name}.png"
        sheet.save(path)
        print(path)
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    """Play an env with text actions in the terminal, turn by turn; each image is written to a PNG whose path is
    printed."""
    env = gym.make(args.env_id, render_mode="rgb_array")
    try:
        if not isinstance(env.action_space, gym.spaces.Text):
            raise ValueError(f"play needs an env whose actions are text; {args.env_id} takes {env.action_space}")
        # The envs that score <answer> tags (VisualQA, VistaTool) get a bare answer wrapped in them.
        wrap_answers = hasattr(env.unwrapped, "scorer")
        hint = (
            " A bare answer is sent as <answer>...</answer> (it earns no format or reasoning reward)."
            if wrap_answers
            else ""
        )
        gui = args.env_id == "VistaGUI-v0"  # clicks by coordinates: the screenshot has a pixel ruler
        hint += f" {PLAY_HELP}" if gui else ""
        print(f"Type your response.{hint} Ctrl-D quits.")
        seed = args.seed
        while True:
            obs, info = env.reset(seed=seed, options=_env_options(args))
            seed, done = None, False
            while not done:
                _show_turn(obs, info, ruler=gui)
                response = input("> ")
                if wrap_answers and "<" not in response:
                    response = f"<answer>{response}</answer>"
                if gui:
                    response = command_to_turn(response)
                obs, reward, terminated, truncated, info = env.step(response)
                done = terminated or truncated
                print(f"reward {reward:.2f}; terms {info.get('reward_terms', {})}")
                if "error" in info:
                    print(f"note: {info['error']}")
            verdict = "solved" if info.get("is_success") else "not solved"
            print(verdict + (f" (answer: {info['answer']})" if info.get("answer") is not None else ""))
    except EOFError:  # Ctrl-D
        print()
        return 0
    finally:
        env.close()


def _show_turn(obs: Any, info: dict[str, Any], ruler: bool = False) -> None:
    """Print a turn's text and where its image was written (with pixel coordinates in the margin when ``ruler``)."""
    where = ", ".join(f"{key} {info[key]}" for key in ("family", "task", "difficulty") if key in info)
    lines = [f"[{where}]"] if where else []
    if isinstance(obs, dict) and isinstance(obs.get("image"), np.ndarray) and obs["image"].ndim == 3:
        image_path = Path(tempfile.gettempdir()) / "vista-envs-play.png"
        image = Image.fromarray(obs["image"])
        (with_ruler(image) if ruler else image).save(image_path)
        lines.append(f"image: {image_path}")
    text = obs.get("text") if isinstance(obs, dict) else None
    if text:
        lines.append(text)
    print("\n" + "\n".join(lines))


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one env id with OpenEnv's protocol until interrupted (extra ``openenv``)."""
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as error:
        raise ValueError(f"--env-kwargs is not valid JSON: {error}") from None
    if not isinstance(env_kwargs, dict):
        raise ValueError(f"--env-kwargs must be a JSON object, got {type(env_kwargs).__name__}")
    try:
        from vista_envs.integrations.openenv_server import serve
    except ImportError as error:
        raise ValueError(f"serving needs the openenv extra (pip install 'vista-envs[openenv]'): {error}") from None
    serve(
        args.env_id,
        env_kwargs,
        host=args.host,
        port=args.port,
        max_sessions=args.max_sessions,
        session_timeout_s=args.session_timeout if args.session_timeout > 0 else None,
        image_encoding=args.image_encoding,
        **({"max_message_bytes": args.max_message_bytes} if args.max_message_bytes else {}),
    )
    return 0


def _add_serve_parser(commands: Any) -> None:
    serve = commands.add_parser("serve", help="serve an env id over the network with OpenEnv's protocol")
    serve.add_argument("env_id")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--max-sessions", type=int, default=8, help="concurrent sessions; one more is refused")
    serve.add_argument("--env-kwargs", default="{}", help="JSON object of gym.make keyword arguments")
    serve.add_argument(
        "--session-timeout", type=float, default=300.0, help="seconds idle before a session is closed (0: never)"
    )
    serve.add_argument(
        "--image-encoding",
        choices=("raw", "png"),
        default="raw",
        help="how arrays travel (base64 of raw bytes or of a PNG)",
    )
    serve.add_argument("--max-message-bytes", type=int, help="largest request the server reads (default 4 MiB)")
    serve.set_defaults(handler=cmd_serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vista-envs", description="Gymnasium environments for RL of vision-language models."
    )
    parser.add_argument("--version", action="version", version=f"vista-envs {vista_envs.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", help="list env ids and task families").set_defaults(handler=cmd_list)

    def task_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--family",
            choices=[*family_names(), *VIDEO_KINDS, *APP_KINDS],
            help="task family, VistaVideo-v0 question kind or VistaGUI-v0 app kind (default: drawn at random)",
        )
        sub.add_argument("--difficulty", type=int, choices=range(1, 6), help="1 (easy) to 5 (hard)")
        sub.add_argument("--split", choices=SPLITS, default="train")
        sub.add_argument("--seed", type=int, default=0)

    show = commands.add_parser("show", help="render a sample task to PNG and print it")
    show.add_argument("env_id")
    task_options(show)
    show.add_argument("--size", type=int, default=224, help="image side in pixels")
    show.add_argument("--out", default="show.png", help="PNG path")
    show.set_defaults(handler=cmd_show)

    gallery = commands.add_parser("gallery", help="PNG contact sheets of every family at every difficulty")
    gallery.add_argument("--out", default="gallery", help="output folder")
    gallery.add_argument("--family", action="append", choices=family_names(), help="limit to these families")
    gallery.add_argument("--app", action="append", choices=list(APP_KINDS), help="limit to these VistaGUI-v0 app kinds")
    gallery.add_argument("--seeds", type=int, default=4, help="tasks per difficulty")
    gallery.add_argument("--size", type=int, default=224)
    gallery.add_argument("--split", choices=SPLITS, default="train")
    gallery.add_argument(
        "--video", action="store_true", help="instead: VistaVideo-v0, a sheet per question kind of what the oracle saw"
    )
    gallery.add_argument(
        "--views",
        action="store_true",
        help="VistaViews-v0 instead: one sheet per question family (needs the robot extra)",
    )
    gallery.set_defaults(handler=cmd_gallery)

    play = commands.add_parser("play", help="answer tasks interactively in the terminal")
    play.add_argument("env_id")
    task_options(play)
    play.set_defaults(handler=cmd_play)

    add_bench_parser(commands)
    add_leaderboard_parser(commands)
    add_export_parser(commands)
    _add_serve_parser(commands)
    return parser


def _show_plugin_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Plugin failures as one plain line each; every other warning as Python shows it."""
    from vista_envs.plugins import PluginWarning

    if issubclass(category, PluginWarning):
        print(f"vista-envs: warning: {message}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> int:
    warnings.showwarning = _show_plugin_warning
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ValueError, gym.error.Error, OSError) as error:  # OSError: an output path that cannot be written
        print(f"vista-envs {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
