"""The JSON wire format of observations, actions, infos and spaces (the env server and ``Remote-v0``).

Arrays travel as one tagged object, never as nested lists of numbers::

    {"__ndarray__": {"encoding": "raw", "dtype": "uint8", "shape": [224, 224, 3], "data": "<base64>"}}

An array that appears again in the same message (the observation's image is also the last of
``info["images"]``) is sent once; later equal arrays are ``{"__ndarray__": {"same_as": k}}``, the k-th
array of the message (0-based, in the order the JSON lists them), and decode to a copy of it. (A session
that asked for deltas numbers its arrays over the whole episode instead: :mod:`vista_envs.wire_delta`.)

``"raw"`` is the array's C-order bytes in base64 (about 1.33 bytes per byte: 200,704 characters for a
224 x 224 RGB image); ``"png"`` (for uint8 images, ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``) is a
lossless PNG in base64, smaller on flat procedural images but slower to encode. Everything else in an
observation or ``info`` maps to JSON as itself (numpy scalars become numbers, tuples lists, dict keys
strings). Spaces travel as ``{"type": "Box", ...}`` specs (:func:`space_to_spec`, :func:`spec_to_space`).

Decoding validates everything it reads (dtype, shape against the bytes, base64) and raises
``ValueError``, so a malformed request is a protocol error, never a crash deeper down.
"""

from __future__ import annotations

import binascii
import io
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from PIL import Image

from vista_envs.spaces import UnicodeText

__all__ = [
    "ARRAY_TAG",
    "IMAGE_ENCODINGS",
    "ArrayMemo",
    "decode_array",
    "decode_observation",
    "encode_array",
    "from_wire",
    "space_to_spec",
    "spec_to_space",
    "to_wire",
]

ARRAY_TAG = "__ndarray__"
IMAGE_ENCODINGS = ("raw", "png")
# Numeric kinds only: an object dtype from the wire could run pickle-like code paths.
_WIRE_DTYPE_KINDS = frozenset("biuf")
_MAX_DIMS = 8


class ArrayMemo:
    """The arrays written so far (in one message, or over an episode), found again by their content.

    ``arrays[k]`` is the k-th array written. Lookup is by dtype, shape and a strided sample of the
    values, confirmed by comparing every value, so finding an array costs one comparison, not one per
    array written (an episode of many images stays cheap).

    Args:
        copies: keep a copy of each array rather than the array itself. A memo that outlives the
            message must: an env may change an array in place after returning it.
    """

    def __init__(self, copies: bool = False):
        self.arrays: list[np.ndarray] = []
        self._copies = copies
        self._by_key: dict[tuple[str, tuple[int, ...], bytes], list[int]] = {}
        # The arrays of the message being written, by object (id -> (array, index)): the same
        # object twice in one message (the view in obs and in info) is looked up once.
        self._this_message: dict[int, tuple[np.ndarray, int]] = {}

    def __len__(self) -> int:
        return len(self.arrays)

    @staticmethod
    def _key(array: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
        flat = array.reshape(-1)
        return array.dtype.str, array.shape, flat[:: max(1, flat.size // 64)].tobytes()

    def new_message(self) -> None:
        """Start a new message: an array object seen before may have been changed in place since."""
        self._this_message.clear()

    def find(self, array: np.ndarray) -> int | None:
        """The index of an array equal to ``array`` (same dtype, shape and values), or None."""
        seen = self._this_message.get(id(array))
        if seen is not None and seen[0] is array:
            return seen[1]
        for index in self._by_key.get(self._key(array), ()):
            if self.arrays[index] is array or np.array_equal(self.arrays[index], array):
                self._this_message[id(array)] = (array, index)
                return index
        return None

    def add(self, array: np.ndarray) -> int:
        """Remember ``array`` as the next one written; returns its index."""
        index = len(self.arrays)
        self._by_key.setdefault(self._key(array), []).append(index)
        self.arrays.append(array.copy() if self._copies else array)
        self._this_message[id(array)] = (array, index)
        return index

    def truncate(self, length: int) -> None:
        """Forget the arrays written after the first ``length`` (a message that was never sent)."""
        del self.arrays[length:]
        for indices in self._by_key.values():
            while indices and indices[-1] >= length:
                indices.pop()
        self._this_message = {key: seen for key, seen in self._this_message.items() if seen[1] < length}


def _is_png_image(array: np.ndarray) -> bool:
    return array.dtype == np.uint8 and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4)))


def encode_array(array: np.ndarray, image_encoding: str = "raw") -> dict[str, Any]:
    """The tagged wire object of ``array``; uint8 images use ``image_encoding`` (``"raw"`` or ``"png"``)."""
    if image_encoding not in IMAGE_ENCODINGS:
        raise ValueError(f"image_encoding must be one of {IMAGE_ENCODINGS}, got {image_encoding!r}")
    array = np.asarray(array)
    if image_encoding == "png" and _is_png_image(array) and array.size:
        buffer = io.BytesIO()
        # compress_level=1: most of the size gain for a fraction of the default level's time.
        Image.fromarray(array).save(buffer, format="PNG", compress_level=1)
        encoding, payload = "png", buffer.getvalue()
    else:
        # The array's own buffer, not a bytes copy of it (base64 reads any C-contiguous buffer).
        encoding, payload = "raw", np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    return {
        ARRAY_TAG: {
            "encoding": encoding,
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "data": binascii.b2a_base64(payload, newline=False).decode("ascii"),
        }
    }


def decode_array(wire: Mapping[str, Any], max_bytes: int | None = None) -> np.ndarray:
    """The array of a tagged wire object (a writable copy); ``ValueError`` on anything malformed, or on an
    array of more than ``max_bytes`` bytes (refused before any of it is decoded)."""
    body = wire.get(ARRAY_TAG) if isinstance(wire, Mapping) else None
    if not isinstance(body, Mapping):
        raise ValueError(f"an array must be an object {{{ARRAY_TAG!r}: {{...}}}}")
    encoding, dtype_name, shape, data = (body.get(key) for key in ("encoding", "dtype", "shape", "data"))
    try:
        dtype = np.dtype(dtype_name)
    except (TypeError, ValueError):
        raise ValueError(f"unknown array dtype {dtype_name!r}") from None
    if dtype.kind not in _WIRE_DTYPE_KINDS:
        raise ValueError(f"array dtype {dtype_name!r} is not numeric")
    if (
        not isinstance(shape, list)
        or len(shape) > _MAX_DIMS
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise ValueError(f"array shape must be a list of at most {_MAX_DIMS} non-negative ints, got {shape!r}")
    needed = math.prod(shape) * dtype.itemsize
    if max_bytes is not None and needed > max_bytes:
        raise ValueError(f"array {dtype_name} {shape} takes {needed} bytes, more than the {max_bytes} allowed here")
    if not isinstance(data, str):
        raise ValueError("array data must be a base64 string")
    try:
        payload = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        raise ValueError("array data is not valid base64") from None
    if encoding == "raw":
        if len(payload) != needed:
            raise ValueError(f"array data holds {len(payload)} bytes, but {dtype_name} {shape} needs {needed}")
        return np.frombuffer(payload, dtype=dtype).reshape(shape).copy()
    if encoding == "png":
        try:
            with Image.open(io.BytesIO(payload), formats=["PNG"]) as image:
                # Opening reads the header only. A PNG of a few kB can hold gigabytes of pixels, so they are
                # decoded only once the header's shape (checked above) is known to be the PNG's own.
                width, height = image.size
                fits = len(shape) in (2, 3) and [height, width] == shape[:2]
                array = np.asarray(image) if fits else None
        except Exception as error:  # Pillow raises many types on a corrupt file
            raise ValueError(f"array data is not a valid PNG ({error})") from None
        if array is None or list(array.shape) != shape or array.dtype != dtype:
            held = f"{width} x {height} pixels" if array is None else f"{array.dtype} {list(array.shape)}"
            raise ValueError(f"PNG holds {held}, the header says {dtype_name} {shape}")
        return array.copy()
    raise ValueError(f"array encoding must be one of {IMAGE_ENCODINGS}, got {encoding!r}")


def to_wire(value: Any, image_encoding: str = "raw", sent: ArrayMemo | None = None) -> Any:
    """``value`` (an observation, an info, an action) as JSON-ready data, arrays tagged.

    ``sent`` holds the arrays already written in this message, in order; pass the same memo when one
    message is built from several calls (observation, then info). An array equal to one of them (same
    dtype, shape and values) is written as a ``same_as`` reference.
    """
    if sent is None:
        sent = ArrayMemo()
    if isinstance(value, np.ndarray):
        index = sent.find(value)
        if index is not None:
            return {ARRAY_TAG: {"same_as": index}}
        sent.add(value)
        return encode_array(value, image_encoding)
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(key): to_wire(item, image_encoding, sent) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(item, image_encoding, sent) for item in value]
    # Anything else (an enum, a dataclass in some info) is shown as its text rather than dropped.
    return str(value)


def from_wire(
    value: Any, arrays: list[np.ndarray] | None = None, *, keep_private: bool = False, max_bytes: int | None = None
) -> Any:
    """The inverse of :func:`to_wire`: tagged arrays back to numpy, the rest as is.

    ``arrays`` collects the message's arrays in order (to resolve ``same_as``); pass the same list for
    the parts of one message, in the order they were written. With ``keep_private`` the arrays kept in
    ``arrays`` are never the ones returned (each new array comes back as a copy), so a caller that
    changes a returned array in place cannot change what a later ``same_as`` gives.

    ``max_bytes`` bounds the bytes of all the arrays returned, every ``same_as`` copy counted again (a
    message of thousands of references to one large array is small, its decoding gigabytes); past it,
    ``ValueError``, raised before the array that would pass it is decoded or copied.
    """
    if arrays is None:
        arrays = []
    left = math.inf if max_bytes is None else max_bytes

    def spend(nbytes: int) -> None:
        nonlocal left
        if nbytes > left:
            raise ValueError(f"the message's arrays take more than the {max_bytes} bytes allowed here")
        left -= nbytes

    def decode(item: Any) -> Any:
        if isinstance(item, dict):
            body = item.get(ARRAY_TAG)
            if isinstance(body, Mapping) and "same_as" in body:
                index = body["same_as"]
                if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(arrays):
                    raise ValueError(f"same_as refers to array {index!r}, but the message has {len(arrays)} before it")
                spend(arrays[index].nbytes)
                return arrays[index].copy()
            if ARRAY_TAG in item:
                array = decode_array(item, max_bytes=None if max_bytes is None else int(left))
                spend(array.nbytes)
                arrays.append(array)
                return array.copy() if keep_private else array
            return {key: decode(part) for key, part in item.items()}
        if isinstance(item, list):
            return [decode(part) for part in item]
        return item

    return decode(value)


def decode_observation(payload: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """``(obs, info)`` of a served env's observation payload (OpenEnv's ``StepResult.observation``)."""
    arrays: list[np.ndarray] = []  # the info's arrays may refer back to the observation's
    return from_wire(payload["obs"], arrays), from_wire(payload["info"], arrays)


# -- spaces ------------------------------------------------------------------------------------


def _bound(values: np.ndarray) -> Any:
    """A Box bound as JSON: one number when uniform, else nested lists; infinities as strings."""

    def number(x: float) -> Any:
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")

    flat = values.ravel()
    if flat.size and np.all(flat == flat[0]):
        return number(flat[0].item())
    return np.vectorize(number, otypes=[object])(values).tolist() if values.size else []


def space_to_spec(space: spaces.Space) -> dict[str, Any]:
    """A JSON spec of ``space`` from which :func:`spec_to_space` rebuilds an equal space."""
    if isinstance(space, UnicodeText):
        return {"type": "UnicodeText", "max_length": space.max_length, "min_length": space.min_length}
    if isinstance(space, spaces.Text):
        return {
            "type": "Text",
            "max_length": space.max_length,
            "min_length": space.min_length,
            "charset": "".join(space.character_set),
        }
    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "low": _bound(space.low),
            "high": _bound(space.high),
            "shape": list(space.shape),
            "dtype": space.dtype.str,
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist(), "start": space.start.tolist()}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "n": int(space.n) if np.ndim(space.n) == 0 else [int(n) for n in space.n]}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {key: space_to_spec(sub) for key, sub in space.spaces.items()}}
    if isinstance(space, spaces.Tuple):
        return {"type": "Tuple", "spaces": [space_to_spec(sub) for sub in space.spaces]}
    raise TypeError(f"no wire spec for {type(space).__name__} spaces")


def spec_to_space(spec: Mapping[str, Any]) -> spaces.Space:
    """The space that :func:`space_to_spec` described; ``ValueError`` on a spec it cannot read."""
    kind = spec.get("type") if isinstance(spec, Mapping) else None
    try:
        if kind == "UnicodeText":
            return UnicodeText(spec["max_length"], min_length=spec["min_length"])
        if kind == "Text":
            return spaces.Text(spec["max_length"], min_length=spec["min_length"], charset=spec["charset"])
        if kind == "Box":
            dtype = np.dtype(spec["dtype"])
            shape = tuple(spec["shape"])

            def bound(value: Any) -> np.ndarray:
                return np.broadcast_to(np.asarray(value, dtype=np.float64), shape).astype(dtype)

            return spaces.Box(bound(spec["low"]), bound(spec["high"]), shape=shape, dtype=dtype)
        if kind == "Discrete":
            return spaces.Discrete(spec["n"], start=spec["start"])
        if kind == "MultiDiscrete":
            return spaces.MultiDiscrete(spec["nvec"], start=spec["start"])
        if kind == "MultiBinary":
            return spaces.MultiBinary(spec["n"] if isinstance(spec["n"], int) else tuple(spec["n"]))
        if kind == "Dict":
            return spaces.Dict({key: spec_to_space(sub) for key, sub in spec["spaces"].items()})
        if kind == "Tuple":
            return spaces.Tuple([spec_to_space(sub) for sub in spec["spaces"]])
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed {kind} space spec: {error}") from None
    raise ValueError(f"unknown space spec type {kind!r}")
