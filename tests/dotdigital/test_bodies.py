"""Upload bodies streamed from files are byte for byte what the in-memory path sends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dotsync.dotdigital.bodies import json_body


def _sent(kwargs: dict[str, Any]) -> bytes:
    content = kwargs["content"]
    return content if isinstance(content, bytes) else b"".join(content)


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
