"""The drill harness's bookkeeping on canned ``/admin/status`` bodies (no cluster started)."""

from __future__ import annotations

from typing import Any

from bench.drills import QUESTIONS, Asked, breakers_opened, by_question, growth_at_equal_inflight, health_changes


def status(**opens: int) -> dict[str, Any]:
    return {
        "guards": {
            name: {"breaker": {"state": "closed", "transitions": {"open": n, "closed": n}}, "bulkhead": {}}
            for name, n in opens.items()
        }
    }


def test_only_the_breakers_that_opened_between_the_two_statuses_are_reported() -> None:
    before = status(intent=1, retrieval=0, haiku=0)
    after = status(intent=1, retrieval=2, haiku=1, sonnet=1)
    assert breakers_opened(before, after) == {"haiku": 1, "retrieval": 2, "sonnet": 1}


def test_an_unreachable_admin_listener_reports_nothing() -> None:
    assert breakers_opened({}, {}) == {}
    assert breakers_opened(status(intent=1), {}) == {}


def test_by_question_separates_long_model_streams_from_cache_hits() -> None:
    q1, q2 = QUESTIONS[0], QUESTIONS[1]
    asked = [
        Asked("s1", 0.0, q1, ended=4.0, outcome="done", first=0.6, model="sonnet", output_tokens=400),
        Asked("s2", 0.0, q1, ended=0.2, outcome="done", first=0.1, model="sonnet", cache_hit=True),
        Asked("s3", 0.0, q2, ended=1.0, outcome="done", first=0.3, model="haiku", output_tokens=90),
    ]
    out = by_question(asked)
    assert out[q1]["asked"] == 2 and out[q1]["ended_within_2_5_s"] == 1 and out[q1]["cache_hits"] == 1
    assert out[q1]["p50_output_tokens"] == 400  # the model's answers only, not the cache hit
    assert out[q1]["models"] == {"sonnet": 2} and out[q1]["max_s"] == 4.0
    assert out[q2]["ended_within_2_5_s"] == 1 and out[q2]["p50_output_tokens"] == 90
    assert set(out) == {q1, q2}


def test_health_changes_time_the_fall_after_the_fault_and_the_return_after_the_part_came_back() -> None:
    # Fault at 10.0, part back at 40.0: the service fell at 12.0, /healthz at 12.5; the service
    # was SERVING again at 40.5, /healthz 200 at 41.5.
    samples = [
        (9.9, "SERVING", 200),
        (12.0, "NOT_SERVING", 200),
        (12.5, "NOT_SERVING", 503),
        (40.5, "SERVING", 503),
        (41.5, "SERVING", 200),
        (42.0, "SERVING", 200),
    ]
    out = health_changes(samples, fault_at=10.0, returned_from=40.0)
    assert out["inference_service"] == {
        "unhealthy_after_fault_s": 2.0,
        "healthy_after_return_s": 0.5,
        "changes": 2,
        "unhealthy_episodes": [[2.0, 28.5]],
    }
    assert out["healthz"]["unhealthy_after_fault_s"] == 2.5 and out["healthz"]["healthy_after_return_s"] == 1.5
    assert out["healthz"]["unhealthy_episodes"] == [[2.5, 29.0]]


def test_a_service_that_never_fell_or_never_came_back_reports_none() -> None:
    steady = [(10.0, "SERVING", 200), (20.0, "SERVING", 200)]
    assert health_changes(steady, 10.0, 15.0)["inference_service"] == {
        "unhealthy_after_fault_s": None,
        "healthy_after_return_s": None,
        "changes": 0,
        "unhealthy_episodes": [],
    }
    stuck = [(10.0, "SERVING", 200), (11.0, "UNREACHABLE", 503), (20.0, "UNREACHABLE", 503)]
    assert health_changes(stuck, 10.0, 15.0)["healthz"]["healthy_after_return_s"] is None


def test_tasks_that_only_follow_the_load_in_flight_do_not_grow_at_equal_inflight() -> None:
    # 100 tasks at rest plus 3 per request in flight; the load swings from 5 to 27 in flight and
    # ends high, so the raw last-over-first count reads +60 %.
    inflight = [5, 7, 6, 5, 12, 20, 9, 15, 6, 11, 25, 27, 26, 27]
    series = [{"t": 15.0 * i, "inflight": n, "tasks": 100 + 3 * n} for i, n in enumerate(inflight)]
    out = growth_at_equal_inflight(series, 0.0, lambda s: s["tasks"])
    assert out["per_request_in_flight"] == 3.0 and out["growth"] == 0.0 and out["base_after_warmup"] == 100.0


def test_a_leak_shows_at_equal_inflight() -> None:
    # The same swing, and one task more every sample: +13 tasks over 100 at the end.
    inflight = [5, 7, 6, 5, 12, 20, 9, 15, 6, 11, 25, 27, 26, 27]
    series = [{"t": 15.0 * i, "inflight": n, "tasks": 100 + i + 3 * n} for i, n in enumerate(inflight)]
    out = growth_at_equal_inflight(series, 0.0, lambda s: s["tasks"])
    assert out["growth"] is not None and out["growth"] > 0.05
    assert growth_at_equal_inflight(series[:5], 0.0, lambda s: s["tasks"])["growth"] is None  # too few samples
