"""What every command shares: options, config loading, error → exit code, output."""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from dotsync.config import Config, load_config
from dotsync.errors import DotsyncError, ExitCode
from dotsync.logs import configure_logging

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar="DOTSYNC_CONFIG", help="Path of dotsync.toml.", show_default=True
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
VerboseOption = Annotated[
    bool, typer.Option("--verbose", "-v", help="Show debug logs and tracebacks.")
]
LogFormatOption = Annotated[
    str, typer.Option("--log-format", help="Logs on stderr: text or json (one object a line).")
]

DEFAULT_CONFIG_PATH = Path("dotsync.toml")

# Markup off: what these consoles print holds user and customer data (book names, SQL, rejected
# values, error messages naming `[connections.x]`), which rich would read as markup, silently
# dropping `[words]` or failing on `[/]`. Styles are applied with rich Text objects instead.
out = Console(soft_wrap=True, markup=False, highlight=False)
err = Console(stderr=True, soft_wrap=True, markup=False, highlight=False)


def styled(text: str, style: str) -> Text:
    return Text(text, style=style)


def setup_logging(verbose: bool, log_format: str = "text") -> None:
    if log_format not in ("text", "json"):
        raise typer.BadParameter("--log-format must be text or json")
    # Text logs stay quiet (the command prints its own summary); JSON logs are for machines and
    # carry the progress and the one summary line per run.
    level = "DEBUG" if verbose else ("INFO" if log_format == "json" else "WARNING")
    configure_logging(log_format, level)  # type: ignore[arg-type]


def load(path: Path) -> Config:
    return load_config(path)


@contextmanager
def handled(verbose: bool = False) -> Iterator[None]:
    """One clear line and a documented exit code for every error; a traceback only on -v."""
    try:
        yield
    except DotsyncError as exc:
        err.print(Text.assemble(("error:", "bold red"), " ", exc.message))
        if verbose:
            if exc.detail:
                err.print(exc.detail)
            err.print(traceback.format_exc())
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        err.print("interrupted; the next run resumes where this one stopped")
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: say so plainly, trace on request
        err.print(Text.assemble(("unexpected error:", "bold red"), f" {type(exc).__name__}: {exc}"))
        if verbose:
            err.print(traceback.format_exc())
        else:
            err.print("run again with --verbose for the traceback, and please report it")
        raise typer.Exit(int(ExitCode.UNEXPECTED)) from None


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
