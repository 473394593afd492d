"""Pytest plugin: emulators running on free ports for tests over real HTTP.

- ``emulator``: a fresh emulator with the default account (demo@apiconnector.com / demo).
- ``emulator_factory``: start emulators with given settings (``EmulatorSettings`` or its keyword
  arguments); all are stopped at teardown.
- ``demo_credentials``: the default account's API user and password.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from dotsync.emulator import EmulatorSettings, RunningEmulator, run_emulator
from dotsync.emulator.settings import DEFAULT_API_USER, DEFAULT_PASSWORD

EmulatorFactory = Callable[..., RunningEmulator]


@pytest.fixture
def demo_credentials() -> tuple[str, str]:
    return DEFAULT_API_USER, DEFAULT_PASSWORD


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    with ExitStack() as stack:

        def start(settings: EmulatorSettings | None = None, **kwargs: Any) -> RunningEmulator:
            chosen = settings or EmulatorSettings(**kwargs)
            return stack.enter_context(run_emulator(chosen))

        yield start


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with run_emulator() as running:
        yield running
