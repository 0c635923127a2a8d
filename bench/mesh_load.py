"""What each answer costs, and which load the mesh holds: CPU per answered question per
process, and closed- and open-loop load levels judged by one honest rule.

    python -m bench.mesh_load [--levels 8,32,64,128,256] [--questions 4] [--think 0.5,1.5]
                              [--open-rates 4,8,16] [--open-seconds 20] [--profile DIR]

The whole local cluster runs as ``make up`` runs it (four services, Redis Stack, moto, the
trace receiver, the Bedrock emulator on its default latency profile) on ephemeral ports.

* **Closed loop**: ``N`` sessions, each one WebSocket asking ``--questions`` questions in a
  row (session carried over, think time uniform in ``--think`` seconds), the mix of
  ``bench.peers.load`` (popular repeats and one-off questions).
* **Open loop**: questions arrive at a fixed rate whatever the mesh's speed, each on its
  own new connection, for ``--open-seconds``; a slow mesh then piles work up instead of
  slowing its own clients down (what the closed loop hides).

Per level: every percentile beside the error rate it was computed with (percentiles are
over answered questions; the error rate says how many were not); the level is **held** only
when errors ≤ 0.1 % of questions *and* TTFT p95 ≤ 2 s. CPU per answered question is read
from ``/proc/<pid>/stat`` (utime + stime of the process and its children) before and after
each level, also as *above idle* (the idle rate measured first, times the level's wall
time, taken away: background telemetry export and health checks), for each process apart: the mesh (orchestrator, inference, intent, retrieval),
and apart from it the stand-ins (emulator, moto, Redis, trace receiver) and this load
client. ``--profile DIR`` runs ``py-spy record`` (if installed) on the orchestrator and the
inference service during the closed-loop levels and writes one collapsed-stack file per
process and level.

Writes ``bench/results/mesh_load.json`` (or ``--out``); numbers, never pass/fail. The box
is shared: note the load average printed at the start.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import uvloop
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from bench.common import ask, cluster_env, pct
from bench.peers.load import POPULAR, closed_loop, question, settle, warm_up
from bench.profile_stacks import breakdown
from mangaassist.devtools.cluster import Cluster

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PROFILE = RESULTS / "profile-native-16.json"
HELD_MAX_ERROR_RATE = 0.001
HELD_MAX_TTFT_P95_MS = 2000.0

RAMP_S = 1.0
MESH = ("orchestrator", "inference", "intent", "retrieval")
STANDINS = ("bedrock_emulator", "aws", "redis", "traces")
TICK = os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        kids[ppid].append(int(entry.name))
    return kids


def cpu_seconds(pid: int, kids: dict[int, list[int]]) -> float:
    """utime + stime of ``pid`` and its live descendants (Redis runs as a child process)."""
    total = 0.0
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        rest = fields[fields.rindex(")") + 2 :].split()
        total += (int(rest[11]) + int(rest[12])) / TICK
        stack.extend(kids.get(p, []))
    return total


class CpuMeter:
    """CPU seconds per cluster process (and this client) between ``start`` and ``stop``."""

    def __init__(self, cluster: Cluster) -> None:
        self._pids = {name: proc.pid for name, proc in cluster.procs.items()}

    def _read(self) -> dict[str, float]:
        kids = _children()
        now = {name: cpu_seconds(pid, kids) for name, pid in self._pids.items()}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        now["client"] = usage.ru_utime + usage.ru_stime
        return now

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        return {name: after[name] - self._before.get(name, 0.0) for name in after}


async def open_loop(url: str, rate: float, seconds: float, seed: int) -> tuple[list[dict[str, Any]], float]:
    """One question every ``1/rate`` s on its own connection, however long the answers take."""
    out: list[dict[str, Any]] = []
    rng = random.Random(seed)

    async def one(i: int) -> None:
        try:
            async with connect(url, compression=None, max_size=None, open_timeout=30, ping_interval=None) as ws:
                out.append(await ask(ws, {"type": "query", "request_id": f"o{i}", "text": question(rng)}))
        except (OSError, WebSocketException, TimeoutError) as exc:
            out.append({"ok": False, "error": f"connect:{type(exc).__name__}"})

    tasks = []
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    return out, time.perf_counter() - started


def judge(
    out: list[dict[str, Any]], wall: float, cpu: dict[str, float], idle: dict[str, float] | None = None
) -> dict[str, Any]:
    ok = [r for r in out if r["ok"]]
    kinds = Counter(r["error"] for r in out if not r["ok"])
    errors = sum(kinds.values())
    rate = errors / len(out) if out else math.nan
    result: dict[str, Any] = {
        "questions": len(out),
        "answered": len(ok),
        "errors": errors,
        "error_rate": rate,
        "error_kinds": dict(kinds),
        "answers_per_s": len(ok) / wall if wall else math.nan,
        "wall_s": wall,
        "cache_hit_rate": sum(r["cache_hit"] for r in ok) / len(ok) if ok else math.nan,
        # WebSocket token frames per answered question: what stream coalescing leaves.
        "token_frames_per_answer": sum(r.get("token_frames", 0) for r in ok) / len(ok) if ok else math.nan,
    }
    for metric in ("ttft", "e2e", "overhead"):
        values = [r[metric] for r in ok]
        for q in (50, 95, 99):
            result[f"{metric}_p{q}_ms"] = pct(values, q)
    hits = [r["e2e"] for r in ok if r["cache_hit"]]
    result["cache_hit_e2e_p50_ms"], result["cache_hit_e2e_p95_ms"] = pct(hits, 50), pct(hits, 95)
    result["held"] = bool(out) and rate <= HELD_MAX_ERROR_RATE and result["ttft_p95_ms"] <= HELD_MAX_TTFT_P95_MS
    answered = max(1, len(ok))
    per = {name: round(seconds * 1000 / answered, 2) for name, seconds in sorted(cpu.items())}
    per["mesh"] = round(sum(per.get(n, 0.0) for n in MESH), 2)
    result["cpu_ms_per_answer"] = per
    result["cpu_s"] = {name: round(seconds, 3) for name, seconds in sorted(cpu.items())}
    if idle is not None:
        # What the answers added: the process's idle rate (telemetry export, health checks,
        # keep-alives) over the level's wall time taken away.
        marginal = {
            name: round(max(0.0, seconds - idle.get(name, 0.0) * wall) * 1000 / answered, 2)
            for name, seconds in sorted(cpu.items())
            if name != "client"
        }
        marginal["mesh"] = round(sum(marginal.get(n, 0.0) for n in MESH), 2)
        result["cpu_ms_per_answer_above_idle"] = marginal
    segments: dict[str, list[float]] = defaultdict(list)
    for r in ok:
        for name, ms in r["timings"].items():
            segments[name].append(float(ms))
    result["segments_ms"] = {
        name: {"p50": round(pct(v, 50), 2), "p95": round(pct(v, 95), 2), "n": len(v)}
        for name, v in sorted(segments.items())
    }
    return result


def line(name: str, r: dict[str, Any]) -> str:
    cpu = r["cpu_ms_per_answer"]
    return (
        f"{name:>14}  {r['answered']:>5}/{r['questions']:<5} errors {r['error_rate']:7.2%}  "
        f"TTFT p50/p95 {r['ttft_p50_ms']:6.0f}/{r['ttft_p95_ms']:6.0f} ms  "
        f"e2e p95 {r['e2e_p95_ms']:6.0f} ms  overhead p95 {r['overhead_p95_ms']:6.0f} ms  "
        f"{r['answers_per_s']:5.1f} ans/s  {'HELD' if r['held'] else 'not held'}  | "
        + (
            f"above idle: mesh {r['cpu_ms_per_answer_above_idle']['mesh']:.1f} (orch "
            f"{r['cpu_ms_per_answer_above_idle'].get('orchestrator', 0):.1f}) | "
            if "cpu_ms_per_answer_above_idle" in r
            else ""
        )
        + "CPU ms/answer: "
        f"mesh {cpu['mesh']:.1f} (orch {cpu.get('orchestrator', 0):.1f}, inf {cpu.get('inference', 0):.1f}, "
        f"ret {cpu.get('retrieval', 0):.1f}, int {cpu.get('intent', 0):.1f}); emulator "
        f"{cpu.get('bedrock_emulator', 0):.1f}, moto {cpu.get('aws', 0):.1f}, redis {cpu.get('redis', 0):.1f}, "
        f"client {cpu.get('client', 0):.1f}"
    )


class Profiler:
    """``py-spy record`` on some cluster processes for the length of one level."""

    def __init__(
        self, out_dir: Path | None, cluster: Cluster, names: tuple[str, ...], rate: int = 200, native: bool = False
    ) -> None:
        self._dir = out_dir
        self._rate = rate
        # --native resolves the C frames (uvloop, gRPC core, orjson) under ``Runner.run``; py-spy
        # must then pause the process for each sample (it cannot read native stacks otherwise).
        self._mode = ["--native"] if native else ["--nonblocking"]
        self._pids = {n: cluster.procs[n].pid for n in names}
        self._spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self._running: list[subprocess.Popen[bytes]] = []

    def start(self, label: str) -> None:
        if self._dir is None or not Path(self._spy).exists():
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        for name, pid in self._pids.items():
            self._running.append(
                subprocess.Popen(
                    [
                        self._spy,
                        "record",
                        "--pid",
                        str(pid),
                        "--format",
                        "raw",
                        "--rate",
                        str(self._rate),
                        *self._mode,
                        "--output",
                        str(self._dir / f"{label}-{name}.txt"),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stages(self, label: str, cpu_ms_per_answer: dict[str, float]) -> dict[str, Any]:
        """Each profiled process's CPU per answer split by stage (``bench.profile_stacks``
        buckets); while py-spy samples (``--native`` above all) the process spends more per
        answer than it does unprofiled: the shares are the figure to carry over."""
        out: dict[str, Any] = {}
        for name in self._pids:
            path = self._dir / f"{label}-{name}.txt" if self._dir is not None else None
            if path is None or not path.exists():
                continue
            shares = breakdown(path)
            total = cpu_ms_per_answer.get(name, 0.0)
            out[name] = {
                "native": self._mode == ["--native"],
                "cpu_ms_per_answer_while_profiled": total,
                "shares_percent": shares,
                "ms_per_answer": {k: round(v * total / 100, 2) for k, v in shares.items()},
            }
        return out

    def stop(self) -> None:
        for proc in self._running:
            proc.send_signal(2)  # SIGINT: py-spy writes its file and exits
        for proc in self._running:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        self._running.clear()


async def measure(cluster: Cluster, args: argparse.Namespace) -> dict[str, Any]:
    url = cluster.ws_url
    status_url = f"http://{cluster.address('admin')}/admin/status"
    await warm_up(url, print)
    meter = CpuMeter(cluster)
    await settle(url, status_url)
    meter.start()
    await asyncio.sleep(args.idle_seconds)
    idle = {name: seconds / args.idle_seconds for name, seconds in meter.stop().items()}
    print("idle CPU ms/s: " + ", ".join(f"{n} {v * 1000:.1f}" for n, v in sorted(idle.items())), flush=True)
    profiler = Profiler(
        args.profile, cluster, tuple(args.profile_processes.split(",")), args.profile_rate, args.profile_native
    )
    think = tuple(float(x) for x in args.think.split(","))
    closed: dict[str, Any] = {}
    for n in [int(x) for x in args.levels.split(",") if x]:
        await settle(url, status_url)
        meter.start()
        profiler.start(f"closed-{n}")
        out, wall = await closed_loop(url, n, args.questions, args.seed + n, (think[0], think[1]))
        profiler.stop()
        closed[str(n)] = judge(out, wall, meter.stop(), idle)
        stages = profiler.stages(f"closed-{n}", closed[str(n)]["cpu_ms_per_answer"])
        if stages:
            closed[str(n)]["stages"] = stages
        print(line(f"{n} sessions", closed[str(n)]), flush=True)
    opened: dict[str, Any] = {}
    for rate in [float(x) for x in args.open_rates.split(",") if x]:
        await settle(url, status_url)
        meter.start()
        out, wall = await open_loop(url, rate, args.open_seconds, args.seed + int(rate))
        opened[f"{rate:g}"] = judge(out, wall, meter.stop(), idle)
        print(line(f"{rate:g} q/s open", opened[f"{rate:g}"]), flush=True)
    held = [int(n) for n, r in closed.items() if r["held"]]
    held_rates = [float(k) for k, r in opened.items() if r["held"]]
    summary = (
        f"highest closed-loop level held (errors ≤ {HELD_MAX_ERROR_RATE:.1%}, TTFT p95 ≤ "
        f"{HELD_MAX_TTFT_P95_MS:.0f} ms): {f'{max(held)} sessions' if held else 'none'}; highest open-loop rate "
        f"held: {f'{max(held_rates):g} q/s' if held_rates else 'none' if opened else 'not run'}"
    )
    print(summary)
    return {
        "idle_cpu_ms_per_s": {n: round(v * 1000, 2) for n, v in sorted(idle.items())},
        "closed_loop": closed,
        "open_loop": opened,
        "highest_sessions_held": max(held) if held else None,
        "highest_rate_held": max(held_rates) if held_rates else None,
        "summary": summary,
    }


def markdown(report: dict[str, Any]) -> str:
    """The BENCHMARKS.md section: CPU per answer by process beside each level's verdict."""
    rows = []
    for kind, levels in (("closed", report.get("closed_loop", {})), ("open", report.get("open_loop", {}))):
        for n, r in levels.items():
            cpu = r["cpu_ms_per_answer"]
            rows.append(
                f"| {n} {'sessions' if kind == 'closed' else 'q/s (open loop)'} | {r['error_rate']:.1%} | "
                f"{r['ttft_p50_ms']:.0f} / {r['ttft_p95_ms']:.0f} | {r['e2e_p95_ms']:.0f} | "
                f"{'yes' if r['held'] else 'no'} | {cpu.get('orchestrator', 0):.1f} | {cpu.get('inference', 0):.1f} | "
                f"{cpu.get('retrieval', 0):.1f} | {cpu.get('intent', 0):.1f} | **{cpu['mesh']:.1f}** | "
                f"{cpu.get('bedrock_emulator', 0):.1f} | {cpu.get('aws', 0):.1f} | {cpu.get('client', 0):.1f} |"
            )
    machine = report.get("machine", {})
    return "\n".join([*_level_section(report, rows, machine), *_stage_section()])


def _stage_section() -> list[str]:
    """The per-stage breakdown (``bench/results/profile-native-16.json``, see decision 0006)."""
    if not PROFILE.exists():
        return []
    profile = orjson.loads(PROFILE.read_bytes())
    ms = profile["ms_per_answer"]
    names = list(ms)
    stages = sorted({stage for per in ms.values() for stage in per}, key=lambda k: -ms[names[0]].get(k, 0.0))
    rows = [f"| {stage} | " + " | ".join(f"{ms[n].get(stage, 0.0):.2f}" for n in names) + " |" for stage in stages]
    scale = profile["scale_ms_per_answer"]
    return [
        "### Where the CPU of an answer goes, by stage (`bench/results/profile-native-16.json`)",
        "",
        "py-spy `--native` samples (waiting threads dropped) during one 16-session level, bucketed by "
        "`python -m bench.profile_stacks`; shares scaled to an unprofiled run's CPU per answer ("
        + ", ".join(f"{n} {scale[n]} ms" for n in names)
        + f"; {scale['source']}). Decision record: "
        "[0006](docs/decisions/0006-cpu-per-answer-second-pass.md).",
        "",
        "| stage | " + " | ".join(f"{n} ms / answer" for n in names) + " |",
        "| :--- | " + " | ".join("---:" for _ in names) + " |",
        *rows,
        "",
    ]


def _level_section(report: dict[str, Any], rows: list[str], machine: dict[str, Any]) -> list[str]:
    return [
        "## What an answer costs, by process (`python -m bench.mesh_load`)",
        "",
        f"The whole local cluster, emulator on its default latency profile; {report['settings']['questions_per_session']} "
        f"questions per session, think time {report['settings']['think_s']} s; run {report['when']} at `{report['commit']}`, "
        f"load average {machine.get('load_average_at_start')} at start — **the box was shared with other engineers' "
        "work: noisy**. CPU ms per answered question from `/proc/<pid>/stat`; the mesh is orchestrator + inference + "
        "retrieval + intent, the stand-ins and the load client apart. *Held*: errors ≤ 0.1 % and TTFT p95 ≤ 2 s; "
        "percentiles are over answered questions, beside the error rate. Before/after and the profile: "
        "[docs/benchmarks/cost-per-answer.md](docs/benchmarks/cost-per-answer.md).",
        "",
        f"**{report['summary']}**",
        "",
        "| level | error rate | TTFT p50 / p95 ms | end-to-end p95 ms | held | orchestrator | inference | retrieval | "
        "intent | mesh | emulator | moto | load client |",
        "| :--- | ---: | ---: | ---: | :---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="8,32,64,128,256")
    parser.add_argument("--questions", type=int, default=4)
    parser.add_argument("--think", default="0.5,1.5", help="think time between a session's questions, min,max s")
    parser.add_argument("--open-rates", default="", help="open-loop arrival rates, questions/s (e.g. 4,8,16)")
    parser.add_argument("--open-seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="idle CPU measured this long first")
    parser.add_argument("--profile", type=Path, default=None, help="write py-spy collapsed stacks here")
    parser.add_argument("--profile-processes", default="orchestrator,inference", help="which processes py-spy samples")
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--profile-native", action="store_true", help="py-spy --native (pauses the process per sample)")
    parser.add_argument("--out", type=Path, default=RESULTS / "mesh_load.json")
    parser.add_argument("--note", default="", help="free text saved with the results (e.g. 'before', 'after')")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 4 * max(int(x) for x in args.levels.split(",")) + 1024
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))
    load_at_start = os.getloadavg()
    print(f"load average at start: {load_at_start[0]:.2f} (the box is shared; numbers are noisy)")
    with tempfile.TemporaryDirectory() as logs, Cluster(env=cluster_env(), log_dir=Path(logs)) as cluster:
        result = uvloop.run(measure(cluster, args))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    report = {
        "benchmark": "mesh_load",
        "note": args.note,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": commit.stdout.strip(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_at_start": round(load_at_start[0], 2),
            "shared_with_other_engineers": True,
        },
        "settings": {
            "levels": args.levels,
            "questions_per_session": args.questions,
            "think_s": args.think,
            "open_rates": args.open_rates,
            "open_seconds": args.open_seconds,
            "seed": args.seed,
            "popular_questions": len(POPULAR),
            "emulator_latency_profile": "default",
            "held_rule": {"max_error_rate": HELD_MAX_ERROR_RATE, "max_ttft_p95_ms": HELD_MAX_TTFT_P95_MS},
        },
        **result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
