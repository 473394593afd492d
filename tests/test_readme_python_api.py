"""Every Python example of the README runs as written, against the emulator.

The blocks are read from README.md itself, so an example that drifts from the API fails here. They
run in a copy of examples/quickstart (the export ``newsletter``) as the working directory, where
``"dotsync.toml"`` is the project's file."""

from __future__ import annotations

import inspect
import re
import shutil
import sys
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dotsync
from dotsync.emulator import RunningEmulator

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"
QUICKSTART = ROOT / "examples" / "quickstart"
AIRFLOW_CONFIG = "/srv/dotsync/dotsync.toml"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def api_blocks() -> list[str]:
    """The examples of the API itself (the Airflow one needs Airflow: see below)."""
    return [b for b in python_blocks() if "import dotsync" in b and "airflow" not in b]


def airflow_block() -> str:
    (block,) = [b for b in python_blocks() if "import dotsync" in b and "airflow" in b]
    return block


@pytest.fixture
def project(
    emulator: RunningEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The quickstart wired to the emulator, as the working directory."""
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, folder)
    with emulator.client() as api:
        book = api.post("/v2/address-books", json={"name": "Newsletter"}).json()["id"]
    text = (folder / "dotsync.toml").read_text(encoding="utf-8")
    text = text.replace("address_book_id = 3", f"address_book_id = {book}")
    text = text.replace("http://127.0.0.1:8765", emulator.base_url)
    (folder / "dotsync.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("DOTDIGITAL_PASSWORD", emulator.credentials[1])
    monkeypatch.chdir(folder)
    yield folder


def test_the_readme_has_api_examples() -> None:
    blocks = api_blocks()
    assert len(blocks) >= 2
    assert any("dotsync.load_config(" in block for block in blocks)


@pytest.mark.parametrize("index", range(len(api_blocks())))
def test_readme_example_runs(
    index: int, project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    block = api_blocks()[index]
    namespace: dict[str, Any] = {"__name__": f"readme_example_{index}"}
    exec(compile(block, f"README.md python block {index}", "exec"), namespace)  # noqa: S102
    assert "result" in namespace or "plan" in namespace
    if "plan" in namespace:
        plan = namespace["plan"]
        assert isinstance(plan, dotsync.DryRun)
        assert (plan.counts.entered, plan.counts.rejected) == (4, 2)
        assert capsys.readouterr().out.splitlines()[0] == "4 0 0 2"
    if "result" in namespace:
        result = namespace["result"]
        assert isinstance(result, dotsync.RunResult)
        # The quickstart rejects two of its six customers (an invalid and a duplicate e-mail).
        assert result.status is dotsync.RunStatus.PARTIAL
        assert result.counts.rejected == 2


class _AirflowFailError(Exception):
    """Stands in for airflow.exceptions.AirflowFailException (Airflow is not a dependency)."""


def _airflow_task(**_options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return lambda function: function


@pytest.fixture
def airflow_task(project: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, int]]:
    """The README's Airflow task, with the two Airflow names it imports stood in for."""
    decorators = types.ModuleType("airflow.decorators")
    decorators.task = _airflow_task  # type: ignore[attr-defined]
    exceptions = types.ModuleType("airflow.exceptions")
    exceptions.AirflowFailException = _AirflowFailError  # type: ignore[attr-defined]
    airflow = types.ModuleType("airflow")
    for name, module in (
        ("airflow", airflow),
        ("airflow.decorators", decorators),
        ("airflow.exceptions", exceptions),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    block = airflow_block()
    assert AIRFLOW_CONFIG in block
    code = block.replace(AIRFLOW_CONFIG, str(project / "dotsync.toml"))
    namespace: dict[str, Any] = {"__name__": "readme_airflow"}
    exec(compile(code, "README.md Airflow example", "exec"), namespace)  # noqa: S102
    task: Callable[[], dict[str, int]] = namespace["export_newsletter"]
    return task


def test_airflow_example_retries_only_what_a_retry_can_fix(
    airflow_task: Callable[[], dict[str, int]], project: Path, emulator: RunningEmulator
) -> None:
    counts = airflow_task()
    assert counts["sent"] == 4 and counts["rejected"] == 2

    config = project / "dotsync.toml"
    good = config.read_text(encoding="utf-8")
    # A segment query that cannot run needs a person: the task fails for good, no retry.
    config.write_text(good.replace("churn_score > 0.8", "churn_scor > 0.8"), encoding="utf-8")
    with pytest.raises(_AirflowFailError, match="churn_scor"):
        airflow_task()

    # DotDigital failing (every call answers 503) is worth retrying: the error goes to Airflow
    # as it is, so Airflow's retries apply.
    config.write_text(good, encoding="utf-8")
    emulator.set_faults({"statuses": [503], "error_rate": 1.0})
    with pytest.raises(dotsync.TransientError):
        airflow_task()


def test_the_reference_lists_every_public_name_with_explicit_typed_parameters() -> None:
    readme = README.read_text(encoding="utf-8")
    reference = readme[readme.index("## Python API reference") :]
    reference = reference[: reference.index("\n## ", 1)]
    for name in dotsync.__all__:
        assert f"`{name}" in reference, f"dotsync.{name} is missing from the Python API reference"
    for function in (dotsync.run_export, dotsync.plan_export, dotsync.load_config):
        signature = inspect.signature(function, eval_str=True)
        assert f"`{function.__name__}(" in reference
        for parameter in signature.parameters.values():
            assert parameter.kind is not parameter.VAR_KEYWORD, f"{function.__name__}: **options"
            assert parameter.annotation is not inspect.Parameter.empty
            assert parameter.annotation is not Any
        assert str in typing.get_args(signature.parameters[_first(signature)].annotation)


def _first(signature: inspect.Signature) -> str:
    return next(iter(signature.parameters))
