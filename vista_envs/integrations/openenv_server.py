"""Serve any registered vista-envs id with OpenEnv's protocol (extra ``openenv``).

The server is OpenEnv's own (:class:`openenv.core.env_server.http_server.HTTPEnvServer`): a WebSocket
session per connection at ``/ws`` (``reset``, ``step``, ``state``, ``close`` messages), ``/schema``,
``/health``, ``/metadata`` and OpenEnv's stateless HTTP ``/reset``, ``/step``, ``/state``. This module
supplies what OpenEnv leaves to each environment:

- :class:`GymnasiumEnvironment`, an OpenEnv ``Environment`` holding one Gymnasium env per session;
- the Action and Observation models of an id, built from its Gymnasium spaces, whose JSON schemas
  (``/schema``) carry the spaces themselves (``x-gymnasium-space``) and the array encoding;
- the guards OpenEnv does not have: a cap on request size, protocol errors (not tracebacks) for env
  exceptions on the HTTP routes, and a closed session that says so instead of stepping a closed env.

Wire format (see :mod:`vista_envs.wire`): an action is ``{"text": str}`` for text action spaces and
``{"value": ...}`` otherwise (a number, nested lists, or a tagged array); an observation is
``{"obs": ..., "info": ..., "terminated": bool, "truncated": bool}`` plus OpenEnv's ``reward``/``done``,
with every array a tagged ``{"__ndarray__": {...}}`` object (raw bytes or PNG, base64). A session that
resets with ``deltas=true`` gets only what it lacks in each step's reply (:mod:`vista_envs.wire_delta`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from openenv.core.env_server.http_server import HTTPEnvServer
from openenv.core.env_server.interfaces import Environment
from openenv.core.env_server.types import (
    Action,
    ConcurrencyConfig,
    EnvironmentMetadata,
    Observation,
    State,
)
from pydantic import ConfigDict, Field, StrictStr, field_validator
from pydantic_core import PydanticCustomError
from starlette.websockets import WebSocketDisconnect

import vista_envs
from vista_envs import wire
from vista_envs.wire_delta import DeltaEncoder

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "DEFAULT_REQUEST_TIMEOUT_S",
    "GymnasiumEnvironment",
    "RunningServer",
    "STATELESS_ENVS",
    "SessionClosedError",
    "create_app",
    "running_server",
    "serve",
]

DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Largest request (HTTP body or WebSocket message) the server reads: far above any text action
(``max_response_chars`` of 4-byte characters, JSON-escaped) and far below what would hurt the server."""


STATELESS_ENVS = 2
"""Envs that stateless requests (``POST /reset``, ``/step``, ...) may hold at once beside the sessions' own."""

DEFAULT_REQUEST_TIMEOUT_S = 30.0
"""Seconds a connection has to send a whole HTTP request (headers and body), from its opening or its previous
response; then it is closed. uvicorn alone waits for ever, so silent or trickling connections (slowloris) could hold
every file descriptor of the server, which then answered no one. An upgraded WebSocket is not timed."""


class SessionClosedError(RuntimeError):
    """A request reached a session that the server has closed (idle timeout or shutdown)."""


# -- models ------------------------------------------------------------------------------------


class TextAction(Action):
    """A text env's action: the model's whole turn."""

    text: StrictStr = Field(description="The model's whole turn (any Unicode string).")


class ValueAction(Action):
    """A non-text env's action, decoded against the env's action space."""

    space: ClassVar[gym.Space | None] = None
    value: Any = Field(description="A number, nested lists, or a tagged array {'__ndarray__': {...}}.")

    @field_validator("value")
    @classmethod
    def _decode(cls, value: Any) -> Any:
        try:
            return decode_action_value(cls.space, value)
        except ValueError as error:
            # Not a plain ValueError: pydantic keeps that exception object in the error's context, which OpenEnv
            # cannot serialise; the HTTP route then failed and the WebSocket route ended the session.
            raise PydanticCustomError("invalid_action", "{reason}", {"reason": str(error)}) from None


class GymObservation(Observation):
    """One Gymnasium ``reset``/``step`` result; OpenEnv's ``reward`` and ``done`` (= terminated or truncated) too."""

    obs: Any = Field(description="The Gymnasium observation, arrays as tagged objects.")
    info: dict[str, Any] = Field(default_factory=dict, description="The Gymnasium info, arrays as tagged objects.")
    terminated: bool = False
    truncated: bool = False


# The widest number a wire array holds (a longdouble): an action of n numbers decodes to at most 16 n bytes.
_MAX_NUMBER_BYTES = 16


def decode_action_value(space: gym.Space | None, value: Any) -> Any:
    """A wire action for a non-text space: arrays for Box/Multi* spaces (shape-checked), ints for Discrete."""
    if isinstance(space, gym.spaces.Discrete):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"a Discrete action must be an int, got {type(value).__name__}")
        return value
    array_space = isinstance(space, (gym.spaces.Box, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary))
    # Bounded before decoding: a request of a few MB (a blank PNG, one array and thousands of same_as
    # references to it) would otherwise decode to gigabytes, and the server would be killed for memory.
    max_bytes = _MAX_NUMBER_BYTES * max(1, math.prod(space.shape)) if array_space else DEFAULT_MAX_MESSAGE_BYTES
    value = wire.from_wire(value, max_bytes=max_bytes)
    if array_space:
        try:
            array = np.asarray(value, dtype=space.dtype)
        except (TypeError, ValueError) as error:
            raise ValueError(f"the action is not a numeric array: {error}") from None
        if array.shape != space.shape:
            raise ValueError(f"the action's shape is {array.shape}, the action space's is {space.shape}")
        return array
    return value


_ENCODING_NOTE = (
    "Arrays (images included) are tagged objects {'__ndarray__': {'encoding': 'raw' | 'png', 'dtype', 'shape', "
    "'data'}}: 'raw' is the C-order bytes in base64, 'png' a lossless PNG in base64 (uint8 images only). An array "
    "repeated within one message (obs then info) is {'__ndarray__': {'same_as': k}}, the k-th array of the message. "
    "An episode reset with deltas=true gets deltas in its step replies (the reset's reply is complete): arrays are "
    "numbered over the episode (same_as k: the k-th array since the reset's reply); a top-level info list or object "
    "equal to the previous reply's is {'__delta__': 'same'}; a top-level info list that extends the previous "
    "reply's n items is {'__delta__': {'keep': n, 'append': [...]}}."
)


def _models(env_id: str, env: gym.Env, image_encoding: str) -> tuple[type[Action], type[Observation]]:
    """The Action and Observation classes of ``env_id``; their JSON schemas carry the Gymnasium spaces."""
    stem = "".join(ch for ch in env_id.split("-v")[0] if ch.isalnum())
    action_spec = wire.space_to_spec(env.action_space)
    is_text = isinstance(env.action_space, gym.spaces.Text)
    action_base = TextAction if is_text else ValueAction
    action_extra = {"x-env-id": env_id, "x-gymnasium-space": action_spec, "x-array-encoding": _ENCODING_NOTE}
    action_attrs: dict[str, Any] = {"model_config": ConfigDict(json_schema_extra=action_extra), "__module__": __name__}
    if not is_text:
        action_attrs["space"] = env.action_space
    action_cls = type(f"{stem}Action", (action_base,), action_attrs)
    observation_extra = {
        "x-env-id": env_id,
        "x-gymnasium-space": wire.space_to_spec(env.observation_space),
        "x-image-encoding": image_encoding,
        "x-array-encoding": _ENCODING_NOTE,
    }
    observation_cls = type(
        f"{stem}Observation",
        (GymObservation,),
        {"model_config": ConfigDict(json_schema_extra=observation_extra), "__module__": __name__},
    )
    return action_cls, observation_cls


# -- the OpenEnv environment -------------------------------------------------------------------


class GymnasiumEnvironment(Environment):
    """An OpenEnv ``Environment`` around one Gymnasium env (one per session; OpenEnv makes one per connection).

    The Gymnasium env is made on first use (``reset``, ``step``), not here: OpenEnv makes an Environment for every
    stateless request (``POST /reset``, ``/step``, ``/mcp``, ``GET /state``, ``/metadata``), some on its event loop,
    where making the env (VistaTool-v0's sandbox: about 0.3 s) held up every other connection; ``reset`` and
    ``step`` run in OpenEnv's thread pools. ``env_slots``, shared by every Environment of an app, bounds how many
    envs are alive at once: past it, making one waits (in its thread) for another to close.

    Args:
        env_id: a registered Gymnasium id.
        env_kwargs: keyword arguments of ``gym.make``.
        observation_cls: the id's Observation model (from :func:`create_app`).
        image_encoding: ``"raw"`` or ``"png"`` (see :mod:`vista_envs.wire`).
        description: the env's one-line description, for ``/metadata`` (default: the id).
        env_slots: a semaphore of the envs that may be alive at once, or None for no bound.
    """

    # Each session owns its env instance; nothing is shared between instances.
    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(
        self,
        env_id: str,
        env_kwargs: Mapping[str, Any],
        observation_cls: type[Observation],
        image_encoding: str,
        description: str = "",
        env_slots: threading.BoundedSemaphore | None = None,
    ):
        super().__init__()
        self.env_id = env_id
        self._env_kwargs = dict(env_kwargs)
        self._env: gym.Env | None = None
        self._env_slots = env_slots
        self._lock = threading.Lock()  # making and closing the env (the idle reaper may close from another thread)
        self._description = description or env_id
        self._observation_cls = observation_cls
        self._image_encoding = image_encoding
        self._state = State(episode_id=None, step_count=0)
        self._closed = False
        self._deltas: DeltaEncoder | None = None  # this episode's, when its reset asked for deltas

    @property
    def env(self) -> gym.Env:
        """The Gymnasium env, made on first use (see the class's doc)."""
        with self._lock:
            self._check_open()
            if self._env is None:
                if self._env_slots is not None:
                    self._env_slots.acquire()
                try:
                    self._env = gym.make(self.env_id, **self._env_kwargs)
                except BaseException:
                    if self._env_slots is not None:
                        self._env_slots.release()
                    raise
            return self._env

    def _check_open(self) -> None:
        if self._closed:
            raise SessionClosedError(
                f"{self.env_id}: this session was closed by the server (idle past its timeout, or shut down); "
                "open a new connection"
            )

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        options: dict[str, Any] | None = None,
        deltas: bool = False,
        **kwargs: Any,
    ) -> Observation:
        self._check_open()
        if kwargs:
            raise ValueError(
                f"{self.env_id}: unknown reset parameters {sorted(kwargs)}; expected seed, episode_id, options, deltas"
            )
        if not isinstance(deltas, bool):
            raise ValueError(f"{self.env_id}: deltas must be true or false, got {deltas!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
            raise ValueError(f"{self.env_id}: seed must be a non-negative int or null, got {seed!r}")
        if options is not None and not isinstance(options, dict):
            raise ValueError(f"{self.env_id}: options must be an object or null, got {type(options).__name__}")
        if episode_id is not None and not isinstance(episode_id, str):
            raise ValueError(f"{self.env_id}: episode_id must be a string or null")
        obs, info = self.env.reset(seed=seed, options=options)
        self._state = State(episode_id=episode_id or uuid.uuid4().hex, step_count=0)
        self._deltas = DeltaEncoder(self._image_encoding) if deltas else None
        return self._observation(obs, info, None, False, False, new_episode=True)

    def step(self, action: Action, timeout_s: float | None = None, **kwargs: Any) -> Observation:
        self._check_open()
        value = action.text if isinstance(action, TextAction) else action.value
        obs, reward, terminated, truncated, info = self.env.step(value)
        self._state.step_count += 1
        return self._observation(obs, info, float(reward), bool(terminated), bool(truncated))

    def _observation(
        self,
        obs: Any,
        info: dict[str, Any],
        reward: float | None,
        terminated: bool,
        truncated: bool,
        new_episode: bool = False,
    ) -> Observation:
        if self._deltas is not None:
            wire_obs, wire_info = self._deltas.encode(obs, info, new_episode=new_episode)
        else:
            sent = wire.ArrayMemo()  # one message: an image in both obs and info travels once
            wire_obs, wire_info = (
                wire.to_wire(obs, self._image_encoding, sent),
                wire.to_wire(info, self._image_encoding, sent),
            )
        # model_construct: the payload is built here from the env's own output; validating megabytes
        # of base64 again on every step would only cost time.
        return self._observation_cls.model_construct(
            obs=wire_obs,
            info=wire_info,
            terminated=terminated,
            truncated=truncated,
            done=terminated or truncated,
            reward=reward,
            metadata={},
        )

    @property
    def state(self) -> State:
        return State(episode_id=self._state.episode_id, step_count=self._state.step_count, env_id=self.env_id)

    def get_metadata(self) -> EnvironmentMetadata:
        return EnvironmentMetadata(name=self.env_id, description=self._description, version=vista_envs.__version__)

    def close(self) -> None:
        # Idempotent: OpenEnv closes on WebSocket close and again from its idle reaper.
        with self._lock:
            if self._closed:
                return
            self._closed = True
            env, self._env = self._env, None
        if env is not None:
            try:
                env.close()
            finally:
                if self._env_slots is not None:
                    self._env_slots.release()


# -- the app -----------------------------------------------------------------------------------


def create_app(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    max_sessions: int = 8,
    session_timeout_s: float | None = 300.0,
    image_encoding: str = "raw",
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> FastAPI:
    """A FastAPI app serving ``env_id`` with OpenEnv's routes.

    Args:
        env_id: a registered id (any of ``vista_envs.ENV_IDS``, or any other Gymnasium id).
        env_kwargs: keyword arguments of every session's ``gym.make``.
        max_sessions: concurrent WebSocket sessions; one more is refused with ``CAPACITY_REACHED``.
        session_timeout_s: a session idle this long is closed (with its env and sandbox workers);
            None keeps idle sessions. OpenEnv's reaper checks every ``max(timeout / 4, 5)`` seconds.
        image_encoding: ``"raw"`` or ``"png"``.
        max_message_bytes: larger HTTP bodies get 413; larger WebSocket messages close that connection
            with code 1009 (set on the uvicorn server by :func:`serve` and :func:`running_server`).

    Raises:
        gymnasium.error.Error, ValueError, TypeError: ``env_id`` or ``env_kwargs`` cannot make an env
            (checked once here, before anything is served).
    """
    if image_encoding not in wire.IMAGE_ENCODINGS:
        raise ValueError(f"image_encoding must be one of {wire.IMAGE_ENCODINGS}, got {image_encoding!r}")
    if max_sessions < 1:
        raise ValueError(f"max_sessions must be >= 1, got {max_sessions}")
    env_kwargs = dict(env_kwargs or {})
    probe = gym.make(env_id, **env_kwargs)
    try:
        action_cls, observation_cls = _models(env_id, probe, image_encoding)
        description = (type(probe.unwrapped).__doc__ or env_id).strip().splitlines()[0]
    finally:
        probe.close()
    # Every session's env, and a few more for stateless requests: each makes an env and closes it at once, so a
    # burst of them waits for slots instead of making dozens of envs (OpenEnv runs them on 32 threads).
    env_slots = threading.BoundedSemaphore(max_sessions + STATELESS_ENVS)
    factory = functools.partial(
        GymnasiumEnvironment,
        env_id,
        env_kwargs,
        observation_cls,
        image_encoding,
        description=description,
        env_slots=env_slots,
    )
    env_server = HTTPEnvServer(
        factory,
        action_cls,
        observation_cls,
        concurrency_config=ConcurrencyConfig(max_concurrent_envs=max_sessions, session_timeout=session_timeout_s),
    )
    app = FastAPI(title=f"vista-envs {env_id} (OpenEnv protocol)", version=vista_envs.__version__)
    app.state.env_server = env_server

    @app.middleware("http")
    async def _limit_body(request: Request, call_next: Any) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_message_bytes):
            return JSONResponse(
                {"detail": f"request body over {max_message_bytes} bytes", "code": "PAYLOAD_TOO_LARGE"}, status_code=413
            )
        if declared is None and request.method in ("POST", "PUT", "PATCH"):
            # A chunked body could only be measured by buffering it; clients of this API send a length.
            return JSONResponse(
                {"detail": "a request body needs a Content-Length header", "code": "LENGTH_REQUIRED"}, status_code=411
            )
        return await call_next(request)

    # OpenEnv's HTTP /reset, /step and /state let env exceptions escape as bare 500s; a client gets
    # the env's message and a code instead (the WebSocket route already answers EXECUTION_ERROR).
    @app.exception_handler(Exception)
    async def _env_error(request: Request, error: Exception) -> JSONResponse:
        bad_request = isinstance(error, (ValueError, TypeError, gym.error.Error))
        return JSONResponse({"detail": str(error), "code": "EXECUTION_ERROR"}, status_code=400 if bad_request else 500)

    app.add_middleware(_WebSocketGuard)
    env_server.register_routes(app)
    return app


class _WebSocketGuard:
    """Two fixes around OpenEnv's ``/ws`` handler, which reads text frames and parses them itself.

    - A message it would turn into a session-ending ``SESSION_ERROR`` (a binary frame, JSON that is
      not an object, JSON nested past the parser's recursion limit) is answered here with an error and
      never reaches it, so the session goes on as it does after any other malformed message.
    - The ``WebSocketDisconnect`` it raises when closing a socket that the client closed first (after a
      ``close`` message, as OpenEnv's own client sends) is dropped: the session is already destroyed,
      and the traceback would only bury real errors in the server log.
    """

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def guarded_receive() -> Any:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return message
                problem = _unreadable(message.get("text"))
                if problem is None:
                    return message
                error = {"type": "error", "data": {"message": problem, "code": "INVALID_JSON"}}
                await send({"type": "websocket.send", "text": json.dumps(error)})

        try:
            await self.app(scope, guarded_receive, send)
        except WebSocketDisconnect:
            pass


def _unreadable(text: str | None) -> str | None:
    """Why OpenEnv's handler could not read this frame as a message, or None when it can (or will say why itself)."""
    if text is None:
        return "binary frames are not part of the protocol: send each message as a JSON text frame"
    try:
        message = json.loads(text)
    except json.JSONDecodeError:
        return None  # OpenEnv answers INVALID_JSON itself
    except RecursionError:
        return "the message is nested too deeply to parse"
    if not isinstance(message, dict):
        return f"a message must be a JSON object with a 'type', got a JSON {type(message).__name__}"
    return None


def _request_deadline_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol, closing a connection still reading its request ``timeout_s`` after it opened or
    after its previous response (see :data:`DEFAULT_REQUEST_TIMEOUT_S`)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class RequestDeadlineProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._start_deadline()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._start_deadline()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _start_deadline(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            self._deadline = self.loop.call_later(timeout_s, self._on_deadline)

        def _on_deadline(self) -> None:
            # A request being answered is not timed, nor a connection upgraded to a WebSocket (another protocol's).
            reading = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
            if reading and self.transport.get_protocol() is self and not self.transport.is_closing():
                self.transport.close()

    return RequestDeadlineProtocol


def _uvicorn_config(
    app: FastAPI, max_message_bytes: int, request_timeout_s: float, log_level: str, **kwargs: Any
) -> Any:
    import uvicorn

    # ws_max_size makes the WebSocket layer refuse an oversize message (close code 1009) before it
    # is buffered; pings find clients that vanished without closing (then OpenEnv closes the session);
    # no per-message deflate: arrays are already encoded, and deflating 200 kB per step costs
    # milliseconds that loopback and LAN links do not pay back (use image_encoding="png" on slow links).
    return uvicorn.Config(
        app,
        http=_request_deadline_protocol(request_timeout_s),
        ws="websockets-sansio",
        ws_max_size=max_message_bytes,
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        log_level=log_level,
        **kwargs,
    )


def serve(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    log_level: str = "info",
    **app_kwargs: Any,
) -> None:
    """Serve ``env_id`` until interrupted (``vista-envs serve``); ``app_kwargs`` go to :func:`create_app`."""
    import uvicorn

    app = create_app(env_id, env_kwargs, max_message_bytes=max_message_bytes, **app_kwargs)
    config = _uvicorn_config(app, max_message_bytes, request_timeout_s, log_level, host=host, port=port)
    uvicorn.Server(config).run()


@dataclass
class RunningServer:
    """A server started by :func:`running_server`."""

    url: str
    """``http://127.0.0.1:PORT``; OpenEnv's client and ``Remote-v0`` take it as is."""
    app: FastAPI

    @property
    def active_sessions(self) -> int:
        """Sessions open now (WebSocket connections and HTTP MCP sessions)."""
        return self.app.state.env_server.active_sessions


@contextlib.contextmanager
def running_server(
    env_id: str,
    env_kwargs: Mapping[str, Any] | None = None,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
    start_timeout_s: float = 60.0,
    **app_kwargs: Any,
) -> Iterator[RunningServer]:
    """Serve ``env_id`` on a free port of 127.0.0.1 in a background thread, for tests and notebooks.

    The server stops (and every session's env is closed) when the ``with`` block ends.
    """
    import uvicorn

    app = create_app(env_id, env_kwargs, max_message_bytes=max_message_bytes, **app_kwargs)
    # Binding port 0 here, then handing the socket to uvicorn, leaves no window for another process
    # to take the port between choosing and binding it.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(_uvicorn_config(app, max_message_bytes, request_timeout_s, "warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"serve-{env_id}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the {env_id} server did not start within {start_timeout_s} s")
            time.sleep(0.01)
        yield RunningServer(url=f"http://127.0.0.1:{sock.getsockname()[1]}", app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
