"""The running orchestrator reports its warmed connection pools on its admin endpoint."""

from __future__ import annotations

from mangaassist.devtools.cluster import Cluster, http_health


def test_the_orchestrator_reports_its_warmed_pools(cluster: Cluster) -> None:
    code, status = http_health(f"http://{cluster.address('admin')}/admin/status", timeout=5)
    assert code == 200 and isinstance(status["pools"], list)
    pools = {p["pool"]: p for p in status["pools"]}
    assert set(pools) == {"dynamodb", "redis"}
    assert all(p["warmed"] and p["requests"] >= 1 and p["errors"] == 0 for p in pools.values()), pools
