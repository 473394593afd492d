"""The README's quickstart example works as written, against the emulator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dotsync.config import load_config
from dotsync.emulator import RunningEmulator
from dotsync.runner import run_export

EXAMPLE = Path(__file__).parents[1] / "examples" / "quickstart"


def test_quickstart_exports_its_segments(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, folder)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "Newsletter"}).json()["id"]
    text = (folder / "dotsync.toml").read_text(encoding="utf-8")
    text = text.replace("address_book_id = 3", f"address_book_id = {book}")
    text = text.replace("http://127.0.0.1:8765", emulator.base_url)
    (folder / "dotsync.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("DOTDIGITAL_PASSWORD", emulator.credentials[1])

    result = run_export(load_config(folder / "dotsync.toml"), "newsletter")

    members = {m["email"] for m in emulator.book_members(emulator.credentials[0], book)}
    # C002 and C005 by churn, C001/C003 by value; C004's e-mail is invalid; C006 duplicates C001
    assert members == {
        "ann.lee@example.com",
        "bob@example.org",
        "chloe+news@example.com",
        "eve@exämple.de",
    }
    assert result.counts.rejected_by_reason == {"invalid_email": 1, "duplicate_email": 1}
