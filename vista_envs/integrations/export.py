"""Tasks of a task env written as parquet, in verl's and EasyR1's dataset row schemas.

``vista-envs export --format verl|easyr1 --env VisualQA-v0 --n 1000 --split test --out DIR`` (or
:func:`export_tasks`) writes ``DIR/<split>.parquet``. Images are embedded as PNG bytes (stored, deflate level 0 by
default: the parquet file is zstd-compressed, which packs them smaller and much faster than deflate), in the
``{"bytes", "path"}`` struct that ``datasets.Image`` reads (the file carries ``datasets``' feature metadata,
so ``load_dataset("parquet", ...)`` gives PIL images back).

verl (the row layout of its ``examples/data_preprocess`` scripts, e.g. geometry3k)::

    data_source   "vista_envs/<env id>"
    prompt        [{"role": "system", "content": ...}, {"role": "user", "content": "<image>" + obs["text"]}]
    images        [{"bytes": PNG, "path": None}]
    ability       the task family
    reward_model  {"style": "rule", "ground_truth": <ground-truth JSON>}
    extra_info    {"split", "index", "env_id", "family", "difficulty", "task_seed", "answer"}
    agent_name    "single_turn_agent" (VisualQA-v0) or "vista_tool_agent" (VistaTool-v0)

EasyR1 (``data.prompt_key=problem``, ``data.answer_key=answer``, ``data.image_key=images``)::

    problem       "<image>" + obs["text"]
    answer        <ground-truth JSON>
    images        [{"bytes": PNG, "path": None}]
    plus data_source, family, difficulty, split, index, task_seed

The ground truth is :func:`~vista_envs.integrations.tasks.ground_truth_json` (answer, verifier fields and the
env's scoring settings), which the ``compute_score`` of :mod:`~vista_envs.integrations.verl` and
:mod:`~vista_envs.integrations.easyr1` read. Bad arguments (an id that is not a task env, a family the env does
not have) fail before anything is written; the file is written under a temporary name and renamed when
complete, so an interrupted export never leaves a file named like a finished one.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from vista_envs.integrations.tasks import (
    ExportedTask,
    check_families,
    iter_tasks,
    make_task_env,
)

__all__ = ["FORMATS", "easyr1_row", "export_tasks", "verl_row"]

FORMATS = ("verl", "easyr1")
IMAGE_PLACEHOLDER = "<image>"
# The agent loops a verl row asks for (verl reads the optional `agent_name` column).
AGENT_NAMES = {"VisualQA-v0": "single_turn_agent", "VistaTool-v0": "vista_tool_agent"}
# Deflate level of the PNGs. 0 stores the pixels (still a standard PNG) and leaves compression to the parquet
# file's zstd, which packs the noisy backgrounds of the procedural images smaller than deflate does, ~5x faster.
PNG_COMPRESS_LEVEL = 0
PARQUET_COMPRESSION = "zstd"
BATCH_ROWS = 256


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(image: Image.Image | np.ndarray, level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """An RGB image as a PNG file: 8-bit RGB, every scanline with filter 0 (none), deflated at ``level`` (0-9).

    Written directly (the PNG layout is a signature and three chunks) because Pillow's encoder, which tries an
    adaptive filter per scanline, takes about twice as long for files of the same size on these images.
    """
    pixels = np.asarray(image, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {pixels.shape}")
    height, width, _ = pixels.shape
    scanlines = np.zeros((height, 1 + 3 * width), np.uint8)  # column 0: each scanline's filter byte
    scanlines[:, 1:] = pixels.reshape(height, 3 * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8 bits, truecolour, deflate, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), level))
        + _png_chunk(b"IEND", b"")
    )


def _system_prompt(task: ExportedTask) -> str:
    system = task.messages[0]
    return system["content"] if system["role"] == "system" else ""


def verl_row(task: ExportedTask, index: int, encode: Callable[[np.ndarray], bytes] = png_bytes) -> dict[str, Any]:
    """One verl dataset row for ``task`` (see the module docstring)."""
    ref = task.ref
    return {
        "data_source": f"vista_envs/{ref.env_id}",
        "prompt": [
            {"role": "system", "content": _system_prompt(task)},
            {"role": "user", "content": IMAGE_PLACEHOLDER + task.prompt},
        ],
        "images": [{"bytes": encode(task.pixels), "path": None}],
        "ability": ref.family,
        "reward_model": {"style": "rule", "ground_truth": task.ground_truth},
        "extra_info": {
            "split": ref.split,
            "index": index,
            "env_id": ref.env_id,
            "family": ref.family,
            "difficulty": ref.difficulty,
            "task_seed": ref.task_seed,
            "answer": task.answer,
        },
        "agent_name": AGENT_NAMES[ref.env_id],
    }


def easyr1_row(task: ExportedTask, index: int, encode: Callable[[np.ndarray], bytes] = png_bytes) -> dict[str, Any]:
    """One EasyR1 dataset row for ``task`` (see the module docstring)."""
    ref = task.ref
    return {
        "problem": IMAGE_PLACEHOLDER + task.prompt,
        "answer": task.ground_truth,
        "images": [{"bytes": encode(task.pixels), "path": None}],
        "data_source": f"vista_envs/{ref.env_id}",
        "family": ref.family,
        "difficulty": ref.difficulty,
        "split": ref.split,
        "index": index,
        "task_seed": ref.task_seed,
    }


def _schema(fmt: str) -> Any:
    import pyarrow as pa

    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    if fmt == "verl":
        fields = [
            ("data_source", pa.string()),
            ("prompt", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
            ("images", pa.list_(image)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("split", pa.string()),
                        ("index", pa.int64()),
                        ("env_id", pa.string()),
                        ("family", pa.string()),
                        ("difficulty", pa.int64()),
                        ("task_seed", pa.int64()),
                        ("answer", pa.string()),
                    ]
                ),
            ),
            ("agent_name", pa.string()),
        ]
    else:
        fields = [
            ("problem", pa.string()),
            ("answer", pa.string()),
            ("images", pa.list_(image)),
            ("data_source", pa.string()),
            ("family", pa.string()),
            ("difficulty", pa.int64()),
            ("split", pa.string()),
            ("index", pa.int64()),
            ("task_seed", pa.int64()),
        ]
    schema = pa.schema(fields)
    # `datasets` reads this metadata to turn the image structs back into images (as its own parquet files do).
    features = {name: _feature(field.type) for name, field in zip(schema.names, schema, strict=True)}
    features["images"] = {"feature": {"_type": "Image"}, "_type": "List"}
    return schema.with_metadata({"huggingface": json.dumps({"info": {"features": features}})})


def _feature(arrow_type: Any) -> dict[str, Any]:
    """The ``datasets`` feature dict of an arrow type (strings, ints, lists and structs of them)."""
    import pyarrow as pa

    if pa.types.is_list(arrow_type):
        return {"feature": _feature(arrow_type.value_type), "_type": "List"}
    if pa.types.is_struct(arrow_type):
        return {field.name: _feature(field.type) for field in arrow_type}
    dtype = {pa.string(): "string", pa.int64(): "int64", pa.binary(): "binary"}[arrow_type]
    return {"dtype": dtype, "_type": "Value"}


def _batches(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def export_tasks(
    fmt: str,
    env_id: str,
    n: int,
    out_dir: str | os.PathLike[str],
    *,
    split: str = "train",
    seed: int = 0,
    families: Sequence[str] | None = None,
    png_level: int = PNG_COMPRESS_LEVEL,
    **env_kwargs: Any,
) -> Path:
    """Write ``n`` tasks of ``env_id`` as ``out_dir/<split>.parquet`` in ``fmt``'s schema; returns the path.

    Tasks are those of :func:`~vista_envs.integrations.tasks.iter_tasks` (same arguments, same tasks). Every
    argument is checked (and the env built) before the file is opened.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {fmt!r}")
    if isinstance(png_level, bool) or png_level not in range(10):
        raise ValueError(f"png_level must be an int from 0 to 9, got {png_level!r}")

    def encode(image: np.ndarray) -> bytes:
        return png_bytes(image, png_level)

    # Check everything iter_tasks would check, before anything is written.
    check_families(env_id, families)
    probe = make_task_env(
        env_id, **({**env_kwargs, "families": list(families)} if families is not None else env_kwargs)
    )
    try:
        check_families(env_id, families, probe)
    finally:
        probe.close()
    tasks = iter_tasks(env_id, n, split=split, seed=seed, families=families, **env_kwargs)
    make_row = verl_row if fmt == "verl" else easyr1_row
    rows = (make_row(task, index, encode) for index, task in enumerate(tasks))
    first = next(_batches(rows, 1), None)  # draws the first task: any error the env raises comes now
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"{split}.parquet"
    partial = out / f".{split}.parquet.partial-{os.getpid()}"
    schema = _schema(fmt)
    try:
        # Dictionary encoding only for the short repeated strings: on the image column it hashes every PNG
        # for nothing and doubles the write time.
        dictionary = ["data_source", "ability", "agent_name"] if fmt == "verl" else ["data_source", "family", "split"]
        with pq.ParquetWriter(partial, schema, compression=PARQUET_COMPRESSION, use_dictionary=dictionary) as writer:
            if first:
                writer.write_table(pa.Table.from_pylist(first, schema=schema))
            for batch in _batches(rows, BATCH_ROWS):
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def _difficulty(text: str) -> int | tuple[int, int]:
    """``3`` or ``2-4`` (an inclusive range)."""
    low, _, high = text.partition("-")
    return (int(low), int(high)) if high else int(low)


def add_export_parser(commands: Any) -> None:
    """Add ``vista-envs export`` to the CLI's subcommands."""
    from vista_envs.tasks import SPLITS

    export = commands.add_parser("export", help="write tasks as parquet in verl's or EasyR1's dataset schema")
    export.add_argument("--format", required=True, choices=FORMATS, dest="fmt", help="the trainer's row schema")
    export.add_argument("--env", required=True, dest="env_id", help="a task env id: VisualQA-v0 or VistaTool-v0")
    export.add_argument("--n", required=True, type=int, help="number of tasks (rows)")
    export.add_argument("--out", required=True, help="output folder; the file is <out>/<split>.parquet")
    export.add_argument("--split", choices=SPLITS, default="train")
    export.add_argument("--seed", type=int, default=0, help="draws the tasks (same seed, same file)")
    export.add_argument("--family", action="append", dest="families", help="limit to these families (repeatable)")
    export.add_argument("--difficulty", type=_difficulty, help="a level 1..5 or a range such as 2-4")
    export.add_argument("--image-size", type=int, default=224, help="image side in pixels")
    export.add_argument(
        "--png-level",
        type=int,
        choices=range(10),
        default=PNG_COMPRESS_LEVEL,
        help="deflate level of the PNGs (default 0: the parquet file compresses)",
    )
    export.set_defaults(handler=cmd_export)


def cmd_export(args: Any) -> int:
    env_kwargs: dict[str, Any] = {"image_size": args.image_size}
    if args.difficulty is not None:
        env_kwargs["difficulty"] = args.difficulty
    path = export_tasks(
        args.fmt,
        args.env_id,
        args.n,
        args.out,
        split=args.split,
        seed=args.seed,
        families=args.families,
        png_level=args.png_level,
        **env_kwargs,
    )
    print(f"wrote {args.n} {args.env_id} tasks ({args.fmt}) to {path}")
    return 0
