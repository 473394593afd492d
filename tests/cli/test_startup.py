"""The command line starts without the run's heavy modules: ``dotsync --help`` (and a typo's
usage error) should answer in a fraction of a second, and each of DuckDB, SQLAlchemy, httpx,
argon2 and the console costs 0.1-0.2 s to import. Their time is measured in ``benchmarks/run.py``
(``startup``); this test keeps the import graph honest, which a timing on a shared machine could
not."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("duckdb", "sqlalchemy", "httpx", "argon2", "pyarrow", "starlette", "uvicorn", "alembic")


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return done.stdout.split()


def test_importing_the_command_line_loads_none_of_the_run_s_modules() -> None:
    assert _loaded_after("import dotsync.cli") == []


def test_help_of_every_command_loads_none_of_them() -> None:
    code = (
        "import contextlib, io\n"
        "from dotsync.cli import app\n"
        "for args in ([], ['export'], ['plan'], ['verify'], ['pull'], ['serve'], ['users'],\n"
        "             ['history'], ['show-run'], ['connect'], ['remove'], ['demo'],\n"
        "             ['emulator']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        app(args=[*args, '--help'])\n"
    )
    assert _loaded_after(code) == []
