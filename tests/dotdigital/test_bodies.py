"""Upload bodies streamed from files are byte for byte what the in-memory path sends."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest

from dotsync.dotdigital.bodies import base64_file_body, json_body


def _sent(kwargs: dict[str, Any]) -> bytes:
    content = kwargs["content"]
    return content if isinstance(content, bytes) else b"".join(content)


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 196_608, 196_609, 500_001])
def test_base64_body_streams_the_same_json(tmp_path: Path, size: int) -> None:
    raw = os.urandom(size)
    path = tmp_path / "c.csv"
    path.write_bytes(raw)
    with base64_file_body(path, "contacts.csv")() as (kwargs, length):
        body = _sent(kwargs)
        assert kwargs["headers"]["Content-Length"] == str(len(body))
    assert length == len(body)
    assert json.loads(body) == {"fileName": "contacts.csv", "data": base64.b64encode(raw).decode()}
    with base64_file_body(raw, "contacts.csv")() as (kwargs, length):
        assert _sent(kwargs) == body


def test_json_body_from_a_file_is_streamed_in_chunks(tmp_path: Path) -> None:
    document = json.dumps(
        {"contacts": [{"identifiers": {"email": f"{i}@x.example"}} for i in range(20_000)]}
    ).encode()
    path = tmp_path / "import.json"
    path.write_bytes(document)
    with json_body(path)() as (kwargs, length):
        chunks = list(kwargs["content"])
        assert kwargs["headers"]["Content-Length"] == str(len(document))
    assert length == len(document)
    assert b"".join(chunks) == document
    assert len(chunks) > 1 and max(map(len, chunks)) < len(document)
