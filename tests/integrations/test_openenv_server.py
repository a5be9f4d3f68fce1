"""``vista-envs serve``: OpenEnv's own client drives served envs; bad requests never hurt the server.

Servers bind 127.0.0.1 on a free port (``running_server``) and stop at the end of their fixture; every
wait below is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import socket
import time
import tracemalloc

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from PIL import Image

pytest.importorskip("openenv.core.env_server.http_server")
httpx = pytest.importorskip("httpx")
from openenv.core.generic_client import GenericEnvClient  # noqa: E402
from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

import vista_envs  # noqa: E402
from vista_envs import wire  # noqa: E402
from vista_envs.integrations.openenv_server import decode_action_value, running_server  # noqa: E402

import repo_paths

TOOL_KWARGS = {"sandbox": "process", "image_size": 224}
SEED = 11


@pytest.fixture(scope="module")
def qa_server():
    with running_server("VisualQA-v0", max_sessions=3, max_message_bytes=256 * 1024) as server:
        yield server


@pytest.fixture(scope="module")
def tool_server():
    with running_server("VistaTool-v0", TOOL_KWARGS, max_sessions=4) as server:
        yield server


def _client(server):
    return GenericEnvClient(base_url=server.url, message_timeout_s=60).sync()


def _until(condition, timeout_s=60.0):
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False): a bound on how long the server's
    background work (closing sessions, reaping sandbox workers) may take, generous for a loaded machine."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _children():
    """Pids of this process's live child processes (the sandbox workers of in-process servers)."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid() and fields[0] != b"Z":
                pids.add(int(entry))
    return pids


def _ws_url(server):
    return server.url.replace("http://", "ws://") + "/ws"


async def _exchange(ws, message):
    await ws.send(message if isinstance(message, str) else json.dumps(message))
    return json.loads(await asyncio.wait_for(ws.recv(), 30))


# -- done when ---------------------------------------------------------------------------------


def test_openenvs_own_client_solves_a_served_vista_tool_episode_with_a_python_call_and_a_zoom(tool_server):
    local = gym.make("VistaTool-v0", **TOOL_KWARGS)
    local_obs, _ = local.reset(seed=SEED)
    answer_turn = local.unwrapped.oracle_trajectory()[-1]
    tool_turn = (
        '<tool_call>{"name": "python", "arguments": {"code": "print(image.shape, 6 * 7)"}}</tool_call>'
        '<tool_call>{"name": "zoom", "arguments": {"x": 60, "y": 80, "factor": 2}}</tool_call>'
    )
    local_after_tools = local.step(tool_turn)
    local_end = local.step(answer_turn)
    local.close()

    with _client(tool_server) as client:
        first = client.reset(seed=SEED)
        reset_image = wire.decode_observation(first.observation)[0]["image"]
        assert np.array_equal(reset_image, local_obs["image"]) and first.observation["obs"]["text"] == local_obs["text"]
        assert "answer" not in first.observation["info"] and not first.done

        tools = client.step({"text": tool_turn})
        obs, _ = wire.decode_observation(tools.observation)
        assert "(224, 224, 3) 42" in obs["text"], "the Python tool ran in the served env's sandbox"
        assert not np.array_equal(obs["image"], reset_image), "the zoom changed the view"
        assert (
            np.array_equal(obs["image"], local_after_tools[0]["image"]) and obs["text"] == local_after_tools[0]["text"]
        )
        assert tools.reward == pytest.approx(local_after_tools[1]) and not tools.done

        end = client.step({"text": answer_turn})
        _, info = wire.decode_observation(end.observation)
        assert end.done and end.observation["terminated"] and info["is_success"] is True
        assert end.reward == pytest.approx(local_end[1]) and info["answer"] == local_end[4]["answer"]
        assert client.state()["step_count"] == 2


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_openenvs_client_resets_and_steps_every_registered_id(env_id):
    local = gym.make(env_id)
    local_obs, _ = local.reset(seed=3)
    local.action_space.seed(3)
    action = (
        local.action_space.sample() if not isinstance(local.action_space, gym.spaces.Text) else "<answer>1</answer>"
    )
    local_step = local.step(action)
    local.close()
    payload = {"text": action} if isinstance(action, str) else {"value": np.asarray(action).tolist()}
    with running_server(env_id, max_sessions=1) as server, _client(server) as client:
        obs, _ = wire.decode_observation(client.reset(seed=3).observation)
        assert data_equivalence(obs, local_obs)
        result = client.step(payload)
        assert result.reward == pytest.approx(local_step[1]) and result.done == (local_step[2] or local_step[3])
        assert data_equivalence(wire.decode_observation(result.observation)[0], local_step[0])


# -- sessions ----------------------------------------------------------------------------------


def test_sessions_are_isolated_each_with_its_own_env(qa_server):
    with _client(qa_server) as one, _client(qa_server) as two:
        a = one.reset(seed=1).observation["obs"]
        b = two.reset(seed=2).observation["obs"]
        assert a["text"] != b["text"] or a["image"] != b["image"]
        one.step({"text": "<answer>no</answer>"})
        assert one.state()["step_count"] == 1 and two.state()["step_count"] == 0
        # The other session's episode is still running: it can still step.
        assert two.step({"text": "<answer>no</answer>"}).done
    assert _until(lambda: qa_server.active_sessions == 0)


def test_a_session_past_max_sessions_is_refused_with_capacity_reached_and_the_slot_comes_back(qa_server):
    clients = [_client(qa_server) for _ in range(3)]
    try:
        for client in clients:
            client.connect()
            client.reset(seed=0)

        async def refused():
            async with ws_connect(_ws_url(qa_server)) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 30))

        refusal = asyncio.run(refused())
        assert refusal["type"] == "error" and refusal["data"]["code"] == "CAPACITY_REACHED"
        assert refusal["data"]["max_sessions"] == 3 and "capacity" in refusal["data"]["message"].lower()
        # OpenEnv's client sees the refusal, or the closed connection if the close frame wins the race.
        with _client(qa_server) as extra, pytest.raises((RuntimeError, ConnectionClosed)):
            extra.reset(seed=0)
    finally:
        clients.pop().close()
    assert _until(lambda: qa_server.active_sessions == 2), "the closed session's slot came back"
    with _client(qa_server) as late:
        assert not late.reset(seed=0).done
    for client in clients:
        client.close()
    assert _until(lambda: qa_server.active_sessions == 0)


def test_a_burst_of_connects_gets_capacity_errors_never_a_dead_server(qa_server):
    attempts = 24

    async def burst():
        answered = set()
        all_answered = asyncio.Event()

        def has_answer(index):
            answered.add(index)
            if len(answered) == attempts:
                all_answered.set()

        async def attempt(index):
            try:
                async with ws_connect(_ws_url(qa_server), open_timeout=60) as ws:
                    try:
                        await ws.send(json.dumps({"type": "reset", "data": {"seed": 0}}))
                    except ConnectionClosed:
                        pass  # refused before the send: the refusal is still in the buffer
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    has_answer(index)
                    if reply["type"] == "observation":
                        # Hold the slot until every attempt has its answer (not for a fixed time, which a loaded
                        # machine can outlast): no slot frees during the burst.
                        await asyncio.wait_for(all_answered.wait(), 60)
                    return reply["type"] if reply["type"] == "observation" else reply["data"]["code"]
            except ConnectionClosed:
                return "closed"
            finally:
                has_answer(index)

        return await asyncio.gather(*(attempt(index) for index in range(attempts)))

    outcomes = asyncio.run(burst())
    assert 1 <= outcomes.count("observation") <= 3, outcomes
    assert outcomes.count("CAPACITY_REACHED") >= 21
    assert _until(lambda: qa_server.active_sessions == 0)
    assert httpx.get(f"{qa_server.url}/health").json()["status"] == "healthy"
    with _client(qa_server) as client:
        assert not client.reset(seed=0).done
    assert _until(lambda: qa_server.active_sessions == 0)  # the next test starts with every slot free


# -- bad input ---------------------------------------------------------------------------------


def test_malformed_messages_get_protocol_errors_and_the_session_goes_on(qa_server):
    async def run():
        async with ws_connect(_ws_url(qa_server)) as ws:
            codes = []
            codes.append((await _exchange(ws, "{not json"))["data"]["code"])
            codes.append((await _exchange(ws, {"type": "teleport"}))["data"]["code"])
            step_before_reset = await _exchange(ws, {"type": "step", "data": {"text": "<answer>1</answer>"}})
            codes.append(step_before_reset["data"]["code"])
            assert "reset()" in step_before_reset["data"]["message"]
            assert (await _exchange(ws, {"type": "reset", "data": {"seed": 4}}))["type"] == "observation"
            codes.append((await _exchange(ws, {"type": "step", "data": {"text": 5}}))["data"]["code"])
            codes.append((await _exchange(ws, {"type": "step", "data": {"value": [1, 2]}}))["data"]["code"])
            codes.append((await _exchange(ws, {"type": "step", "data": "answer"}))["data"]["code"])
            bad_seed = await _exchange(ws, {"type": "reset", "data": {"seed": "four"}})
            codes.append(bad_seed["data"]["code"])
            assert "seed" in bad_seed["data"]["message"]
            unknown = await _exchange(ws, {"type": "reset", "data": {"seed": 4, "warp": 9}})
            assert "warp" in unknown["data"]["message"]
            # After all that, the same session still plays its episode to the end.
            assert (await _exchange(ws, {"type": "reset", "data": {"seed": 4}}))["type"] == "observation"
            final = await _exchange(ws, {"type": "step", "data": {"text": "<answer>1</answer>"}})
            assert final["type"] == "observation" and final["data"]["done"] is True
            return codes

    assert asyncio.run(run()) == [
        "INVALID_JSON",
        "UNKNOWN_TYPE",
        "EXECUTION_ERROR",
        "VALIDATION_ERROR",
        "VALIDATION_ERROR",
        "VALIDATION_ERROR",
        "EXECUTION_ERROR",
    ]
    assert _until(lambda: qa_server.active_sessions == 0)


def test_frames_that_are_no_json_object_get_errors_and_the_session_goes_on(qa_server):
    async def run():
        async with ws_connect(_ws_url(qa_server)) as ws:
            assert (await _exchange(ws, {"type": "reset", "data": {"seed": 6}}))["type"] == "observation"
            replies = [
                await _exchange(ws, text) for text in ("[1, 2]", "5", '"reset"', "null", "[" * 100_000 + "]" * 100_000)
            ]
            await ws.send(b'{"type": "state"}')
            replies.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
            final = await _exchange(ws, {"type": "step", "data": {"text": "<answer>1</answer>"}})
            return replies, final

    replies, final = asyncio.run(run())
    assert [reply["data"]["code"] for reply in replies] == ["INVALID_JSON"] * 6
    assert "JSON object" in replies[0]["data"]["message"] and "binary" in replies[-1]["data"]["message"]
    assert final["type"] == "observation" and final["data"]["done"] is True, "the same episode went on"
    assert _until(lambda: qa_server.active_sessions == 0)


def test_an_oversize_message_closes_only_its_own_connection(qa_server):
    async def run():
        async with ws_connect(_ws_url(qa_server)) as bystander:
            assert (await _exchange(bystander, {"type": "reset", "data": {"seed": 5}}))["type"] == "observation"
            async with ws_connect(_ws_url(qa_server), max_size=None) as offender:
                await offender.send(json.dumps({"type": "step", "data": {"text": "x" * 400_000}}))
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(offender.recv(), 30)
                assert closed.value.rcvd.code == 1009  # "message too big"
            reply = await _exchange(bystander, {"type": "step", "data": {"text": "<answer>2</answer>"}})
            assert reply["type"] == "observation" and reply["data"]["done"] is True

    asyncio.run(run())
    assert _until(lambda: qa_server.active_sessions == 0)


def test_bad_http_requests_get_protocol_errors(qa_server):
    with httpx.Client(base_url=qa_server.url, timeout=30) as http:
        assert (
            http.post("/reset", content=b"x" * 300_000, headers={"content-type": "application/json"}).status_code == 413
        )
        assert http.post("/reset", content=b"{bad", headers={"content-type": "application/json"}).status_code == 422
        assert http.post("/step", json={"action": {"text": 7}}).status_code == 422
        # OpenEnv's HTTP /step is stateless (a fresh env per request): the env's own message comes back.
        stateless = http.post("/step", json={"action": {"text": "<answer>1</answer>"}})
        assert stateless.status_code == 400 and "reset()" in stateless.json()["detail"]
        unknown = http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"session_id": "no-such-session"}},
        )
        assert "Unknown session_id" in unknown.json()["error"]["message"]
        close_unknown = http.post(
            "/mcp",
            json={
                "jsonrpc": "2.0",
                "id": 2,
                "method": "openenv/session/close",
                "params": {"session_id": "no-such-session"},
            },
        )
        assert "Unknown session_id" in close_unknown.json()["error"]["message"]
        assert http.get("/health").json()["status"] == "healthy"
        reset = http.post("/reset", json={"seed": 3})
        assert reset.status_code == 200 and reset.json()["observation"]["obs"]["text"]


def test_a_malformed_array_action_gets_a_validation_error_and_the_session_goes_on():
    # A Box env's bad action raised a ValueError whose error context pydantic keeps as the exception object, which
    # OpenEnv could not serialise: HTTP answered "Object of type ValueError is not JSON serializable" (and logged a
    # traceback), and the WebSocket session was ended with SESSION_ERROR.
    async def run(url):
        async with ws_connect(url) as ws:
            assert (await _exchange(ws, {"type": "reset", "data": {"seed": 1}}))["type"] == "observation"
            refusal = await _exchange(ws, {"type": "step", "data": {"value": [1, 2]}})
            after = await _exchange(ws, {"type": "step", "data": {"value": [0, 0, 0, 0]}})
            return refusal, after

    with running_server("VistaRobotEE-v0", max_sessions=1) as server:
        refusal, after = asyncio.run(run(_ws_url(server)))
        stateless = httpx.post(f"{server.url}/step", json={"action": {"value": [1, 2]}}, timeout=60)
    assert refusal["data"]["code"] == "VALIDATION_ERROR" and "shape is (2,)" in json.dumps(refusal)
    assert after["type"] == "observation", "the same session went on"
    assert stateless.status_code == 422 and "shape is (2,)" in stateless.text


def _blank_png_action():
    """A 2000 x 2000 RGBA PNG, tagged as the 2000 x 2000 x 4 array it is: 16 kB on the wire, 16 MB decoded."""
    buffer = io.BytesIO()
    Image.new("RGBA", (2000, 2000)).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    return {wire.ARRAY_TAG: {"encoding": "png", "dtype": "|u1", "shape": [2000, 2000, 4], "data": data}}


def _many_references_action():
    """One 64 kB array and 1,000 same_as references to it: 30 kB of JSON, 64 MB decoded."""
    return [wire.encode_array(np.zeros(1 << 16, np.uint8))] + [{wire.ARRAY_TAG: {"same_as": 0}}] * 1000


@pytest.mark.parametrize("action", [_blank_png_action, _many_references_action], ids=["png-bomb", "same-as-copies"])
def test_an_action_that_decodes_to_far_more_than_its_space_holds_is_refused_before_it_is_decoded(action):
    # VistaRobotEE-v0's action is 4 numbers. A request of a few MB in either form decodes to gigabytes: one such
    # request took 1.5 GB and blocked the server's event loop for 6 s.
    value = action()
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="allowed here"):
            decode_action_value(gym.spaces.Box(-1, 1, (4,), np.float32), value)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_connection_that_sends_no_whole_request_in_time_is_closed_and_websockets_are_not():
    # uvicorn waits for ever for a request: with 300 silent connections held open, a server limited to 256 files
    # answered no one (slowloris). Each connection below must be closed within a bound of the 1 s timeout.
    with running_server("VisualQA-v0", request_timeout_s=1.0) as server:
        address = ("127.0.0.1", int(server.url.rsplit(":", 1)[1]))
        silent = socket.create_connection(address)
        headers_only = socket.create_connection(address)
        headers_only.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        part_of_a_body = socket.create_connection(address)
        part_of_a_body.sendall(b"POST /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")

        async def websocket_outlives_the_timeout():
            async with ws_connect(_ws_url(server)) as ws:
                assert (await _exchange(ws, {"type": "reset", "data": {"seed": 1}}))["type"] == "observation"
                await asyncio.sleep(3.0)
                return await _exchange(ws, {"type": "step", "data": {"text": "<answer>1</answer>"}})

        step = asyncio.run(websocket_outlives_the_timeout())
        for connection in (silent, headers_only, part_of_a_body):
            connection.settimeout(30)
            with connection:
                assert connection.recv(1024) == b"", "the server closed the connection"
        assert step["type"] == "observation"
        assert httpx.get(f"{server.url}/health", timeout=30).json()["status"] == "healthy"


def test_schema_carries_the_gymnasium_spaces_and_the_image_encoding(qa_server):
    schema = httpx.get(f"{qa_server.url}/schema").json()
    local = gym.make("VisualQA-v0")
    assert wire.spec_to_space(schema["observation"]["x-gymnasium-space"]) == local.observation_space
    assert wire.spec_to_space(schema["action"]["x-gymnasium-space"]) == local.action_space
    assert (
        schema["observation"]["x-image-encoding"] == "raw"
        and "__ndarray__" in schema["observation"]["x-array-encoding"]
    )
    assert "text" in schema["action"]["properties"]


def test_a_png_server_sends_the_same_pixels_in_fewer_bytes():
    local = gym.make("VisualQA-v0")
    local_obs, _ = local.reset(seed=8)
    with running_server("VisualQA-v0", image_encoding="png") as server, _client(server) as client:
        image = client.reset(seed=8).observation["obs"]["image"]
    assert image[wire.ARRAY_TAG]["encoding"] == "png"
    assert np.array_equal(wire.decode_array(image), local_obs["image"])
    assert len(image[wire.ARRAY_TAG]["data"]) < len(wire.encode_array(local_obs["image"])[wire.ARRAY_TAG]["data"])


# -- reaping -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close message", "dropped connection"])
def test_a_client_that_goes_away_has_its_session_and_sandbox_workers_reaped(tool_server, how):
    before = _children()

    async def run():
        ws = await ws_connect(_ws_url(tool_server))
        await _exchange(ws, {"type": "reset", "data": {"seed": 2}})
        call = '<tool_call>{"name": "python", "arguments": {"code": "print(1)"}}</tool_call>'
        assert (await _exchange(ws, {"type": "step", "data": {"text": call}}))["type"] == "observation"
        assert _children() - before, "the session's sandbox worker runs while the session lives"
        if how == "close message":
            await ws.send(json.dumps({"type": "close"}))
            await asyncio.wait_for(ws.wait_closed(), 30)
        else:
            ws.transport.abort()  # no close frame: the TCP connection just drops

    asyncio.run(run())
    assert _until(lambda: tool_server.active_sessions == 0)
    assert _until(lambda: not (_children() - before)), "the session's sandbox workers are gone"


def test_an_idle_session_is_closed_after_its_timeout_and_then_says_so():
    # OpenEnv's reaper wakes every max(timeout / 4, 5) s: the session goes within about 10 s of its reset; the wait
    # below is only a bound (generous, for a loaded machine).
    with running_server("VisualQA-v0", session_timeout_s=1.0) as server, _client(server) as client:
        client.reset(seed=0)
        assert _until(lambda: server.active_sessions == 0, timeout_s=40)

        def refused():
            # The reaper drops the session first and closes its env just after: poll (bounded) for that.
            try:
                client.reset(seed=0)
            except RuntimeError as error:
                assert "closed by the server" in str(error)
                return True
            return False

        assert _until(refused, timeout_s=30)


# -- the command line --------------------------------------------------------------------------


@pytest.mark.parametrize("env_kwargs", ["{not json", "[1, 2]"])
def test_serve_refuses_env_kwargs_that_are_not_a_json_object(env_kwargs, capsys):
    from vista_envs.cli import main

    assert main(["serve", "VisualQA-v0", "--env-kwargs", env_kwargs]) == 2
    assert "--env-kwargs" in capsys.readouterr().err


def test_serve_refuses_an_unknown_id_before_listening(capsys):
    from vista_envs.cli import main

    assert main(["serve", "NoSuchEnv-v0", "--port", "1"]) == 2
    assert "NoSuchEnv" in capsys.readouterr().err


@pytest.mark.slow
def test_the_serve_command_serves_until_stopped(tmp_path):
    import subprocess
    import sys

    with socket_port() as port:
        pass
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vista_envs.cli",
            "serve",
            "VisualQA-v0",
            "--port",
            str(port),
            "--env-kwargs",
            '{"image_size": 64}',
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def healthy():
            try:
                return httpx.get(f"{url}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert _until(healthy, timeout_s=120), "the server came up"
        env = gym.make("vista_envs:Remote-v0", url=url)
        assert env.reset(seed=0)[0]["image"].shape == (64, 64, 3)
        env.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.contextmanager
def socket_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# -- the docs ----------------------------------------------------------------------------------


def test_the_openenv_examples_in_the_docs_run_against_a_served_env():

    text = (repo_paths.DOCS / "integrations.md").read_text()
    section = text.split("## OpenEnv", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0] for block in section.split("```python\n")[1:]]
    assert len(blocks) == 3, "the OpenEnv client example, the Remote-v0 example and the deltas example"
    with running_server("VisualQA-v0", max_sessions=4) as server:
        for block in blocks:
            exec(compile(block.replace("http://127.0.0.1:8000", server.url), "docs/integrations.md", "exec"), {})
        assert _until(lambda: server.active_sessions == 0)


def test_stopping_the_server_closes_open_sessions_and_their_sandbox_workers():
    before = _children()
    with running_server("VistaTool-v0", TOOL_KWARGS, max_sessions=2) as server:
        client = _client(server)
        client.reset(seed=1)
        # A Python call makes the episode take its interpreter: the sandbox's zygote starts on a
        # background thread, so right after reset it may not have forked yet.
        call = '<tool_call>{"name": "python", "arguments": {"code": "print(6 * 7 + 1000)"}}</tool_call>'
        obs, _ = wire.decode_observation(client.step({"text": call}).observation)
        assert "1042" in obs["text"], "the Python call ran"
        assert _children() - before, "the open session has its sandbox worker"
    try:
        assert _until(lambda: not (_children() - before)), "no sandbox worker outlives the server"
    finally:
        with contextlib.suppress(Exception):
            client.close()


class SlowToMakeEnv(gym.Env):
    """An env that takes 0.4 s to make (as VistaTool-v0's sandbox takes about 0.3 s), counting the envs alive."""

    observation_space = gym.spaces.Discrete(2)
    action_space = gym.spaces.Discrete(2)
    alive = made = most_alive = 0

    def __init__(self):
        time.sleep(0.4)
        cls = type(self)
        cls.made += 1
        cls.alive += 1
        cls.most_alive = max(cls.most_alive, cls.alive)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return 0, {}

    def step(self, action):
        return 0, 0.0, True, False, {}

    def close(self):
        type(self).alive -= 1


def test_stateless_requests_make_their_envs_off_the_event_loop_and_only_a_few_at_once():
    from concurrent.futures import ThreadPoolExecutor

    from vista_envs.integrations.openenv_server import STATELESS_ENVS

    env_id = "vista_envs_tests/SlowToMake-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=SlowToMakeEnv)
    with running_server(env_id, max_sessions=1) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        made = SlowToMakeEnv.made
        # /metadata and /state make no env: the description was read once, when the app was made.
        for path in ("/metadata", "/state"):
            assert client.get(path).status_code == 200
        assert SlowToMakeEnv.made == made
        with ThreadPoolExecutor(8) as pool:
            resets = [pool.submit(client.post, "/reset", json={}) for _ in range(8)]
            time.sleep(0.2)
            # The server answers while the resets make their envs (on the event loop, 8 x 0.4 s would hold it).
            waits = []
            for _ in range(5):
                started = time.monotonic()
                assert client.get("/health").status_code == 200
                waits.append(time.monotonic() - started)
                time.sleep(0.1)
            assert all(reply.result().status_code == 200 for reply in resets)
    assert max(waits) < 0.3, waits
    assert SlowToMakeEnv.made - made == 8
    assert SlowToMakeEnv.most_alive <= 1 + STATELESS_ENVS
