"""Upload bodies, opened afresh for each attempt and streamed from disk when given a ``Path``.

A body is a factory of context managers yielding the keyword arguments of
``httpx.Client.request`` and the size in bytes (for the stats). Files are sent as generators with
an explicit Content-Length: httpx then streams them in chunks instead of loading 50 MB at once,
and DotDigital gets a sized body rather than a chunked one.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

BodyArgs = tuple[dict[str, Any], int]
BodyFactory = Callable[[], AbstractContextManager[BodyArgs]]

_CHUNK = 3 * 64 * 1024  # a multiple of 3, so base64 chunks join without padding in between
_JSON = {"Content-Type": "application/json"}


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_body(body: bytes | Path) -> BodyFactory:
    """A prepared JSON document (the v3 import body), as bytes or a file."""

    @contextmanager
    def opened() -> Iterator[BodyArgs]:
        if isinstance(body, bytes):
            yield {"content": body, "headers": _JSON}, len(body)
            return
        size = body.stat().st_size
        stream = _chunks(body)
        try:
            yield {"content": stream, "headers": {**_JSON, "Content-Length": str(size)}}, size
        finally:
            stream.close()  # closes the file even when the upload stopped half way

    return opened


def base64_file_body(body: bytes | Path, file_name: str) -> BodyFactory:
    """``{"fileName": ..., "data": "<base64>"}``: the v2 import body that both OpenAPI documents
    describe (multipart works too, per API.md, but is not documented). Streamed from a file,
    the base64 text is produced chunk by chunk and never held whole."""
    prefix = b'{"fileName":' + json_bytes(file_name) + b',"data":"'
    suffix = b'"}'

    @contextmanager
    def opened() -> Iterator[BodyArgs]:
        if isinstance(body, bytes):
            content = prefix + base64.b64encode(body) + suffix
            yield {"content": content, "headers": _JSON}, len(content)
            return
        size = len(prefix) + 4 * -(-body.stat().st_size // 3) + len(suffix)
        stream = _joined(prefix, _base64_chunks(body), suffix)
        try:
            yield {"content": stream, "headers": {**_JSON, "Content-Length": str(size)}}, size
        finally:
            stream.close()

    return opened


def _chunks(path: Path) -> Generator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            yield chunk


def _base64_chunks(path: Path) -> Generator[bytes]:
    chunks = _chunks(path)
    pending = b""
    try:
        for chunk in chunks:
            pending += chunk
            whole = len(pending) - len(pending) % 3
            yield base64.b64encode(pending[:whole])
            pending = pending[whole:]
        if pending:
            yield base64.b64encode(pending)
    finally:
        chunks.close()


def _joined(prefix: bytes, middle: Generator[bytes], suffix: bytes) -> Generator[bytes]:
    try:
        yield prefix
        yield from middle
        yield suffix
    finally:
        middle.close()
