"""Regenerate ``openapi_shapes/`` from DotDigital's documents in ``../shared/dotdigital/openapi``.

The shapes only: paths, operations, parameters, schemas and status codes, with every description,
summary, example and tag removed (the documents' prose is DotDigital's, not ours to ship). The test
suite validates against ``../shared`` when it is there, and against these shapes otherwise, so a
checkout without the shared folder still runs the OpenAPI validation.

    PYTHONPATH=tests .venv/bin/python tests/support/make_openapi_shapes.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from support.openapi_check import V2_DOCUMENT, V3_DOCUMENT, find_openapi_dir

PROSE = frozenset(
    {
        "description",
        "summary",
        "example",
        "examples",
        "externalDocs",
        "tags",
        "x-codeSamples",
        "x-readme",
        "termsOfService",
        "contact",
        "license",
    }
)
OUT = Path(__file__).parent / "openapi_shapes"


def _strip(node: Any, parent_key: str = "") -> Any:
    if isinstance(node, dict):
        # "properties", "responses" and "paths" are maps whose keys are names, not keywords.
        names = parent_key in (
            "properties",
            "responses",
            "paths",
            "schemas",
            "parameters",
            "content",
            "headers",
            "securitySchemes",
        )
        return {k: _strip(v, k) for k, v in node.items() if names or k not in PROSE}
    if isinstance(node, list):
        return [_strip(v, parent_key) for v in node]
    return node


def main() -> None:
    source = find_openapi_dir(shapes_fallback=False)
    # The documents' own order is kept: the checker matches paths in it.
    OUT.mkdir(exist_ok=True)
    for name in (V2_DOCUMENT, V3_DOCUMENT):
        document = json.loads((source / name).read_text(encoding="utf-8"))
        (OUT / name).write_text(
            json.dumps(_strip(document), separators=(",", ":")) + "\n", encoding="utf-8"
        )
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
