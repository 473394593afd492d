"""Editing ``dotsync.toml`` from the console, so that the CLI and the console always agree.

The file is edited with tomlkit, which keeps its comments and layout; an edit is checked by the
loader the CLI uses (``parse_config``) before anything is written, and written atomically. Every
form carries the *revision* of the file it was drawn from (a digest of its bytes): a save whose
revision no longer matches the file (someone edited it meanwhile) is refused, never merged over.
Passwords typed in the console go to an owner-only file beside the project, named by
``password_file``; the TOML never holds one.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.container import Container
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Table, Whitespace

from dotsync.config import Config, parse_config
from dotsync.errors import ConfigError

NO_FILE = "none"  # the revision of a project whose dotsync.toml does not exist yet
SECRETS_DIR = ".secrets"  # beside dotsync.toml: the passwords typed in the console
NEW_FILE_MODE = 0o644

Edit = Callable[[tomlkit.TOMLDocument], None]


@dataclass(frozen=True)
class Snapshot:
    """The file as read: its text, its revision, and the document to edit."""

    text: str
    revision: str

    def document(self) -> tomlkit.TOMLDocument:
        return tomlkit.parse(self.text)

    def data(self) -> dict[str, Any]:
        return self.document().unwrap()


class StaleRevisionError(Exception):
    """The file changed since the form was drawn: nothing was written."""


class InvalidEditError(Exception):
    """The edited configuration does not validate: nothing was written. ``problems`` are (key
    path, message) pairs, the key path as the CLI's messages name it."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        super().__init__("; ".join(f"{k}: {m}" if k else m for k, m in problems))
        self.problems = problems


def revision_of(raw: bytes | None) -> str:
    return NO_FILE if raw is None else hashlib.sha256(raw).hexdigest()[:20]


class ProjectFile:
    """One project's ``dotsync.toml``. Saves in one process are serialised by a lock; another
    process (a person's editor) is caught by the revision check just before the write."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        return self.path.parent

    def _raw(self) -> bytes | None:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return None

    def read(self) -> Snapshot:
        raw = self._raw()
        return Snapshot(text=(raw or b"").decode("utf-8"), revision=revision_of(raw))

    def revision(self) -> str:
        return revision_of(self._raw())

    def save(self, revision: str, edit: Edit) -> Config:
        """Apply ``edit`` to the file as it is at ``revision``, validate the result as the CLI
        would load it, and write it. Raises :class:`StaleRevisionError` when the file is no
        longer at ``revision``, :class:`InvalidEditError` when the result does not validate."""
        with self._lock:
            snapshot = self.read()
            if snapshot.revision != revision:
                raise StaleRevisionError(str(self.path))
            try:
                document = snapshot.document()
            except TOMLKitError as exc:
                raise InvalidEditError([(None, f"{self.path}: TOML syntax error: {exc}")]) from None
            edit(document)
            space_tables(document)
            text = tomlkit.dumps(document)
            config = validate_text(text, self.path)
            if self.revision() != revision:  # changed while we were validating
                raise StaleRevisionError(str(self.path))
            write_atomically(self.path, text.encode("utf-8"))
            return config


def validate_text(text: str, path: Path) -> Config:
    """The configuration ``text`` would be, through the loader the CLI uses."""
    try:
        data = tomlkit.parse(text).unwrap()
        return parse_config(data, path=path)
    except ConfigError as exc:
        raise InvalidEditError([(k, _without_file(m, path)) for k, m in exc.problems]) from None
    except TOMLKitError as exc:
        raise InvalidEditError([(None, f"TOML syntax error: {exc}")]) from None


def _without_file(message: str, path: Path) -> str:
    return message.removeprefix(f"{path}: ")


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``: a reader
    sees the old file or the new one, never half of one. The file keeps its mode."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        Path(tmp).chmod(mode)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_password(project_dir: Path, connection: str, password: str) -> str:
    """Store a password typed in the console in an owner-only file (0600, in a 0700 folder that
    git ignores) beside the project; returns the path to put in ``password_file``, relative to
    the project."""
    folder = project_dir / SECRETS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    target = folder / f"{connection}.password"
    fd, tmp = tempfile.mkstemp(prefix=".password.", dir=folder)  # mkstemp creates it 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(password)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return f"{SECRETS_DIR}/{connection}.password"


# --- editing helpers: each keeps the comments and order of what it does not touch ------------


def table_at(document: tomlkit.TOMLDocument, *keys: str) -> Table:
    """The table at ``keys`` (``"exports", "newsletter"``), created (as a super-table for the
    parents) if missing."""
    node: Container | Table = document
    for i, key in enumerate(keys):
        found = node.get(key)
        if not isinstance(found, Table):
            found = tomlkit.table(is_super_table=i < len(keys) - 1)
            node[key] = found
        node = found
    assert isinstance(node, Table)
    return node


def space_tables(document: tomlkit.TOMLDocument) -> None:
    """One blank line between a table and the next header, as in a file written by hand: an
    edit that adds or removes a table leaves two headers glued together, or two blank lines."""
    headers = list(_headers(document))
    for before, after in itertools.pairwise(headers):
        own = [item for _key, item in before.value.body if not isinstance(item, Table)]
        ends_blank = bool(own) and isinstance(own[-1], Whitespace) and "\n" in own[-1].s
        indent = after.trivia.indent
        if not ends_blank and "\n" not in indent:
            after.trivia.indent = "\n" + indent
        elif ends_blank and indent.startswith("\n"):
            after.trivia.indent = indent[1:]


def _headers(container: Container | Table) -> Iterator[Table]:
    """The tables that have a ``[header]``, in the order the file shows them."""
    body = container.value.body if isinstance(container, Table) else container.body
    for _key, item in body:
        if isinstance(item, Table):
            if not item.is_super_table():
                yield item
            yield from _headers(item)


def update_table(table: Table, values: Mapping[str, Any]) -> None:
    """Set each value in place (a key keeps its comment and position); ``None`` removes it."""
    for key, value in values.items():
        if value is None:
            if key in table:
                del table[key]
        else:
            table[key] = value


def remove_entry(document: tomlkit.TOMLDocument, group: str, name: str) -> None:
    """Remove ``[group.name]`` (and its sub-tables); an emptied ``group`` goes too."""
    parent = document.get(group)
    if isinstance(parent, Table) and name in parent:
        del parent[name]
        if not parent:
            del document[group]


def copy_entry(document: tomlkit.TOMLDocument, group: str, name: str, new_name: str) -> None:
    """``[group.new_name]`` as a copy of ``[group.name]``, sub-tables and comments included."""
    source = table_at(document, group, name)
    copied = tomlkit.parse(tomlkit.dumps({group: {name: source}})).get(group)
    assert isinstance(copied, Table)
    table_at(document, group)[new_name] = copied[name]
