"""The wire format between the host and one episode's interpreter (shared by both sides).

A frame is ``[4-byte magic][16-byte nonce][4-byte big-endian length][JSON header]``, followed by
``header["payload_bytes"]`` raw bytes (requests only). The host draws a fresh random nonce for
every request and the interpreter echoes it in its reply. Sandboxed code can write into its reply
pipe, so a reply is trusted only if it carries the nonce of the call in progress: a forged or
leftover frame (the real reply of a call whose output was forged, say) fails that check at the
next call at the latest, and the host then restarts the interpreter instead of handing the model
the previous call's output -- a desync can never shift later replies.
"""

from __future__ import annotations

import json
import struct
from typing import Any

MAGIC = b"VSB1"
NONCE_BYTES = 16
HEADER = struct.Struct(">4s16sI")


def encode(nonce: bytes, message: dict[str, Any], payload: bytes = b"") -> bytes:
    """One frame: the header, the JSON ``message`` (with ``payload_bytes`` added when there is a payload)."""
    if payload:
        message = {**message, "payload_bytes": len(payload)}
    body = json.dumps(message, ensure_ascii=False).encode("utf-8")
    return HEADER.pack(MAGIC, nonce, len(body)) + body + payload
