"""The detector on a real mesh: a slowdown injected into one segment (the intent service's
fault delay; the model's first token through the Bedrock emulator) is named from the
exported traces, and an unperturbed window raises nothing. ``bench.detector_mesh`` runs
the full 10-trial version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mangaassist.common import spans as s
from mangaassist.devtools import slowdown
from mangaassist.devtools.cluster import Cluster
from mangaassist.devtools.pytest_fixtures import CACHE_ENV
from mangaassist.observability.budgets import blame

WINDOW = 24


@pytest.fixture(scope="module")
def drill_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(env={**CACHE_ENV, **slowdown.DRILL_ENV}, log_dir=tmp_path_factory.mktemp("drill-logs"))
    cluster.start()
    yield cluster
    cluster.stop()


async def test_injected_slowdowns_are_named_and_a_clean_window_is_quiet(drill_cluster: Cluster) -> None:
    await slowdown.drive(drill_cluster, len(slowdown.QUESTIONS), 2, "warm")
    history = [await slowdown.window(drill_cluster, WINDOW, tag=f"base{i}") for i in range(2)]
    assert all(len(w) >= WINDOW - 1 for w in history)

    clean = blame(history, await slowdown.window(drill_cluster, WINDOW, tag="clean"))
    assert not clean.alarm, clean.regressions

    baseline = [r for w in history for r in w]
    for segment in (s.MODEL_INFERENCE, s.INTENT):
        await slowdown.inject(drill_cluster, segment, max(2.0, 2 * slowdown.p50(baseline, segment)))
        try:
            slowed = await slowdown.window(drill_cluster, WINDOW, tag=f"slow-{segment}")
        finally:
            await slowdown.clear(drill_cluster, segment)
        found = blame(history, slowed)
        assert found.segment == segment, found.regressions
