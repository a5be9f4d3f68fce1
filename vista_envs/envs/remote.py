"""Remote-v0: a served env (``vista-envs serve``) stepped over the network as a Gymnasium env."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, ClassVar

import gymnasium as gym
from gymnasium import spaces

from vista_envs import wire
from vista_envs.wire_delta import DeltaDecoder

__all__ = ["RemoteEnv", "RemoteEnvError"]


class RemoteEnvError(RuntimeError):
    """The server answered a request with a protocol error (its code and message are in the text)."""


def _ws_url(url: str) -> str:
    url = url.rstrip("/")
    for http, ws in (("http://", "ws://"), ("https://", "wss://")):
        if url.startswith(http):
            return ws + url[len(http) :]
    return url if url.startswith(("ws://", "wss://")) else "ws://" + url


def _http_url(url: str) -> str:
    url = url.rstrip("/")
    for ws, http in (("ws://", "http://"), ("wss://", "https://")):
        if url.startswith(ws):
            return http + url[len(ws) :]
    return url if url.startswith(("http://", "https://")) else "http://" + url


class RemoteEnv(gym.Env):
    r"""An env served with OpenEnv's protocol (``vista-envs serve ENV_ID``), as a local Gymnasium env.

    ## Description
    Every ``reset``/``step`` is one message on the env's own WebSocket session on the server (one
    server-side env instance per ``RemoteEnv``), so learners, wrappers and ``SyncVectorEnv``/
    ``AsyncVectorEnv`` use a remote env as they use a local one. Images arrive as raw bytes or PNG (the
    server's choice) and come back as the same uint8 arrays. Step replies are deltas (:mod:`vista_envs.wire_delta`):
    an image, a message or the tool schemas travel once an episode, and this env rebuilds the full ``obs`` and
    ``info``.

    ## Action Space
    The served env's, read from the server's ``/schema`` (``x-gymnasium-space``): for the text envs
    ``UnicodeText(max_response_chars)``.

    ## Observation Space
    The served env's, from ``/schema``; observations and ``info`` are the served env's, arrays included.

    ## Rewards
    The served env's.

    ## Starting State
    ``reset(seed, options)`` is forwarded: the same seed and options give the same episode as a local env
    built with the server's ``--env-kwargs``.

    ## Episode End
    The served env's ``terminated``/``truncated``.

    ## Arguments
    - ``url`` (str): the server, ``http://host:port`` (or ``ws://host:port``).
    - ``connect_timeout_s`` (float, default 10): for ``/schema`` and the WebSocket handshake.
    - ``message_timeout_s`` (float, default 120): for one reply (a Python tool call may take seconds).
    - ``max_message_bytes`` (int, default 256 MiB): the largest reply read (a reset reply may carry many
      images of an env's first conversation turn).

    Unlike a local text env, an action the wire cannot carry as the action space's type (a non-string for
    a text env) raises ``TypeError`` here: the server refuses it with ``VALIDATION_ERROR``. A refused request
    (server at capacity, step before reset, session closed for idling) raises :class:`RemoteEnvError` with
    the server's code and message; a lost connection raises ``ConnectionError``.

    ## Version History
    - v0: initial release; step replies became episode deltas later (the same observations and infos,
      fewer bytes).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        url: str,
        connect_timeout_s: float = 10.0,
        message_timeout_s: float = 120.0,
        max_message_bytes: int = 256 * 1024 * 1024,
    ):
        from websockets.exceptions import WebSocketException
        from websockets.sync.client import connect

        self.url = _http_url(url)
        try:
            with urllib.request.urlopen(f"{self.url}/schema", timeout=connect_timeout_s) as reply:
                schema = json.load(reply)
            action_schema, observation_schema = schema["action"], schema["observation"]
            self.action_space = wire.spec_to_space(action_schema["x-gymnasium-space"])
            self.observation_space = wire.spec_to_space(observation_schema["x-gymnasium-space"])
            self.remote_env_id = str(observation_schema.get("x-env-id", "?"))
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(f"Remote-v0: cannot read {self.url}/schema: {error}") from None
        except (KeyError, TypeError, ValueError) as error:
            raise ConnectionError(
                f"Remote-v0: {self.url} is not a vista-envs server (its /schema lacks the spaces: {error})"
            ) from None
        self._message_timeout_s = message_timeout_s
        self._deltas = DeltaDecoder()
        self._text_actions = isinstance(self.action_space, spaces.Text)
        try:
            # Entered by hand because the connection outlives this call (close() leaves it); no
            # per-message deflate: arrays are already encoded, and deflating them costs more time than
            # loopback or a LAN saves (a slow link wants the server's --image-encoding png).
            self._ws = connect(
                f"{_ws_url(self.url)}/ws", open_timeout=connect_timeout_s, max_size=max_message_bytes, compression=None
            ).__enter__()
        except (OSError, TimeoutError, WebSocketException) as error:
            raise ConnectionError(f"Remote-v0: cannot open a session at {self.url}/ws: {error}") from None

    def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        if self._ws is None:
            raise RemoteEnvError(f"Remote-v0 ({self.remote_env_id}): the env is closed")
        try:
            try:
                self._ws.send(json.dumps(message))
            except ConnectionClosed:
                pass  # a refusal (server at capacity) may wait in the buffer: read it below
            reply = json.loads(self._ws.recv(timeout=self._message_timeout_s))
        except (ConnectionClosed, TimeoutError, OSError) as error:
            raise ConnectionError(f"Remote-v0 ({self.remote_env_id} at {self.url}): {error}") from None
        data = reply.get("data", {})
        if reply.get("type") == "error":
            raise RemoteEnvError(
                f"Remote-v0 ({self.remote_env_id} at {self.url}): {data.get('code')}: {data.get('message')}"
            )
        return data

    def _result(self, data: dict[str, Any], new_episode: bool) -> tuple[Any, dict[str, Any], bool, bool]:
        body = data["observation"]
        try:
            obs, info = self._deltas.decode(body, new_episode=new_episode)
        except ValueError as error:
            raise RemoteEnvError(f"Remote-v0 ({self.remote_env_id} at {self.url}): unreadable reply: {error}") from None
        return obs, info, bool(body["terminated"]), bool(body["truncated"])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        # Deltas: each step's reply carries only what this client does not have yet (vista_envs.wire_delta).
        request: dict[str, Any] = {"deltas": True}
        if seed is not None:
            request["seed"] = int(seed)
        if options is not None:
            request["options"] = options
        obs, info, _, _ = self._result(self._request({"type": "reset", "data": request}), new_episode=True)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        if self._text_actions:
            if not isinstance(action, str):
                raise TypeError(
                    f"Remote-v0 ({self.remote_env_id}): a text env's action must be a str, got {type(action).__name__}"
                )
            payload: dict[str, Any] = {"text": action}
        else:
            payload = {"value": wire.to_wire(action)}
        data = self._request({"type": "step", "data": payload})
        obs, info, terminated, truncated = self._result(data, new_episode=False)
        return obs, float(data["reward"]), terminated, truncated, info

    def close(self) -> None:
        from websockets.exceptions import ConnectionClosed

        if getattr(self, "_ws", None) is not None:
            try:
                # Ask the server to end the session, then let it close the connection: a client-side
                # close racing the server's own close makes the server log a disconnect error.
                self._ws.send(json.dumps({"type": "close"}))
                self._ws.recv(timeout=10.0)
            except (ConnectionClosed, TimeoutError, OSError):
                pass  # closed, as asked (or the server is gone already)
            self._ws.close()
            self._ws = None
        super().close()
