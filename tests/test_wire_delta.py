"""Session deltas of the wire format (vista_envs/wire_delta.py): what travels, and what comes back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vista_envs import wire
from vista_envs.wire_delta import DELTA_TAG, DeltaDecoder, DeltaEncoder

TOOLS = [{"type": "function", "function": {"name": "zoom", "parameters": {"x": {"type": "integer"}}}}]


def _image(value: int) -> np.ndarray:
    image = np.zeros((8, 8, 3), np.uint8)
    image[value % 8, :, :] = value
    return image


def _through_json(value):
    return json.loads(json.dumps(value))


def _send(encoder, decoder, obs, info, new_episode=False):
    """One reply: encoded, through JSON text, decoded; returns (what travelled, obs back, info back)."""
    wire_obs, wire_info = encoder.encode(obs, info, new_episode=new_episode)
    payload = _through_json({"obs": wire_obs, "info": wire_info})
    return payload, *decoder.decode(payload, new_episode=new_episode)


def _assert_same(back, sent):
    """``back`` is ``sent`` as the wire promises: arrays bit for bit, tuples as lists, numpy scalars as numbers."""
    if isinstance(sent, np.ndarray):
        assert isinstance(back, np.ndarray) and back.dtype == sent.dtype and np.array_equal(back, sent)
    elif isinstance(sent, dict):
        assert isinstance(back, dict) and list(back) == [str(key) for key in sent]
        for key, value in sent.items():
            _assert_same(back[str(key)], value)
    elif isinstance(sent, (list, tuple)):
        assert isinstance(back, list) and len(back) == len(sent)
        for item_back, item in zip(back, sent):
            _assert_same(item_back, item)
    else:
        assert back == (sent.item() if isinstance(sent, np.generic) else sent) and type(back) is not np.generic


def _episode():
    """A tool episode's replies as a local env gives them: the conversation grows, the view changes once."""
    first, zoomed = _image(1), _image(2)
    messages = [{"role": "system", "content": "Answer."}, {"role": "user", "content": [{"type": "image"}]}]
    images = [first]
    replies = [({"image": first, "text": "start"}, {"turn": 0, "messages": list(messages), "images": list(images)})]
    for turn, (call, view) in enumerate([("search", first), ("zoom", zoomed), ("calculator", zoomed)], start=1):
        messages += [{"role": "assistant", "content": call}, {"role": "tool", "name": call, "content": "ok"}]
        if view is not images[-1]:
            images.append(view)
            messages.append({"role": "user", "content": [{"type": "image"}]})
        info = {"turn": turn, "score": np.float32(0.5), "messages": list(messages), "images": list(images)}
        replies.append(({"image": view, "text": call}, info))
    for _, info in replies:
        info["tools"] = TOOLS
    return replies


def test_a_delta_episode_comes_back_as_the_full_observations_and_infos():
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    for index, (obs, info) in enumerate(_episode()):
        _, obs_back, info_back = _send(encoder, decoder, obs, info, new_episode=index == 0)
        _assert_same(obs_back, obs)
        _assert_same(info_back, info)


def test_only_what_the_client_lacks_travels():
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    replies = _episode()
    travelled = [
        _send(encoder, decoder, obs, info, new_episode=index == 0)[0] for index, (obs, info) in enumerate(replies)
    ]
    reset, search, zoom, calculator = travelled
    assert "data" in reset["obs"]["image"][wire.ARRAY_TAG] and reset["info"]["tools"] == TOOLS
    assert reset["info"]["images"] == [{wire.ARRAY_TAG: {"same_as": 0}}]
    # The search left the view as it was: no image travels, the tools and the images are "same".
    assert search["obs"]["image"] == {wire.ARRAY_TAG: {"same_as": 0}}
    assert search["info"]["tools"] == search["info"]["images"] == {DELTA_TAG: "same"}
    assert search["info"]["messages"] == {DELTA_TAG: {"keep": 2, "append": replies[1][1]["messages"][2:]}}
    # The zoom's new view travels once (in obs); info's list only appends a reference to it.
    assert "data" in zoom["obs"]["image"][wire.ARRAY_TAG]
    assert zoom["info"]["images"] == {DELTA_TAG: {"keep": 1, "append": [{wire.ARRAY_TAG: {"same_as": 1}}]}}
    assert calculator["obs"]["image"] == {wire.ARRAY_TAG: {"same_as": 1}}
    assert len(json.dumps(calculator)) < 1000


def test_an_array_changed_in_place_is_sent_again_never_taken_for_the_old_one():
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    view = _image(3)
    _send(encoder, decoder, {"image": view}, {"images": [view]}, new_episode=True)
    view[0, 0, 0] = 99  # as an env reusing its render buffer would
    travelled, obs, info = _send(encoder, decoder, {"image": view}, {"images": [view]})
    assert "data" in travelled["obs"]["image"][wire.ARRAY_TAG]
    assert obs["image"][0, 0, 0] == 99 and info["images"][0][0, 0, 0] == 99


def test_empty_and_shrinking_lists_travel_in_full():
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    for step, answers in enumerate([[], [], ["a", "b"], ["a"], []]):
        travelled, _, info = _send(encoder, decoder, {}, {"answers": answers}, new_episode=step == 0)
        assert travelled["info"]["answers"] == answers and info["answers"] == answers


def test_a_list_changed_in_place_is_sent_again_in_full():
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    messages = [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]
    _send(encoder, decoder, {}, {"messages": messages}, new_episode=True)
    messages[1]["content"] = "changed"  # the same dict object, edited
    messages.append({"role": "assistant", "content": "c"})
    travelled, _, info = _send(encoder, decoder, {}, {"messages": messages})
    assert travelled["info"]["messages"] == messages
    assert info["messages"] == messages


def test_a_resets_reply_is_complete_and_renumbers_the_arrays():
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    replies = _episode()
    for index, (obs, info) in enumerate(replies):
        _send(encoder, decoder, obs, info, new_episode=index == 0)
    travelled, obs, info = _send(encoder, decoder, *replies[0], new_episode=True)
    assert "data" in travelled["obs"]["image"][wire.ARRAY_TAG], "the new episode's first array is sent in full"
    assert travelled["info"]["images"] == [{wire.ARRAY_TAG: {"same_as": 0}}]
    assert travelled["info"]["tools"] == TOOLS and travelled["info"]["messages"] == replies[0][1]["messages"]
    _assert_same(info, replies[0][1])
    # A client that could not follow the last episode (a fresh decoder) reads the reset's reply alone.
    assert DeltaDecoder().decode(travelled, new_episode=True)[1]["tools"] == TOOLS


def test_values_the_client_changes_do_not_change_the_next_reply():
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    obs, info = _episode()[0]
    _, obs_back, info_back = _send(encoder, decoder, obs, info, new_episode=True)
    obs_back["image"][:] = 7
    info_back["images"][0][:] = 7
    info_back["tools"].append("junk")
    _, obs_again, info_again = _send(encoder, decoder, obs, info)
    assert np.array_equal(obs_again["image"], obs["image"]) and info_again["tools"] == TOOLS


@pytest.mark.parametrize(
    ("info", "message"),
    [
        ({"tools": {DELTA_TAG: "same"}}, "had no 'tools'"),
        ({"messages": {DELTA_TAG: {"keep": 5, "append": []}}}, "keeps 5 items"),
        ({"messages": {DELTA_TAG: {"keep": True, "append": []}}}, "keeps True"),
        ({"messages": {DELTA_TAG: {"keep": 0, "append": "x"}}}, "append must be a list"),
        ({"turn": {DELTA_TAG: {"keep": 0, "append": []}}}, "had none"),
        ({"messages": {DELTA_TAG: "later"}}, "unknown __delta__"),
        ({"images": [{wire.ARRAY_TAG: {"same_as": 1}}]}, "same_as"),
    ],
)
def test_a_delta_the_session_cannot_resolve_is_a_value_error(info, message):
    decoder = DeltaDecoder()
    decoder.decode({"obs": {}, "info": {"turn": 0, "messages": [{"role": "system"}]}}, new_episode=True)
    with pytest.raises(ValueError, match=message):
        decoder.decode({"obs": {}, "info": info}, new_episode=False)


@pytest.mark.parametrize("payload", [None, [], {"obs": {}}, {"obs": {}, "info": []}, {"info": {}}])
def test_a_payload_that_is_no_observation_is_a_value_error(payload):
    with pytest.raises(ValueError, match="observation payload"):
        DeltaDecoder().decode(payload, new_episode=True)


def test_a_reply_that_fails_to_encode_leaves_no_array_the_client_never_got():
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    _send(encoder, decoder, {"image": _image(1)}, {}, new_episode=True)
    loop: list = [_image(2)]
    loop.append(loop)  # to_wire cannot write a list that holds itself
    with pytest.raises(RecursionError):
        encoder.encode({"image": _image(1)}, {"bad": loop}, new_episode=False)
    travelled, obs, _ = _send(encoder, decoder, {"image": _image(2)}, {})
    assert "data" in travelled["obs"]["image"][wire.ARRAY_TAG] and np.array_equal(obs["image"], _image(2))


def test_the_array_memo_finds_equal_arrays_by_content_and_forgets_truncated_ones():
    memo = wire.ArrayMemo(copies=True)
    first = np.arange(1000, dtype=np.int32)
    assert memo.find(first) is None and memo.add(first) == 0
    assert memo.find(first.copy()) == 0 and memo.find(first.astype(np.int64)) is None
    nearly = first.copy()
    nearly[1] = -1  # off the strided sample: found only by comparing every value
    assert memo.find(nearly) is None and memo.add(nearly) == 1 and memo.find(nearly.copy()) == 1
    memo.truncate(1)
    assert len(memo) == 1 and memo.find(nearly) is None and memo.find(first) == 0
