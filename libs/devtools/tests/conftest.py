"""Fixtures: a real Bedrock emulator process on an ephemeral port (zero latency)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mangaassist.devtools.emulator import EmulatorProcess


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    proc = EmulatorProcess(tmp_path_factory.mktemp("emulator") / "emulator.log")
    yield proc
    proc.stop()
