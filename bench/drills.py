"""Fault drills and soak on ``make up``'s real processes (the cluster under its supervisor).

    python -m bench.drills drills [--sessions 64] [--stop-s 30] [--hold-s 0] [--parts redis,aws,...]
    python -m bench.drills soak   [--sessions 64] [--minutes 30]

**Drills** — a fresh cluster on ephemeral ports runs under the same ``Supervisor`` as
``make up`` while ``--sessions`` signed-in customers each hold a conversation (a question,
the answer, a think time, the next question). For each part — redis, aws (moto), intent,
retrieval, inference, bedrock_emulator — and each fault:

* ``kill9``: SIGKILL to the part and its children; the supervisor restarts it (with
  ``--hold-s N``, no sooner than N s after the kill: ``Supervisor.hold``, so the outage lasts
  long enough for the orchestrator's breakers to open, as a task ECS takes a while to replace);
* ``sigstop``: SIGSTOP to the part and its children for ``--stop-s``, then SIGCONT;
* ``none``: nothing for ``--stop-s`` (the control: the same window of the same fresh
  conversations with no fault, e.g. ``--parts redis --faults sigstop,none``).

The goal's load (decision 0009) is 64 sessions; on the shared 2 cores that saturates the box without any
fault, and the redis drills send every question to the model (no cache), so the committed
runs use a load the box holds with the cache off (the command line in the result says which).

Measured per drill: every question asked from the fault until recovery — the share that
ended (answer or contract error) within 2.5 s, the slowest, errors by code; when the part
returned (serving again) and how long after that the mesh was healthy (``/healthz`` 200 and
a probe question answered without any fallback); the inference service's own health and
``/healthz``, sampled every 0.1 s from the fault on (when each turned unhealthy after the
fault and healthy again after the return, and how often each changed); which of the
orchestrator's breakers opened during the drill (from ``/admin/status``); and session turns lost: every session of
the drill is read back from DynamoDB (moto) and its stored turns compared with the answers
its customer received. moto keeps its tables in memory, so a SIGKILL of moto wipes what it
held: for that drill only answers received after moto came back are owed.

**Soak** — the same load for ``--minutes``; every 15 s the RSS and open file descriptors of
every process, and the live asyncio tasks of every service (their
``mangaassist.process.asyncio_tasks`` gauge, from the trace receiver; the orchestrator's also
from ``/admin/status``); growth is the last minute's median over the median of the minute
after warm-up, and for the tasks also at equal load in flight (``growth_at_equal_inflight``;
``soak --rescore FILE`` adds it to a committed result from its series, no cluster); the
inference service's health and ``/healthz`` every 0.5 s (with no fault, any change is a flap).

Writes ``bench/results/drills.json`` / ``bench/results/soak.json``. Timings on this shared
2-core machine are noisy; the pass/fail lines are decision 0009's goals, reported, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from websockets.asyncio.client import ClientConnection, connect

from bench.common import cluster_env
from mangaassist.common.metrics import ASYNCIO_TASKS
from mangaassist.devtools.cluster import (
    GRPC_SERVICES,
    LOCAL_AUTH_SECRET,
    LOCAL_AWS_ENV,
    Cluster,
    grpc_status,
    http_health,
)
from mangaassist.devtools.supervisor import Supervisor
from mangaassist.orchestrator.auth import issue_token

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PARTS = ["redis", "aws", "intent", "retrieval", "inference", "bedrock_emulator"]
BOUND_S = 2.5
QUESTIONS = [
    "おすすめのダークファンタジーは？",
    "Do you have One Piece volume 3 in English?",
    "1000円以下のスポーツ漫画は？",
    "What is your return policy?",
    "進撃の巨人の最新巻はありますか",
    "Recommend a cooking manga",
    "送料はいくらですか？",
    "Something like Haikyu but not sports",
    "英語版のチェンソーマンは？",
]


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc: no psutil here)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def signal_tree(pid: int, sig: int) -> None:
    for p in descendants(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)


def rss_mb(pid: int) -> float:
    total = 0.0
    for p in descendants(pid):
        with contextlib.suppress(OSError), open(f"/proc/{p}/statm") as fh:  # the process may have exited
            total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return round(total, 1)


def open_fds(pid: int) -> int:
    total = 0
    for p in descendants(pid):
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{p}/fd"))
    return total


@dataclass
class Asked:
    session: str
    started: float
    text: str = ""
    ended: float | None = None
    outcome: str = "pending"  # done | error:<code> | no_reply
    fallbacks: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    cache_hit: bool = False
    first: float | None = None  # the first frame of the answer (a token or the terminal frame)
    model: str = ""
    output_tokens: int = 0


class Load:
    """``n`` signed-in customers, each in its own session, asking with a think time between."""

    def __init__(self, url: str, n: int, think_s: float) -> None:
        self.url, self.n, self.think_s = url, n, think_s
        self.asked: list[Asked] = []
        self.answered: dict[str, list[float]] = {}  # session -> when each `done` arrived
        self.epoch = uuid.uuid4().hex[:6]
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def new_epoch(self) -> None:
        """Every customer starts a new session from its next question."""
        self.epoch = uuid.uuid4().hex[:6]

    async def _customer(self, i: int) -> None:
        token = issue_token(LOCAL_AUTH_SECRET, f"load-{i:03d}", ttl_s=86_400)
        headers = {"Authorization": f"Bearer {token}"}
        n = 0
        await asyncio.sleep(self.think_s * i / self.n)  # spread the starts
        while not self._stop.is_set():
            try:
                async with connect(self.url, additional_headers=headers, compression=None, open_timeout=5) as ws:
                    while not self._stop.is_set():
                        n += 1
                        await self._ask(ws, i, n)
                        await asyncio.sleep(self.think_s)
            except Exception:  # any drop (refused, reset, timeout): reconnect
                await asyncio.sleep(0.5)

    async def _ask(self, ws: ClientConnection, i: int, n: int) -> None:
        session = f"s-load-{self.epoch}-{i:03d}"
        text = QUESTIONS[(i + n) % len(QUESTIONS)]
        asked = Asked(session, time.monotonic(), text)
        self.asked.append(asked)
        request_id = f"q{i}-{n}"
        await ws.send(
            json.dumps(
                {
                    "type": "query",
                    "request_id": request_id,
                    "session_id": session,
                    "text": text,
                },
                ensure_ascii=False,
            )
        )
        try:
            async with asyncio.timeout(30):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("request_id") == request_id and asked.first is None:
                        asked.first = time.monotonic()
                    if frame.get("request_id") == request_id and frame["type"] in ("done", "error"):
                        break
        except TimeoutError:
            asked.outcome, asked.ended = "no_reply", time.monotonic()
            return
        asked.ended = time.monotonic()
        if frame["type"] == "done":
            asked.outcome = "done"
            asked.fallbacks = list(frame.get("fallbacks") or [])
            asked.timings_ms = dict(frame.get("timings_ms") or {})
            asked.cache_hit = bool(frame.get("cache_hit"))
            asked.model = str(frame.get("model") or "")
            asked.output_tokens = int((frame.get("usage") or {}).get("output_tokens") or 0)
            self.answered.setdefault(session, []).append(asked.ended)
        else:
            asked.outcome = f"error:{frame.get('code')}"

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._customer(i)) for i in range(self.n)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def stored_versions(cluster: Cluster, sessions: list[str]) -> dict[str, int]:
    client = boto3.client(
        "dynamodb",
        endpoint_url=cluster.url("aws"),
        region_name=LOCAL_AWS_ENV["AWS_DEFAULT_REGION"],
        aws_access_key_id=LOCAL_AWS_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    out = {}
    for sid in sessions:
        try:
            item = client.get_item(
                TableName="mangaassist-sessions", Key={"session_id": {"S": sid}}, ConsistentRead=True
            ).get("Item", {})
        except Exception:
            item = {}
        out[sid] = int(item.get("version", {}).get("N", "0"))
    return out


class HealthTimeline:
    """The inference service's own health (``InferenceService``, what the orchestrator reads) and
    the orchestrator's readiness (``/healthz``), sampled every ``every_s`` from a thread while a
    drill runs: when each turned away from healthy after the fault and back after the return."""

    def __init__(self, cluster: Cluster, every_s: float = 0.1) -> None:
        self._cluster, self._every = cluster, every_s
        self.samples: list[tuple[float, str, int]] = []  # (monotonic, inference status, /healthz code)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        address = self._cluster.address("inference")
        while not self._stop.is_set():
            status = grpc_status(address, GRPC_SERVICES["inference"], timeout=0.25)
            code = http_health(self._cluster.health_url, 0.5)[0]
            self.samples.append((time.monotonic(), status, code))
            self._stop.wait(self._every)

    def start(self) -> HealthTimeline:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def health_changes(samples: list[tuple[float, str, int]], fault_at: float, returned_from: float) -> dict[str, Any]:
    """From a ``HealthTimeline``'s samples: seconds from the fault until the inference service
    first said anything but SERVING and until ``/healthz`` first failed; seconds from the part's
    return until each was healthy for good (its last change to healthy); how often each changed."""

    def track(healthy: list[tuple[float, bool]]) -> dict[str, Any]:
        down = next((t - fault_at for t, ok in healthy if not ok), None)
        ups = [t for (_, was), (t, ok) in itertools.pairwise(healthy) if ok and not was]
        back = ups[-1] - returned_from if ups and healthy[-1][1] else None
        changes = sum(1 for (_, a), (_, b) in itertools.pairwise(healthy) if a != b)
        episodes: list[list[float]] = []  # [start after the fault, seconds unhealthy]
        for (_, was), (t1, ok) in itertools.pairwise(healthy):
            if was and not ok:
                episodes.append([round(t1 - fault_at, 1), 0.0])
            elif ok and not was and episodes:
                episodes[-1][1] = round(t1 - fault_at - episodes[-1][0], 1)
        return {
            "unhealthy_after_fault_s": round(down, 2) if down is not None else None,
            "healthy_after_return_s": round(back, 2) if back is not None else None,
            "changes": changes,
            "unhealthy_episodes": episodes[:50],
        }

    return {
        "inference_service": track([(t, status == "SERVING") for t, status, _ in samples]),
        "healthz": track([(t, code == 200) for t, _, code in samples]),
        "every_s": round((samples[-1][0] - samples[0][0]) / max(len(samples) - 1, 1), 3) if samples else None,
    }


async def probe_clean(url: str) -> bool:
    """One question answered `done` with no fallback (a fresh anonymous connection)."""
    try:
        async with connect(url, compression=None, open_timeout=2) as ws:
            await ws.send(
                json.dumps(
                    {"type": "query", "request_id": "probe", "text": f"おすすめの漫画は？ {uuid.uuid4().hex[:4]}"},
                    ensure_ascii=False,
                )
            )
            async with asyncio.timeout(5):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("type") in ("done", "error"):
                        return frame["type"] == "done" and not frame.get("fallbacks")
    except Exception:
        return False


async def until_healthy(cluster: Cluster, part: str, limit_s: float = 120) -> tuple[float | None, float | None]:
    """Seconds until ``part`` serves again, and until the mesh is healthy (from now)."""
    started = time.monotonic()
    part_back = mesh_ok = None
    while time.monotonic() - started < limit_s:
        if part_back is None and await asyncio.to_thread(cluster.is_serving, part):
            part_back = time.monotonic() - started
        if part_back is not None:
            code, _ = await asyncio.to_thread(http_health, cluster.health_url, 2.0)
            if code == 200 and await probe_clean(cluster.ws_url):
                mesh_ok = time.monotonic() - started
                break
        await asyncio.sleep(0.25)
    return part_back, mesh_ok


def summarize(asked: list[Asked]) -> dict[str, Any]:
    ended = [a for a in asked if a.ended is not None]
    durations = sorted(a.ended - a.started for a in ended if a.ended is not None)
    within = sum(1 for a in ended if a.ended is not None and a.ended - a.started <= BOUND_S and a.outcome != "no_reply")
    # Held or streaming: a question whose first frame came within the bound was not held by
    # anything; its answer may still stream for longer than the bound.
    first = sum(1 for a in ended if a.first is not None and a.first - a.started <= BOUND_S)
    firsts = sorted(a.first - a.started for a in ended if a.first is not None)
    return {
        "questions": len(ended),
        "ended_within_2_5_s": within,
        "share_within_2_5_s": round(within / len(ended), 4) if ended else None,
        "share_first_frame_within_2_5_s": round(first / len(ended), 4) if ended else None,
        "first_frame_s": {
            "p50": round(firsts[len(firsts) // 2], 3),
            "p95": round(firsts[int(len(firsts) * 0.95)], 3),
            "max": round(firsts[-1], 2),
        }
        if firsts
        else None,
        "max_s": round(durations[-1], 2) if durations else None,
        "p50_s": round(durations[len(durations) // 2], 3) if durations else None,
        "p95_s": round(durations[int(len(durations) * 0.95)], 3) if durations else None,
        "outcomes": dict(Counter(a.outcome for a in ended)),
        "cache_hits": sum(1 for a in ended if a.cache_hit),
        "fallbacks": dict(Counter(f for a in ended for f in a.fallbacks)),
        "slow_answers_by_segment": slow_segments(ended),
        "by_question": by_question(ended),
    }


def by_question(ended: list[Asked]) -> dict[str, dict[str, Any]]:
    """Per question of the script: how many were asked, ended within the bound and came from the
    cache; the median time to the first frame and to the end; the models that answered and the
    median output tokens of the model's answers (what a long stream is made of)."""
    out: dict[str, dict[str, Any]] = {}
    for text in QUESTIONS:
        mine = [a for a in ended if a.text == text and a.ended is not None]
        if not mine:
            continue
        durations = sorted(a.ended - a.started for a in mine if a.ended is not None)
        firsts = sorted(a.first - a.started for a in mine if a.first is not None)
        tokens = sorted(a.output_tokens for a in mine if a.outcome == "done" and not a.cache_hit)
        out[text] = {
            "asked": len(mine),
            "ended_within_2_5_s": sum(1 for d in durations if d <= BOUND_S),
            "cache_hits": sum(1 for a in mine if a.cache_hit),
            "p50_first_frame_s": round(firsts[len(firsts) // 2], 3) if firsts else None,
            "p50_s": round(durations[len(durations) // 2], 3),
            "max_s": round(durations[-1], 2),
            "models": dict(Counter(a.model or "-" for a in mine)),
            "p50_output_tokens": tokens[len(tokens) // 2] if tokens else None,
        }
    return out


def slow_segments(ended: list[Asked]) -> dict[str, dict[str, float]]:
    """Where the answers over the bound spent their time: per segment, the median and the
    slowest ms among them (the root and its first level are left out: they hold the rest)."""
    slow = [a for a in ended if a.outcome == "done" and a.ended is not None and a.ended - a.started > BOUND_S]
    skip = {"manga-assist-request", "ecs-orchestrator", "api-gateway-websocket"}
    names = sorted({n for a in slow for n in a.timings_ms} - skip)
    out = {}
    for name in names:
        values = sorted(a.timings_ms.get(name, 0.0) for a in slow)
        out[name] = {"p50_ms": round(values[len(values) // 2], 1), "max_ms": round(values[-1], 1)}
    return dict(sorted(out.items(), key=lambda kv: -kv[1]["p50_ms"])[:6])


async def drill(
    cluster: Cluster,
    load: Load,
    part: str,
    kind: str,
    stop_s: float,
    settle_s: float,
    supervisor: Supervisor | None = None,
    hold_s: float = 0.0,
) -> dict[str, Any]:
    load.new_epoch()
    status_before = await asyncio.to_thread(admin_status, cluster)
    post_before = status_before.get("postprocess", {})
    await asyncio.sleep(settle_s)  # the new sessions have a turn or two before the fault
    first = len(load.asked)
    pid = cluster.procs[part].pid
    held = kind == "kill9" and hold_s > 0 and supervisor is not None
    if held:
        assert supervisor is not None
        supervisor.hold(part, hold_s)  # before the kill: the restart waits for it
    timeline = HealthTimeline(cluster).start()
    fault_at = time.monotonic()
    if kind == "kill9":
        signal_tree(pid, signal.SIGKILL)
        returned_from = fault_at
    elif kind == "none":
        await asyncio.sleep(stop_s)
        returned_from = time.monotonic()
    else:
        signal_tree(pid, signal.SIGSTOP)
        await asyncio.sleep(stop_s)
        signal_tree(pid, signal.SIGCONT)
        returned_from = time.monotonic()
    part_back, mesh_ok = await until_healthy(cluster, part)
    recovered_at = time.monotonic()
    await asyncio.sleep(1.0)  # a second of the timeline after recovery: a flap would show
    await asyncio.to_thread(timeline.stop)
    restarted = cluster.procs[part].pid != pid
    await asyncio.sleep(settle_s)  # questions after recovery; after-answer writes land
    during = [a for a in load.asked[first:] if a.started <= recovered_at]
    epoch_sessions = sorted(
        {a.session for a in load.asked[first:]} | {s for s in load.answered if s.startswith(f"s-load-{load.epoch}-")}
    )
    # Answers received up to a second before the queue is seen empty have had their session
    # writes submitted and finished; later ones may still be on their way (not owed yet).
    cutoff = time.monotonic() - 1.0
    await asyncio.sleep(1)
    drained_after = await post_drained(cluster)  # the after-answer retries have all finished
    status_after = await asyncio.to_thread(admin_status, cluster)
    post_after = status_after.get("postprocess", {})
    stored = await asyncio.to_thread(stored_versions, cluster, epoch_sessions)
    wiped_at = fault_at if (part == "aws" and kind == "kill9") else None
    owed = {
        s: sum(
            1 for t in load.answered.get(s, []) if t <= cutoff and (wiped_at is None or t > wiped_at + (part_back or 0))
        )
        for s in epoch_sessions
    }
    lost = {s: owed[s] - stored[s] for s in epoch_sessions if owed[s] > stored[s]}
    # More stored than answered at all: a turn written twice (a session holds each turn once).
    answered = {s: len(load.answered.get(s, [])) for s in epoch_sessions}
    extra = sum(max(0, stored[s] - answered[s]) for s in epoch_sessions) if wiped_at is None else None
    return {
        "part": part,
        "fault": kind,
        "stop_s": stop_s if kind in ("sigstop", "none") else None,
        "hold_s": hold_s if held else None,
        "restarted_by_supervisor": restarted,
        "part_serving_after_s": round(part_back, 2) if part_back is not None else None,
        "mesh_healthy_after_part_returned_s": (
            round(mesh_ok - part_back, 2) if mesh_ok is not None and part_back is not None else None
        ),
        "since": {"kill9": "fault (kill9: the restart is part of it)", "none": "the window's end"}.get(kind, "SIGCONT"),
        "breakers_opened": breakers_opened(status_before, status_after),
        "health": health_changes(timeline.samples, fault_at, returned_from),
        "returned_from": round(returned_from - fault_at, 2),
        **summarize(during),
        "sessions": len(epoch_sessions),
        "turns_owed": sum(owed.values()),
        "turns_stored": sum(stored.values()),
        "turns_lost": sum(lost.values()),
        "sessions_losing_turns": len(lost),
        "turns_stored_beyond_answers": extra,
        "after_answer_queue_drained_s": drained_after,
        "after_answer_queue": {
            k: post_after.get(k, 0) - post_before.get(k, 0)
            for k in post_after
            if isinstance(post_after.get(k), int) and k != "pending"
        },
    }


def admin_status(cluster: Cluster) -> dict[str, Any]:
    return http_health(f"http://{cluster.address('admin')}/admin/status", 2.0)[1]


def breakers_opened(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """How many times each of the orchestrator's breakers opened between two ``/admin/status``."""

    def opens(status: dict[str, Any]) -> dict[str, int]:
        guards = status.get("guards")
        if not isinstance(guards, dict):
            return {}
        return {
            name: int(((guard.get("breaker") or {}).get("transitions") or {}).get("open", 0))
            for name, guard in guards.items()
            if isinstance(guard, dict)
        }

    a, b = opens(before), opens(after)
    return {name: b[name] - a.get(name, 0) for name in sorted(b) if b[name] > a.get(name, 0)}


async def post_drained(cluster: Cluster, limit_s: float = 90.0) -> float | None:
    """Seconds until the orchestrator's after-answer queue is empty (``None``: not within the limit)."""
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        post = (await asyncio.to_thread(admin_status, cluster)).get("postprocess", {})
        if isinstance(post, dict) and post.get("pending") == 0:
            return round(time.monotonic() - started, 1)
        await asyncio.sleep(0.5)
    return None


def supervise(cluster: Cluster) -> tuple[threading.Event, threading.Thread, Supervisor]:
    stop = threading.Event()
    supervisor = Supervisor(cluster)
    thread = threading.Thread(target=supervisor.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread, supervisor


async def run_drills(cluster: Cluster, args: argparse.Namespace, supervisor: Supervisor) -> dict[str, Any]:
    load = Load(cluster.ws_url, args.sessions, args.think_s)
    load.start()
    await asyncio.sleep(args.warmup_s)
    baseline_from = len(load.asked)
    await asyncio.sleep(args.settle_s)
    baseline = summarize(load.asked[baseline_from:])
    results = []
    for part in args.parts:
        for kind in args.faults:
            print(f"drill: {kind} {part}", file=sys.stderr, flush=True)
            result = await drill(cluster, load, part, kind, args.stop_s, args.settle_s, supervisor, args.hold_s)
            print(f"  {json.dumps(result, ensure_ascii=False)}", file=sys.stderr, flush=True)
            results.append(result)
    await load.stop()
    return {"baseline": baseline, "drills": results}


async def task_counts(cluster: Cluster, since_ns: int) -> dict[str, int]:
    """Each service's latest ``mangaassist.process.asyncio_tasks`` point (exported every second
    to the cluster's trace receiver) since ``since_ns``."""
    url = f"{cluster.metrics_url}?name={ASYNCIO_TASKS}&since_ns={since_ns}"
    points = (await asyncio.to_thread(http_health, url, 5.0))[1].get("points", [])
    latest: dict[str, tuple[int, int]] = {}
    for point in points if isinstance(points, list) else []:
        if point["time_ns"] >= latest.get(point["service"], (0, 0))[0]:
            latest[point["service"]] = (point["time_ns"], int(point["value"]))
    return {service: value for service, (_, value) in sorted(latest.items())}


async def sample(cluster: Cluster) -> dict[str, Any]:
    status = await asyncio.to_thread(admin_status, cluster)
    return {
        "t": time.monotonic(),
        "tasks": status.get("asyncio_tasks"),
        "tasks_by_process": await task_counts(cluster, time.time_ns() - 10 * 10**9),
        "inflight": status.get("inflight_requests"),
        "after_answer_pending": (status.get("postprocess") or {}).get("pending"),
        "rss_mb": {n: rss_mb(p.pid) for n, p in cluster.procs.items()},
        "fds": {n: open_fds(p.pid) for n, p in cluster.procs.items()},
    }


def growth_at_equal_inflight(series: list[dict[str, Any]], warmup_s: float, get: Any) -> dict[str, float | None]:
    """A task count's growth with the load in flight taken out.

    A service's live tasks rise and fall with the requests in flight (each holds a few), and
    the soak's load swings (5-27 in flight at 32 sessions), so last-minute-over-warm-up of the
    raw count says more about the swing than about a leak. Fit ``tasks = base + per_request *
    inflight + drift * t`` (least squares over every sample after ``warmup_s``: the time term
    keeps a leak from being read as load when the load also trends), take ``per_request *
    inflight`` out of every sample, and compare what is left like the raw counts: the last
    four samples' median over the first four after warm-up. ``inflight`` is the orchestrator's
    requests in flight, the load every service sees; ``series`` holds samples with ``t``
    (seconds from the start), ``inflight`` and what ``get`` reads."""
    points = [
        (float(s["inflight"]), float(s["t"]), float(get(s)))
        for s in series
        if s["t"] >= warmup_s and s.get("inflight") is not None
    ]
    if len(points) < 8:
        return {"per_request_in_flight": None, "growth": None}
    mx, mt, my = (statistics.fmean(p[i] for p in points) for i in range(3))
    sxx = sum((x - mx) ** 2 for x, _, _ in points)
    stt = sum((t - mt) ** 2 for _, t, _ in points)
    sxt = sum((x - mx) * (t - mt) for x, t, _ in points)
    sxy = sum((x - mx) * (y - my) for x, _, y in points)
    sty = sum((t - mt) * (y - my) for _, t, y in points)
    det = sxx * stt - sxt**2
    slope = (sxy * stt - sty * sxt) / det if det > 1e-9 * max(sxx * stt, 1.0) else 0.0
    base = [y - slope * x for x, _, y in points]
    first, last = statistics.median(base[:4]), statistics.median(base[-4:])
    return {
        "per_request_in_flight": round(slope, 3),
        "base_after_warmup": round(first, 1),
        "base_last": round(last, 1),
        "growth": round(last / first - 1, 4) if first > 0 else None,
    }


def equal_inflight_growth(series: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    """``growth_at_equal_inflight`` of the orchestrator's tasks (sampled with its in-flight
    count) and of every service's task gauge."""
    names = sorted({n for s in series for n in s.get("tasks_by_process") or {}})
    return {
        "orchestrator_asyncio_tasks": growth_at_equal_inflight(series, warmup_s, lambda s: s["tasks"] or 0),
        "asyncio_tasks": {
            n: growth_at_equal_inflight(series, warmup_s, lambda s, n=n: (s.get("tasks_by_process") or {}).get(n, 0))
            for n in names
        },
    }


async def run_soak(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    load = Load(cluster.ws_url, args.sessions, args.think_s)
    load.start()
    samples = []
    started = time.monotonic()
    timeline = HealthTimeline(cluster, every_s=0.5).start()  # no fault: health should never move
    while time.monotonic() - started < args.minutes * 60:
        samples.append(await sample(cluster))
        if len(samples) % 8 == 0:
            load.new_epoch()  # conversations end and new ones start, as customers come and go
        await asyncio.sleep(15)
    samples.append(await sample(cluster))
    await load.stop()
    await asyncio.to_thread(timeline.stop)
    warm = [s for s in samples if s["t"] - started >= args.warmup_s][:4]
    last = samples[-4:]

    def growth(get: Any) -> float | None:
        a, b = statistics.median(get(s) for s in warm), statistics.median(get(s) for s in last)
        return round(b / a - 1, 4) if a else None

    names = list(cluster.procs)
    task_names = sorted({n for s in samples for n in s["tasks_by_process"]})
    return {
        "minutes": args.minutes,
        "sessions": args.sessions,
        "samples": len(samples),
        "warm_window_s": [round(warm[0]["t"] - started), round(warm[-1]["t"] - started)],
        "last_window_s": [round(last[0]["t"] - started), round(last[-1]["t"] - started)],
        "growth_after_warmup": {
            "orchestrator_asyncio_tasks": growth(lambda s: s["tasks"] or 0),
            "asyncio_tasks": {n: growth(lambda s, n=n: s["tasks_by_process"].get(n, 0)) for n in task_names},
            "rss": {n: growth(lambda s, n=n: s["rss_mb"][n]) for n in names},
            "fds": {n: growth(lambda s, n=n: s["fds"][n]) for n in names},
        },
        "health": health_changes(timeline.samples, started, started),
        "growth_at_equal_inflight": equal_inflight_growth(
            [{**s, "t": s["t"] - started} for s in samples], args.warmup_s
        ),
        "questions": summarize(load.asked),
        "series": [{**s, "t": round(s["t"] - started, 1)} for s in samples],
    }


def rescore_soak(path: Path, warmup_s: float) -> dict[str, Any]:
    """A committed soak result with ``growth_at_equal_inflight`` computed from its own series."""
    result: dict[str, Any] = json.loads(path.read_text())
    result["growth_at_equal_inflight"] = equal_inflight_growth(result["series"], warmup_s)
    result["growth_at_equal_inflight"]["rescored_from_series"] = True
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["drills", "soak"])
    parser.add_argument("--sessions", type=int, default=64)
    parser.add_argument("--think-s", type=float, default=4.0)
    parser.add_argument("--stop-s", type=float, default=30.0)
    parser.add_argument(
        "--hold-s",
        type=float,
        default=0.0,
        help="kill9: the supervisor restarts the killed part no sooner than this (0: at once, as make up)",
    )
    parser.add_argument("--settle-s", type=float, default=8.0)
    parser.add_argument("--warmup-s", type=float, default=20.0)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--parts", type=lambda v: v.split(","), default=PARTS)
    parser.add_argument(
        "--faults", type=lambda v: v.split(","), default=["kill9", "sigstop"], help="kill9, sigstop, none (control)"
    )
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--rescore",
        type=Path,
        help="soak: no cluster; add growth_at_equal_inflight to this committed soak result from its series",
    )
    args = parser.parse_args()
    out = args.out or RESULTS / f"{args.mode}.json"
    if args.mode == "soak" and args.rescore is not None:
        rescored = rescore_soak(args.rescore, args.warmup_s)
        (args.out or args.rescore).write_text(json.dumps(rescored, indent=2, ensure_ascii=False) + "\n")
        print(json.dumps(rescored["growth_at_equal_inflight"], indent=2))
        return
    started, load_start = time.time(), os.getloadavg()
    with tempfile.TemporaryDirectory() as logs:
        cluster = Cluster(env=cluster_env(), log_dir=Path(logs)).start()
        stop, thread, supervisor = supervise(cluster)
        try:
            body = asyncio.run(
                run_drills(cluster, args, supervisor) if args.mode == "drills" else run_soak(cluster, args)
            )
        finally:
            stop.set()
            thread.join()
            cluster.stop()
    result = {
        "what": f"{args.mode} on the supervised local cluster",
        "command": " ".join(["python -m bench.drills", *sys.argv[1:]]),
        "seconds": round(time.time() - started, 1),
        "restarts": {n: s.restarts for n, s in supervisor.parts.items()},
        # The box is shared: its load average (1, 5, 15 min) when the run started and ended.
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in os.getloadavg()],
        "note": "2 shared cores, other engineers' jobs running: timings are noisy",
        **body,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(out)


if __name__ == "__main__":
    main()
