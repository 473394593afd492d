"""Check HTTP exchanges against DotDigital's own OpenAPI documents.

``OpenAPIChecker.check(response)`` validates one ``httpx.Response`` together with its
``response.request``: the operation (method + path template) must be documented, the request's query
and JSON body must match the request schema, the status must be documented for the operation (or be
a generic error, see ``GENERIC_ERROR_STATUSES``), and a JSON reply must match the response schema.
Validation itself is done by openapi-core; this module maps our exchanges onto the documents
(region prefixes, case-insensitive binding) and turns its errors into one precise message.

The documents are read from ``<dir>/shared/dotdigital/openapi`` where ``<dir>`` is the nearest
ancestor of this file holding it (the repository root's parent); they are loaded once per process.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
from jsonschema.exceptions import ValidationError as SchemaError  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match
from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.validation.request.exceptions import (
    MissingRequiredRequestBody,
    ParameterValidationError,
)
from werkzeug.datastructures import Headers, ImmutableMultiDict

V2_DOCUMENT = "v2-full.openapi.json"
V3_DOCUMENT = "v3-contacts.openapi.json"
V3_PREFIX = "/contacts/v3"
# Statuses any operation may answer although a document does not list them for it. v2-full lists
# only each operation's success status, and DotDigital documents no status per error code: 400
# validation (also the flat rate limit), 401 bad credentials, 403 wrong region host, 404 unknown
# id, 429 tiered rate limit, and 5xx (server faults, which the emulator injects on demand). Their
# bodies must still follow DotDigital's error envelope (see ``_ERROR_ENVELOPES``); 5xx bodies are
# not checked: a failing gateway answers whatever it likes. Anything else (409, 413, 422...) fails.
GENERIC_ERROR_STATUSES = ("400", "401", "403", "404", "429")
_GENERIC_MARK = "x-dotsync-generic"
# v2 errors are ``{"message": "<Sentence>. ERROR_CODE"}``
# (https://marketing.developer.dotdigital.com/docs/error-response-types); v3 has its own
# errorResponse.
_ERROR_ENVELOPES: dict[str, dict[str, Any]] = {
    V2_DOCUMENT: {
        "type": "object",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    },
    V3_DOCUMENT: {"$ref": "#/components/schemas/errorResponse"},
}
# The emulator serves r1 at its root and r2/r3 under these prefixes.
_REGION_PREFIX = re.compile(r"^/r[23](?=/)")
# The documents' server (v3 templates the region; v2 names r1 only). Region hosts are the
# emulator's own tests' business; here only paths, parameters and bodies matter.
_DOCUMENTED_HOST = "https://r1-api.dotdigital.com"
_METHODS = ("get", "put", "post", "delete", "patch")
# report-faults: v2-full documents application/octet-stream, the docs-site spec text/plain, and
# both describe the body as CSV; a binary reply is therefore accepted under any of the three.
_BINARY_ALIASES = ("application/octet-stream", "text/plain", "text/csv")


class OpenAPIMismatch(AssertionError):  # noqa: N818 - the name the test suite agreed on
    """An exchange that DotDigital's OpenAPI documents do not allow."""

    def __init__(self, operation: str, status: int, where: str, detail: str) -> None:
        self.operation, self.status, self.where, self.detail = operation, status, where, detail
        super().__init__(f"{operation} -> {status}: {where}: {detail}")


@dataclass(frozen=True)
class _Operation:
    key: str  # "GET /v2/address-books/{id}"
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: Mapping[str, Any]  # the operation object of the prepared document

    def parameters(self, location: str) -> dict[str, Mapping[str, Any]]:
        params = self.spec.get("parameters", [])
        return {p["name"]: p.get("schema", {}) for p in params if p["in"] == location}


@dataclass
class _Document:
    name: str
    raw: dict[str, Any]
    api: OpenAPI
    operations: list[_Operation]


@dataclass
class _CoreRequest:
    """openapi-core's Request protocol over an already matched httpx request."""

    host_url: str
    path: str
    path_pattern: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters
    body_readable: bool = True


@dataclass
class _CoreResponse:
    status_code: int
    data: bytes
    content_type: str
    headers: Headers


SHAPES_DIR = Path(__file__).parent / "openapi_shapes"  # prose-free copy: make_openapi_shapes.py


def find_openapi_dir(start: Path | None = None, *, shapes_fallback: bool = True) -> Path:
    """The nearest ``shared/dotdigital/openapi`` above ``start`` (default: this file): DotDigital's
    own documents, the authority; else the shapes-only copy shipped with the tests."""
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "dotdigital" / "openapi"
        if (candidate / V2_DOCUMENT).is_file() and (candidate / V3_DOCUMENT).is_file():
            return candidate
    if shapes_fallback and (SHAPES_DIR / V2_DOCUMENT).is_file():
        return SHAPES_DIR
    raise FileNotFoundError(f"no shared/dotdigital/openapi with {V2_DOCUMENT} above {here}")


def _null_in_compositions(node: Any) -> Any:
    """Let ``{"nullable": true, "oneOf": [...]}`` accept null, as the generator meant.

    v2-full (NSwag) writes nullable enums and objects this way. OAS 3.0.3 gives ``nullable`` no
    effect without a ``type`` beside it, so a strict validator rejects the ``null`` DotDigital
    itself sends (e.g. ``optInType``); we keep the intent and rewrite to ``anyOf [null, ...]``.
    """
    if isinstance(node, list):
        return [_null_in_compositions(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _null_in_compositions(value) for key, value in node.items()}
    combined = any(key in node for key in ("oneOf", "anyOf", "allOf"))
    if node.get("nullable") is True and "type" not in node and combined:
        rest = {key: value for key, value in node.items() if key != "nullable"}
        return {"anyOf": [{"enum": [None]}, rest]}
    return node


def _prepare(raw: dict[str, Any], name: str) -> dict[str, Any]:
    doc: dict[str, Any] = _null_in_compositions(copy.deepcopy(raw))
    for path_item in doc["paths"].values():
        for method in _METHODS:
            operation = path_item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in GENERIC_ERROR_STATUSES:
                responses.setdefault(
                    status,
                    {
                        "description": "",
                        _GENERIC_MARK: True,
                        "content": {"application/json": {"schema": _ERROR_ENVELOPES[name]}},
                    },
                )
            responses.setdefault("5XX", {"description": "", _GENERIC_MARK: True})
            content = operation.get("requestBody", {}).get("content", {})
            file_schema = content.get("application/json", {}).get("schema", {})
            if file_schema.get("$ref", "").endswith("/ApiFileMedia"):
                # The v2 import also takes a multipart upload (production clients use it), which
                # the generated document omits: accept it; its parts are not checked.
                content["multipart/form-data"] = {"schema": {"type": "object"}}
    return doc


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    body = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{body}$")


@cache
def _load_document(directory: Path, name: str) -> _Document:
    raw = json.loads((directory / name).read_bytes())
    doc = _prepare(raw, name)
    # The documents are DotDigital's, known to be readable; validating the 300 kB spec itself
    # would only cost seconds per session.
    api = OpenAPI(SchemaPath.from_dict(doc), config=Config(spec_validator_cls=None))
    operations = [
        _Operation(f"{method.upper()} {template}", method, template, _template_regex(template), op)
        for template, item in doc["paths"].items()
        for method, op in item.items()
        if method in _METHODS
    ]
    return _Document(name, doc, api, operations)


class _Normaliser:
    """Rename JSON keys (and enum strings) to the spellings a schema uses, ignoring case.

    DotDigital binds request JSON and query names case-insensitively and real clients send
    PascalCase (``Email``, ``DataFields``), while the documents spell properties in camelCase and
    forbid unknown ones: validated as sent, every correct PascalCase request would fail. Enum values
    bind the same way (the v3 document's own import example sends ``"emailType": "Html"`` against
    the enum ``html``). Replies are never normalised: DotDigital answers in camelCase.
    """

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in schema:
            node: Any = self._document
            for token in schema["$ref"].removeprefix("#/").split("/"):
                node = node[token]
            schema = node
        return schema

    def _branches(self, schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        resolved = self._resolve(schema)
        found = [resolved]
        for keyword in ("allOf", "oneOf", "anyOf"):
            for sub in resolved.get(keyword, []):
                found.extend(self._branches(sub))
        return found

    def value(self, value: Any, schema: Mapping[str, Any] | None) -> Any:
        if schema is None:
            return value
        branches = self._branches(schema)
        if isinstance(value, dict):
            return self._object(value, branches)
        if isinstance(value, list):
            items = next((b["items"] for b in branches if "items" in b), None)
            return [self.value(item, items) for item in value]
        if isinstance(value, str):
            for branch in branches:
                for member in branch.get("enum", []):
                    if isinstance(member, str) and member.lower() == value.lower():
                        return member
        return value

    def _object(self, value: dict[str, Any], branches: list[Mapping[str, Any]]) -> dict[str, Any]:
        known: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for branch in branches:
            for name, sub in branch.get("properties", {}).items():
                known.setdefault(name.lower(), (name, sub))
        extra = next(
            (
                b["additionalProperties"]
                for b in branches
                if isinstance(b.get("additionalProperties"), dict)
            ),
            None,
        )
        out: dict[str, Any] = {}
        for key, item in value.items():
            name, sub = known.get(key.lower(), (key, extra))
            out[name] = self.value(item, sub)
        return out


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _pointer(error: SchemaError) -> str:
    tokens = (str(t).replace("~", "~0").replace("/", "~1") for t in error.absolute_path)
    return "/" + "/".join(tokens)


def _explain(exc: BaseException, part: str) -> tuple[str, str]:
    """(where, message) of an openapi-core error: the deepest schema error when there is one."""
    if isinstance(exc, ParameterValidationError):
        part = f"{exc.location} parameter {exc.name!r}"
    cause: BaseException | None = exc
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            error = best_match(schema_errors)
            return f"{part} {_pointer(error)}", error.message
        cause = cause.__cause__
    return part, str(exc.__cause__ or exc)


class OpenAPIChecker:
    """Validates exchanges against the v2 and v3 documents and records the operations it saw.

    ``seen`` holds every operation key (``"GET /v2/address-books/{id}"``) checked so far, ``log``
    one ``(operation, status)`` per exchange in order (slice it to know what one module exercised).
    An exchange counts as seen once its operation is known, even if it then fails validation.
    Admin calls (``/_emulator/...``) are not DotDigital's and are passed over.
    """

    def __init__(self, directory: Path | None = None) -> None:
        directory = (directory or find_openapi_dir()).resolve()
        self._v2 = _load_document(directory, V2_DOCUMENT)
        self._v3 = _load_document(directory, V3_DOCUMENT)
        self.seen: set[str] = set()
        self.log: list[tuple[str, int]] = []

    def documented_operations(self) -> frozenset[str]:
        return frozenset(op.key for doc in (self._v2, self._v3) for op in doc.operations)

    def check(self, response: httpx.Response) -> str | None:
        """Raise ``OpenAPIMismatch`` unless the exchange is documented; return its operation key.

        The reply body must have been read (``response.read()``).
        """
        request, status = response.request, response.status_code
        path = _REGION_PREFIX.sub("", request.url.path)
        if path.startswith("/_emulator/"):
            return None
        is_v3 = path == V3_PREFIX or path.startswith(V3_PREFIX + "/")
        document = self._v3 if is_v3 else self._v2
        operation, path_params = self._match(document, request.method.lower(), path, status)
        self.seen.add(operation.key)
        self.log.append((operation.key, status))
        core_request = self._core_request(document, operation, path_params, request)
        # A rejected request (4xx) may well be invalid on purpose: the test provoked the error.
        # Any other reply to an invalid request means a client sent what DotDigital does not take.
        if not 400 <= status < 500:
            errors = document.api.iter_apicall_request_errors(core_request)
            self._raise_first(errors, operation, status, "request", not core_request.body_readable)
        self._check_reply(document, operation, core_request, response)
        return operation.key

    def _match(
        self, document: _Document, method: str, path: str, status: int
    ) -> tuple[_Operation, dict[str, str]]:
        matches = [
            (op, found.groupdict())
            for op in document.operations
            if (found := op.pattern.match(path))
        ]
        if not matches:
            raise OpenAPIMismatch(
                f"{method.upper()} {path}", status, "path", f"not documented in {document.name}"
            )
        same_method = [(op, params) for op, params in matches if op.method == method]
        if not same_method:
            allowed = sorted({op.key for op, _ in matches})
            raise OpenAPIMismatch(
                f"{method.upper()} {path}",
                status,
                "method",
                f"not documented (documented: {', '.join(allowed)})",
            )

        def fit(candidate: tuple[_Operation, dict[str, str]]) -> tuple[int, bool]:
            # Literal segments beat variables (/address-books/private over /{id}); between equal
            # templates (/v2/contacts/{id} and /{email}) the one whose parameter types fit wins.
            op, params = candidate
            schemas = op.parameters("path")
            integers_fit = all(
                re.fullmatch(r"-?\d+", value)
                for name, value in params.items()
                if schemas.get(name, {}).get("type") == "integer"
            )
            return len(params), not integers_fit

        return min(same_method, key=fit)

    def _core_request(
        self,
        document: _Document,
        operation: _Operation,
        path_params: dict[str, str],
        request: httpx.Request,
    ) -> _CoreRequest:
        normalise = _Normaliser(document.raw).value
        path_schemas = operation.parameters("path")
        path_values = {
            name: normalise(value, path_schemas.get(name)) for name, value in path_params.items()
        }
        query_schemas = operation.parameters("query")
        query_names = {name.lower(): name for name in query_schemas}
        query = []
        for key, value in parse_qsl(request.url.query.decode(), keep_blank_values=True):
            name = query_names.get(key.lower(), key)
            query.append((name, normalise(value, query_schemas.get(name))))
        content_type = request.headers.get("content-type", "")
        media_type = _media_type(content_type)
        body, readable = self._request_body(operation, request, media_type, normalise)
        return _CoreRequest(
            host_url=_DOCUMENTED_HOST,
            path=operation.template,
            path_pattern=operation.template,
            method=operation.method,
            body=body,
            body_readable=readable,
            content_type=content_type.lower(),
            parameters=RequestParameters(
                query=ImmutableMultiDict(query),
                header=Headers(list(request.headers.items())),
                path=path_values,
            ),
        )

    @staticmethod
    def _request_body(
        operation: _Operation,
        request: httpx.Request,
        media_type: str,
        normalise: Callable[[Any, Mapping[str, Any] | None], Any],
    ) -> tuple[bytes | None, bool]:
        try:
            body = request.read()  # multipart streams replay; a generator cannot
        except httpx.StreamError:
            return None, False
        if not body or not _is_json(media_type):
            return body or None, True
        try:
            value = json.loads(body)
        except ValueError:
            return body, True  # openapi-core reports the broken JSON
        content = operation.spec.get("requestBody", {}).get("content", {})
        schema = content.get(media_type, content.get("application/json", {})).get("schema")
        return json.dumps(normalise(value, schema)).encode(), True

    def _check_reply(
        self,
        document: _Document,
        operation: _Operation,
        core_request: _CoreRequest,
        response: httpx.Response,
    ) -> None:
        status = response.status_code
        responses = operation.spec["responses"]
        documented = responses.get(str(status), responses.get(f"{str(status)[0]}XX"))
        if documented is None:
            listed = ", ".join(sorted(k for k, v in responses.items() if not v.get(_GENERIC_MARK)))
            raise OpenAPIMismatch(
                operation.key,
                status,
                "status",
                f"not documented (documented: "
                f"{listed}; generic errors: 400, 401, 403, 404, 429, 5xx)",
            )
        content: Mapping[str, Any] = documented.get("content", {})
        if not content:
            return  # nothing is documented about this body (204, v3's 401, 5xx)
        header = response.headers.get("content-type", "")
        media_type, body = _media_type(header), response.content
        if _is_json(media_type):
            headers = Headers(list(response.headers.items()))
            reply = _CoreResponse(status, body, header.lower(), headers)
            errors = document.api.iter_apicall_response_errors(core_request, reply)
            self._raise_first(errors, operation, status, "response body")
            return
        # Non-JSON replies (the report-faults CSV, an empty binary) are checked for type only.
        accepted = set(content)
        if "application/octet-stream" in accepted:
            accepted.update(_BINARY_ALIASES)
        if media_type in accepted or (not body and not any(map(_is_json, content))):
            return
        raise OpenAPIMismatch(
            operation.key,
            status,
            "response content type",
            f"{media_type or 'none'} not documented (documented: {', '.join(sorted(content))})",
        )

    @staticmethod
    def _raise_first(
        errors: Iterable[Exception],
        operation: _Operation,
        status: int,
        part: str,
        unreadable_body: bool = False,
    ) -> None:
        for error in errors:
            if isinstance(error, MissingRequiredRequestBody) and unreadable_body:
                continue  # a streamed upload is gone once sent: its body cannot be checked
            if isinstance(error, MediaTypeNotFound):
                side = part.split()[0]  # "request" or "response"
                raise OpenAPIMismatch(operation.key, status, f"{side} content type", str(error))
            where, message = _explain(error, part)
            raise OpenAPIMismatch(operation.key, status, where, message)


def validation_hooks(checker: OpenAPIChecker) -> dict[str, list[Callable[[httpx.Response], None]]]:
    """``event_hooks`` for an ``httpx.Client`` that validates every exchange with ``checker``."""

    def check_response(response: httpx.Response) -> None:
        response.read()  # response hooks run before the body is read (a stream is read whole)
        checker.check(response)

    return {"response": [check_response]}
