"""The wire format of arrays, values and spaces (vista_envs/wire.py)."""

from __future__ import annotations

import base64
import io
import tracemalloc

import numpy as np
import pytest
from gymnasium import spaces
from PIL import Image

from vista_envs import wire
from vista_envs.spaces import UnicodeText


@pytest.mark.parametrize("encoding", wire.IMAGE_ENCODINGS)
def test_an_image_comes_back_bit_for_bit_in_either_encoding(encoding):
    image = np.random.default_rng(0).integers(0, 256, (31, 17, 3), dtype=np.uint8)
    tagged = wire.encode_array(image, encoding)
    assert tagged[wire.ARRAY_TAG]["encoding"] == encoding
    back = wire.decode_array(tagged)
    assert back.dtype == np.uint8 and np.array_equal(back, image)


def test_raw_encoding_is_base64_of_the_bytes_not_a_list_of_numbers():
    image = np.zeros((224, 224, 3), np.uint8)
    data = wire.encode_array(image)[wire.ARRAY_TAG]["data"]
    assert isinstance(data, str) and len(data) == 4 * ((224 * 224 * 3 + 2) // 3)


def test_png_encoding_is_smaller_on_a_flat_image_and_falls_back_to_raw_for_floats():
    flat = np.full((224, 224, 3), 200, np.uint8)
    assert (
        len(wire.encode_array(flat, "png")[wire.ARRAY_TAG]["data"])
        < len(wire.encode_array(flat, "raw")[wire.ARRAY_TAG]["data"]) / 10
    )
    state = np.array([0.5, -1.25, np.inf], np.float32)
    tagged = wire.encode_array(state, "png")
    assert tagged[wire.ARRAY_TAG]["encoding"] == "raw"
    assert np.array_equal(wire.decode_array(tagged), state)


def _tagged(**changes):
    body = wire.encode_array(np.arange(6, dtype=np.int16).reshape(2, 3))[wire.ARRAY_TAG]
    return {wire.ARRAY_TAG: {**body, **changes}}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": "not base64!"}, "base64"),
        ({"data": base64.b64encode(b"\x00" * 5).decode()}, "bytes"),
        ({"dtype": "object"}, "not numeric"),
        ({"dtype": "no-such-type"}, "unknown array dtype"),
        ({"shape": [2, -3]}, "shape"),
        ({"shape": "2x3"}, "shape"),
        ({"encoding": "jpeg"}, "encoding"),
        ({"encoding": "png"}, "PNG"),
        ({"data": 12}, "base64 string"),
    ],
)
def test_a_malformed_array_is_a_value_error_naming_the_fault(changes, message):
    with pytest.raises(ValueError, match=message):
        wire.decode_array(_tagged(**changes))


def test_values_round_trip_with_numpy_scalars_as_numbers_and_tuples_as_lists():
    info = {
        "reward_terms": {"format": np.float32(0.5)},
        "pair": (1, 2),
        "images": [np.ones((2, 2, 3), np.uint8)],
        "n": np.int64(3),
    }
    back = wire.from_wire(wire.to_wire(info))
    assert back["reward_terms"] == {"format": 0.5} and back["pair"] == [1, 2] and back["n"] == 3
    assert isinstance(back["images"][0], np.ndarray) and back["images"][0].shape == (2, 2, 3)


@pytest.mark.parametrize(
    "space",
    [
        UnicodeText(2048),
        spaces.Text(12, min_length=1, charset="abc"),
        spaces.Box(0, 255, (224, 224, 3), np.uint8),
        spaces.Box(np.array([-np.inf, 0.0]), np.array([np.inf, 1.0]), dtype=np.float64),
        spaces.Discrete(5, start=-2),
        spaces.MultiDiscrete([3, 4]),
        spaces.MultiBinary(6),
        spaces.Dict(
            {
                "image": spaces.Box(0, 255, (8, 8, 3), np.uint8),
                "text": UnicodeText(64),
                "state": spaces.Box(-1, 1, (7,), np.float32),
            }
        ),
        spaces.Tuple([spaces.Discrete(2), UnicodeText(5)]),
    ],
)
def test_a_space_spec_rebuilds_an_equal_space(space):
    import json

    assert wire.spec_to_space(json.loads(json.dumps(wire.space_to_spec(space)))) == space


@pytest.mark.parametrize("spec", [{"type": "Graph"}, {"type": "Box", "low": 0}, "Box", None])
def test_an_unreadable_space_spec_is_a_value_error(spec):
    with pytest.raises(ValueError):
        wire.spec_to_space(spec)


def test_an_array_repeated_in_one_message_travels_once_and_comes_back_as_an_equal_copy():
    image = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    other = image[::-1].copy()
    sent = wire.ArrayMemo()
    payload = {
        "obs": wire.to_wire({"image": image}, sent=sent),
        "info": wire.to_wire({"images": [other, image.copy(), image]}, sent=sent),
    }
    assert "data" in payload["info"]["images"][0][wire.ARRAY_TAG], "a different array is sent in full"
    assert payload["info"]["images"][1] == payload["info"]["images"][2] == {wire.ARRAY_TAG: {"same_as": 0}}
    obs, info = wire.decode_observation(payload)
    assert np.array_equal(info["images"][0], other)
    assert all(np.array_equal(back, image) and back is not obs["image"] for back in info["images"][1:])


@pytest.mark.parametrize("index", [1, -1, "0", True])
def test_a_same_as_that_points_nowhere_is_a_value_error(index):
    with pytest.raises(ValueError, match="same_as"):
        wire.from_wire([{wire.ARRAY_TAG: {"same_as": index}}])


def _blank_png(width, height, shape):
    """A blank RGBA PNG of ``width`` x ``height`` pixels, a few kB on the wire, tagged with ``shape``."""
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height)).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    return {wire.ARRAY_TAG: {"encoding": "png", "dtype": "|u1", "shape": shape, "data": data}}


def _peak_bytes_while(decode):
    """The most memory (numpy's included) held at once while ``decode()`` raises its ValueError."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as error:
            decode()
        return tracemalloc.get_traced_memory()[1], str(error.value)
    finally:
        tracemalloc.stop()


def test_a_png_bigger_than_its_header_says_is_refused_before_its_pixels_are_decoded():
    # 2000 x 2000 RGBA: 16 kB on the wire, 16 MB decoded; the header claims 4 bytes.
    bomb = _blank_png(2000, 2000, [4])
    peak, message = _peak_bytes_while(lambda: wire.decode_array(bomb))
    assert "2000 x 2000" in message and peak < 1 << 20


def test_max_bytes_refuses_an_array_larger_than_it_before_decoding_it():
    image = wire.encode_array(np.zeros((64, 64, 3), np.uint8), "png")
    assert wire.decode_array(image, max_bytes=64 * 64 * 3).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="12288 bytes"):
        wire.decode_array(image, max_bytes=64 * 64 * 3 - 1)


def test_max_bytes_counts_every_same_as_copy_and_refuses_before_copying_past_it():
    # One 64 kB array and 1,000 references to it: 30 kB of JSON that would decode to 64 MB.
    message = [wire.encode_array(np.zeros(1 << 16, np.uint8))] + [{wire.ARRAY_TAG: {"same_as": 0}}] * 1000
    assert len(wire.from_wire(message[:4], max_bytes=4 << 16)) == 4
    peak, error = _peak_bytes_while(lambda: wire.from_wire(message, max_bytes=1 << 20))
    assert "1048576 bytes" in error and peak < 2 << 20
