"""Reading JSON a model wrote: every failure is a ValueError, and no string comes back with a lone surrogate."""

import json

import pytest

from vista_envs.model_json import loads_model_json


def test_valid_json_reads_as_json_does():
    text = '{"name": "zoom", "arguments": {"x": 1.5, "y": [1, 2], "label": "caf\\u00e9 \\ud83d\\ude00"}}'
    assert loads_model_json(text) == json.loads(text)  # a surrogate pair is one valid character


def test_lone_surrogates_become_the_replacement_character_in_keys_and_values():
    value = loads_model_json('{"q\\ud800": ["\\udfff x", {"k": "\\ud800"}]}')
    assert value == {"q\ufffd": ["\ufffd x", {"k": "\ufffd"}]}
    json.dumps(value).encode("utf-8")  # encodable: a tokenizer takes it


@pytest.mark.parametrize("text", ["{bad", "[" * 100_000, "1" * 5000, '{"x": 1' + "0" * 5000 + "}", ""])
def test_everything_json_cannot_read_is_a_value_error(text):
    with pytest.raises(ValueError):
        loads_model_json(text)


def test_decode_errors_keep_their_position():
    with pytest.raises(json.JSONDecodeError) as caught:
        loads_model_json('{"a": }')
    assert caught.value.pos == 6
