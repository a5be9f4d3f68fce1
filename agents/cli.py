"""``vista-agents``: train and evaluate VLM policies on vista-envs from the command line.

::

    vista-agents train sft  --env VisualQA-v0 --model /tmp/tiny-vlm --num-demonstrations 2048
    vista-agents train grpo --env VisualQA-v0 --model runs/sft/checkpoints/step_000064 --config grpo.json
    vista-agents train ppo  --env VistaRobotEE-v0 --env-kwargs '{"tasks": ["reach"], "obs_mode": "state"}'
    vista-agents train visplay --model /tmp/tiny-vlm --total-steps 4
    vista-agents eval --env VisualQA-v0 --model runs/grpo/checkpoints/step_000100 --episodes 200
    vista-agents plot runs/sft runs/grpo --out curves.png   # reward, success, KL, entropy, ... of each run

Every field of the algorithm's config dataclass (:class:`~vista_agents.sft.SFTConfig`,
:class:`~vista_agents.grpo.GRPOConfig`,
:class:`~vista_agents.ppo.PPOConfig`, :class:`~vista_agents.visplay_trainer.VisPlayConfig`) is a flag (``learning_rate``
is ``--learning-rate``; booleans also take ``--no-...``; dict fields take JSON). ``--config FILE`` reads a
JSON or TOML file of field values; flags given on the command line override it. Renamed fields keep their
former names as flags and config-file keys (``--save-every`` is ``--checkpoint-every``, ``--iterations`` is
``--total-steps``).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import json
import sys
import textwrap
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["config_from_args", "field_docs", "main"]

# Short flags for the most used fields.
_ALIASES = {"env_id": "--env", "env_kwargs": "--env-kwargs", "model": "--model"}
# Former names of renamed fields, still accepted as flags and config-file keys: old name -> field.
_FORMER_NAMES = {"save_every": "checkpoint_every", "iterations": "total_steps"}


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each dataclass field (CleanRL style), from the class and its bases."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body  # type: ignore[attr-defined]
        for statement, following in zip(body, body[1:]):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = following.value.value
    return docs


def _parse_bool_or_none(text: str) -> bool | None:
    lowered = text.lower()
    if lowered in ("auto", "none"):
        return None
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true, false or auto, got {text!r}")


def _add_field(parser: argparse.ArgumentParser, field: dataclasses.Field[Any], annotation: Any, doc: str) -> None:
    flag = _ALIASES.get(field.name, "--" + field.name.replace("_", "-"))
    names = [flag] if flag == "--" + field.name.replace("_", "-") else [flag, "--" + field.name.replace("_", "-")]
    names += ["--" + old.replace("_", "-") for old, new in _FORMER_NAMES.items() if new == field.name]
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()  # type: ignore[misc]
    options: dict[str, Any] = {
        "dest": field.name,
        "default": argparse.SUPPRESS,
        "help": f"{doc} (default: {default!r})",
    }
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is bool:
        parser.add_argument(*names, action=argparse.BooleanOptionalAction, **options)
    elif origin in (typing.Union, types.UnionType) and set(arguments) == {bool, type(None)}:
        parser.add_argument(*names, type=_parse_bool_or_none, metavar="{true,false,auto}", **options)
    elif origin is dict:
        parser.add_argument(*names, type=json.loads, metavar="JSON", **options)
    elif origin is tuple:  # tuple[X, ...] takes one or more values, tuple[X, Y] exactly as many as its types
        count = "+" if arguments[-1] is Ellipsis else len(arguments)
        parser.add_argument(*names, type=arguments[0], nargs=count, **options)
    elif annotation in (int, float, str):
        parser.add_argument(*names, type=annotation, **options)
    else:
        raise TypeError(f"no command-line form for field {field.name!r} of type {annotation!r}")


def add_config_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """A flag for every field of the config dataclass ``cls``, plus ``--config FILE``."""
    parser.add_argument(
        "--config", type=Path, help="a JSON or TOML file of config fields; command-line flags override it"
    )
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    for field in dataclasses.fields(cls):
        _add_field(parser, field, hints[field.name], docs.get(field.name, ""))


def read_config_file(path: Path) -> dict[str, Any]:
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib  # Python 3.11+

            values = tomllib.loads(text)
        else:
            values = json.loads(text)
    except ValueError as error:  # JSONDecodeError and TOMLDecodeError: say which file
        raise ValueError(f"{path}: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: a config file holds one table/object of field values")
    return values


def config_from_args(cls: type, arguments: argparse.Namespace) -> Any:
    """``cls`` built from defaults, then the ``--config`` file, then the flags given."""
    names = {field.name for field in dataclasses.fields(cls)}
    values = read_config_file(arguments.config) if arguments.config else {}
    values = {
        _FORMER_NAMES.get(name, name) if _FORMER_NAMES.get(name) in names else name: value
        for name, value in values.items()
    }
    unknown = set(values) - names
    if unknown:
        raise SystemExit(f"{arguments.config}: unknown config fields {sorted(unknown)}")
    values.update({name: value for name, value in vars(arguments).items() if name in names})
    return cls(**values)  # its checks refuse wrong types, and turn the lists of JSON and TOML into tuples


# Each algorithm: the module with its ``train(config)``, its config class, and a one-line description.
ALGORITHMS = {
    "sft": ("vista_agents.sft", "SFTConfig", "behaviour cloning on oracle demonstrations"),
    "grpo": ("vista_agents.grpo", "GRPOConfig", "group relative policy optimisation of a VLM"),
    "ppo": ("vista_agents.ppo", "PPOConfig", "PPO with an MLP/CNN actor-critic for Box and Dict observations"),
    "visplay": (
        "vista_agents.visplay_trainer",
        "VisPlayConfig",
        "VisPlay self-play: Questioner and Reasoner trained in turn",
    ),
}


def _algorithm(name: str) -> tuple[types.ModuleType, type]:
    module_name, config_name, _ = ALGORITHMS[name]
    module = importlib.import_module(module_name)
    return module, getattr(module, config_name)


def _train(arguments: argparse.Namespace) -> None:
    import torch.distributed as dist

    module, config_cls = _algorithm(arguments.algorithm)
    try:
        config = config_from_args(config_cls, arguments)
    except (OSError, TypeError, ValueError) as error:  # an unreadable --config, or a value the config's checks refuse:
        raise SystemExit(f"vista-agents train {arguments.algorithm}: {error}") from None  # a usage error, not a crash
    _require_local_model(getattr(config, "model", None), f"vista-agents train {arguments.algorithm}")
    from vista_agents.run_session import RunRefused

    try:
        result = module.train(config)
    except (FileExistsError, RunRefused) as error:  # the output folder holds another run, or one it cannot resume
        raise SystemExit(f"vista-agents train {arguments.algorithm}: {error}") from None
    if dist.is_available() and dist.is_initialized():  # one process of a multi-GPU run: rank 0 reports
        reports = dist.get_rank() == 0
        dist.destroy_process_group()
        if not reports:
            return
    final = next((row for row in reversed(result.metrics) if "eval/success_rate" in row), None)
    if final is not None:
        step = final.get("step", final.get("global_step"))
        print(f"eval success rate after {step} steps: {final['eval/success_rate']:.3f}")
    print(f"metrics: {Path(config.output_dir) / 'metrics.jsonl'}; final checkpoint: {result.checkpoint}")


def _require_local_model(model: str | None, command: str) -> None:
    """A model named by a path must be there: from_pretrained would take a missing one for a Hub id and fail deep
    inside huggingface_hub. Hub ids (``org/name``, e.g. from a local cache) are left to from_pretrained."""
    if model and model.startswith(("/", ".", "~")) and not Path(model).expanduser().exists():
        raise SystemExit(f"{command}: --model {model}: no such file or directory")


def _eval(arguments: argparse.Namespace) -> None:
    _require_local_model(arguments.model, "vista-agents eval")
    import gymnasium as gym
    import torch

    import vista_envs  # noqa: F401  (registers the env ids)
    from vista_agents.policies.hf import HFPolicy
    from vista_agents.rollout import RolloutCollector, summarize

    torch.manual_seed(arguments.seed)
    envs = gym.make_vec(
        arguments.env_id, num_envs=arguments.num_envs, vectorization_mode="sync", **arguments.env_kwargs
    )
    policy = HFPolicy(
        arguments.model,
        device=arguments.device,
        max_new_tokens=arguments.max_new_tokens,
        temperature=arguments.temperature,
        batch_size=arguments.batch_size,
    )
    collector = RolloutCollector(envs, policy, record_logprobs=False)
    trajectories = collector.collect(
        range(arguments.seed, arguments.seed + arguments.episodes), options={"split": arguments.split}
    )
    summary = {
        "env": arguments.env_id,
        "model": arguments.model,
        "split": arguments.split,
        "episodes": arguments.episodes,
        **summarize(trajectories),
    }
    print(json.dumps(summary, indent=2))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vista-agents", description="Train and evaluate policies on vista-envs.")
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a policy").add_subparsers(dest="algorithm", required=True)
    for name, (_, _, description) in ALGORITHMS.items():
        add_config_arguments(train.add_parser(name, help=description, description=description), _algorithm(name)[1])
    evaluate = commands.add_parser("eval", help="success rate of a model on an env's held-out split")
    evaluate.add_argument("--env", dest="env_id", required=True, help="the Gymnasium env id")
    evaluate.add_argument(
        "--env-kwargs", type=json.loads, default={}, metavar="JSON", help="keyword arguments of gym.make"
    )
    evaluate.add_argument("--model", required=True, help="local model directory (or a checkpoint)")
    evaluate.add_argument("--episodes", type=int, default=100, help="episodes to run (default 100)")
    evaluate.add_argument("--split", default="test", help="task split: train, eval or test (default test)")
    evaluate.add_argument("--temperature", type=float, default=0.0, help="sampling temperature; 0 is greedy (default)")
    evaluate.add_argument("--max-new-tokens", type=int, default=256, help="the longest turn in tokens (default 256)")
    evaluate.add_argument("--num-envs", type=int, default=16, help="parallel envs (default 16)")
    evaluate.add_argument("--batch-size", type=int, default=16, help="prompts per generate() call (default 16)")
    evaluate.add_argument("--device", default="cpu", help="torch device (default cpu)")
    evaluate.add_argument("--seed", type=int, default=0, help="first reset seed; sampling seed (default 0)")
    plot = commands.add_parser("plot", help="training and evaluation curves of runs, in one PNG or HTML")
    plot.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (each with a metrics.jsonl)")
    plot.add_argument("--out", default="curves.png", help="output file, .png or .html (default curves.png)")
    plot.add_argument(
        "--metrics",
        nargs="*",
        default=(),
        metavar="NAME",
        help="plot these metrics (substrings) instead of the default panels",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = build_parser().parse_args(argv)
    if arguments.command == "train":
        _train(arguments)
    elif arguments.command == "plot":
        from vista_agents.plot import plot_runs

        try:
            print(plot_runs(arguments.run_dirs, arguments.out, arguments.metrics))
        except (OSError, ValueError) as error:
            raise SystemExit(f"vista-agents plot: {error}") from None
    else:
        _eval(arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
