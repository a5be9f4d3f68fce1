"""VistaViews-v0 content digests: one per episode, to check that a speed-up changes no content.

An episode's digest covers what the agent gets and what decides the answer: the observation bytes and text,
``info`` (images, messages, answer at the end), the reward, the question (text, answer, marks, subjects), the
visibility tables bit for bit, and the rendered frame where there is one. Mixed draws and every
family x difficulties 1/3/5 (with well-formed, wrong, non-string and over-long actions) at 2 and 4 views of
128 and 224 px and at 2-4 views of 96 px, the ``view_tool`` mode with medium randomisation, and the ``high``
randomisation preset (noise, textures, light) with ``render()``: 510 episodes, about 10 CPU seconds.

Usage::

    python benchmarks/vista_views_digests.py --write before.json   # on the code before the change
    python benchmarks/vista_views_digests.py --check before.json   # after: exit status 1 on any difference

The digests depend on the PyBullet and Pillow builds (pixels): compare runs on one machine.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import vista_envs  # noqa: F401  (registers the ids)
from vista_envs.views.questions import FAMILIES

CONFIGURATIONS = ((2, 128), (2, 224), (4, 128), (4, 224), ((2, 4), 96))
SPLITS = ("train", "eval", "test")


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _encode(value: Any) -> Any:
    """``value`` as JSON-able data, arrays and images by the digest of their bytes."""
    if isinstance(value, np.ndarray):
        return {
            "array": _digest(np.ascontiguousarray(value).tobytes()),
            "shape": value.shape,
            "dtype": str(value.dtype),
        }
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, (np.generic, float)):
        return repr(value.item() if isinstance(value, np.generic) else value)
    if hasattr(value, "mode") and hasattr(value, "tobytes"):  # a Pillow image
        return {"image": _digest(value.tobytes()), "mode": value.mode, "size": value.size}
    return repr(value)


def episode(env: gym.Env, reset: dict[str, Any], actions: Callable[[Any], list[Any]]) -> str:
    """The digest of one episode: ``reset(**reset)``, then ``actions(env.unwrapped)`` until it ends."""
    bare = env.unwrapped
    obs, info = env.reset(**reset)
    visibility = bare.visibility
    record = [
        _encode(obs),
        _encode(info),
        [_digest(getattr(visibility, name).tobytes()) for name in ("seen", "in_frame", "centre", "projected", "top")],
        _encode(bare.question.marks),
        repr(bare.question),
    ]
    for action in actions(bare):
        result = env.step(action)
        record.append(_encode(result))
        if result[2] or result[3]:
            break
    if bare.render_mode is not None:
        record.append(_encode(env.render()))
    return _digest(json.dumps(record, sort_keys=True, default=str).encode())


def digests() -> dict[str, str]:
    out: dict[str, str] = {}
    answers: list[Callable[[Any], list[Any]]] = [
        lambda bare: [bare.oracle()],
        lambda bare: ["<answer>left</answer>"],
        lambda bare: [12345],
        lambda bare: ["x" * 20000],
    ]
    for n_views, size in CONFIGURATIONS:
        env = gym.make("VistaViews-v0", image_size=size, n_views=n_views, split="test")
        key = f"{n_views}x{size}"
        for seed in range(60):
            out[f"{key}/mixed/{seed}"] = episode(env, {"seed": seed}, answers[0])
        i = 0
        for family in FAMILIES:
            for difficulty in (1, 3, 5):
                for repeat in range(2):
                    options = {"family": family, "difficulty": difficulty, "split": SPLITS[i % 3]}
                    out[f"{key}/{family}/{difficulty}/{repeat}"] = episode(
                        env, {"seed": 7 + i, "options": options}, answers[i % 4]
                    )
                    i += 1
        env.close()
    env = gym.make("VistaViews-v0", image_size=128, view_tool=True, randomization="medium")
    for seed in range(30):
        out[f"view_tool/{seed}"] = episode(env, {"seed": seed}, lambda bare: [bare.oracle(), "junk", bare.oracle()])
    env.close()
    env = gym.make("VistaViews-v0", image_size=96, randomization="high", render_mode="rgb_array")
    for seed in range(30):
        out[f"high/{seed}"] = episode(env, {"seed": seed}, answers[0])
    env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="PATH", help="write the digests to PATH (JSON)")
    group.add_argument("--check", metavar="PATH", help="compare with the digests in PATH")
    args = parser.parse_args()
    got = digests()
    if args.write:
        with open(args.write, "w") as f:
            json.dump(got, f, indent=0, sort_keys=True)
        print(f"{len(got)} episode digests written to {args.write}")
        return
    with open(args.check) as f:
        expected = json.load(f)
    changed = sorted(key for key in expected.keys() | got.keys() if expected.get(key) != got.get(key))
    print(f"{len(got)} episodes, {len(changed)} differ" + (f": {', '.join(changed[:20])}" if changed else ""))
    sys.exit(1 if changed else 0)


if __name__ == "__main__":
    main()
