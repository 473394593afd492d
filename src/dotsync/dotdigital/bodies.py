"""Upload bodies, opened afresh for each attempt and streamed from disk when given a ``Path``.

A body is a factory of context managers yielding the keyword arguments of
``httpx.Client.request`` and the size in bytes (for the stats). Files are sent as generators with
an explicit Content-Length: httpx then streams them in chunks instead of loading 50 MB at once,
and DotDigital gets a sized body rather than a chunked one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

BodyArgs = tuple[dict[str, Any], int]
BodyFactory = Callable[[], AbstractContextManager[BodyArgs]]

_CHUNK = 192 * 1024
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


def _chunks(path: Path) -> Generator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            yield chunk
