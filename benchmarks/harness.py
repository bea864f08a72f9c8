"""Run the workloads against each system, one system after another, and keep every sample.

Each measurement starts from empty storage and uses child processes only
(``benchmarks.child``): one for the producer, one (a process group) for the worker. The
worker's handlers append a line per job to a record file (``benchmarks.recorder``); the
harness reads that file to know when the work is done and to compute rates and latencies,
so every system is timed by the same clock and the same code.

Rates exclude interpreter start-up: ``drain`` and ``io`` run from the first job's start
to the last job's end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.adapters import BY_KEY
from benchmarks.adapters.base import Servers, database_name
from benchmarks.server_cpu import backend_cpu, spent

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
EXIT_NOT_SUPPORTED = 3

WORKLOADS = ("enqueue", "bulk", "drain", "io", "latency", "memory")


@dataclass(frozen=True, slots=True)
class Profile:
    """Job counts per workload, and a time cap so a slow default cannot stall the run."""

    enqueue: int
    bulk: int
    drain: int
    io: int
    latency: int
    memory: int
    cap: float  # seconds a worker may take for one measurement before it is cut short
    memory_peers: bool = True  # False: the memory workload runs on wg and raw rows only
    concurrency: int = 10
    io_concurrency: int = 50
    io_sleep: float = 0.01
    latency_interval: float = 0.02


PROFILES = {
    # The counts.
    "full": Profile(
        enqueue=10_000, bulk=10_000, drain=10_000, io=2_000, latency=200, memory=100_000, cap=120
    ),
    # Default: same shape, smaller counts and a 20 s cap, so three runs of every system
    # fit in about half an hour on two busy cores; memory is measured on wg and the raw
    # loops only (the memory target is wg's).
    "quick": Profile(
        enqueue=2_000,
        bulk=5_000,
        drain=3_000,
        io=1_000,
        latency=100,
        memory=20_000,
        cap=20,
        memory_peers=False,
    ),
}


@dataclass(slots=True)
class Sample:
    """One measurement of one system on one workload."""

    system: str
    workload: str
    run: int
    values: dict[str, float] = field(default_factory=dict)
    note: str = ""


class Harness:
    """Owns the servers, the child processes and the samples of one benchmark run."""

    def __init__(self, servers: Servers, profile: Profile, out: Path, verbose: bool) -> None:
        self.servers = servers
        self.profile = profile
        self.out = out
        self.verbose = verbose
        self.samples: list[Sample] = []
        self.logs = out.parent / (out.stem + "-logs")
        self.logs.mkdir(parents=True, exist_ok=True)
        self._env = dict(os.environ, BENCH_SERVERS=json.dumps(asdict(servers)))
        self._env["PYTHONPATH"] = str(ROOT)

    # -- children ---------------------------------------------------------------------

    def _child(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "benchmarks.child", *args],
            cwd=ROOT,
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def reset(self, key: str) -> None:
        done = self._child("reset", key)
        if done.returncode != 0:
            raise RuntimeError(f"reset {key} failed:\n{done.stderr[-2000:]}")

    def info(self, key: str) -> dict[str, str]:
        done = self._child("version", key)
        if done.returncode != 0:
            raise RuntimeError(f"{key} does not load:\n{done.stderr[-2000:]}")
        info: dict[str, str] = json.loads(done.stdout)
        return info

    def produce(self, key: str, n: int, mode: str) -> float | None:
        """Seconds to enqueue ``n`` jobs, or ``None`` when the mode is not supported."""
        done = self._child(
            "produce", key, "--n", str(n), "--mode", mode,
            "--interval", str(self.profile.latency_interval),
        )  # fmt: skip
        if done.returncode == EXIT_NOT_SUPPORTED:
            return None
        if done.returncode != 0:
            raise RuntimeError(f"produce {key} {mode} failed:\n{done.stderr[-2000:]}")
        seconds: float = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
        return seconds

    def prefill(self, key: str, n: int) -> None:
        if self.produce(key, n, "bulk") is None:
            self.produce(key, n, "one")

    @contextmanager
    def worker(
        self, key: str, name: str, concurrency: int, sleep: float = 0.0
    ) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
        record = self.logs / f"{name}.rec"
        record.unlink(missing_ok=True)
        log = (self.logs / f"{name}.log").open("wb")
        env = dict(self._env, BENCH_RECORD=str(record), BENCH_SLEEP=str(sleep))
        proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.child", "work", key,
             "--concurrency", str(concurrency)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: forked workers die with it
        )  # fmt: skip
        try:
            yield proc, record
        finally:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            log.close()

    def wait_lines(
        self,
        proc: subprocess.Popen[bytes],
        record: Path,
        n: int,
        deadline: float,
        on_poll: Callable[[int], None] | None = None,
    ) -> int:
        """Poll the record file until it has ``n`` lines, the deadline, or a crash."""
        count = 0
        offset = 0
        while True:
            if record.exists():
                with record.open("rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                # Count whole lines only; a partial line is read again next time.
                cut = chunk.rfind(b"\n") + 1
                count += chunk.count(b"\n", 0, cut)
                offset += cut
            if on_poll is not None:
                on_poll(count)
            if count >= n or time.monotonic() > deadline:
                return count
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}; see {self.logs}")
            time.sleep(0.01)

    # -- workloads ----------------------------------------------------------------------

    def run_enqueue(self, key: str, mode: str, n: int) -> dict[str, float] | None:
        self.reset(key)
        seconds = self.produce(key, n, mode)
        return None if seconds is None else {"rate": n / seconds}

    def run_drain(self, key: str, name: str, n: int, concurrency: int, sleep: float
                  ) -> tuple[dict[str, float], str]:  # fmt: skip
        self.reset(key)
        self.prefill(key, n)
        begun_at: list[tuple[int, float]] = []  # (jobs done, CPU s) once work has begun
        database = self._database(key)
        server_at: list[dict[int, float] | None] = []
        with self.worker(key, name, concurrency, sleep) as (proc, record):

            def begun(count: int) -> None:
                if count and not begun_at:
                    begun_at.append((count, _group_cpu(proc.pid)))
                    if database is not None:
                        server_at.append(backend_cpu(self.servers.postgres_url, database))

            deadline = time.monotonic() + self.profile.cap
            done = self.wait_lines(proc, record, n, deadline, on_poll=begun)
            cpu = _group_cpu(proc.pid)
            server_end = backend_cpu(self.servers.postgres_url, database) if database else None
        lines = _read_record(record)
        if not lines:
            return {}, f"no job finished within {self.profile.cap:.0f} s"
        first = min(started for _, started, _ in lines)
        last = max(finished for _, _, finished in lines)
        seconds = max(last - first, 1e-9)
        values = {"rate": len(lines) / seconds, "seconds": seconds}
        if begun_at and done > begun_at[0][0]:
            # CPU the worker's processes used per job after start-up: far less sensitive
            # to the other tenants of a shared machine than a wall-clock rate.
            values["cpu_us"] = (cpu - begun_at[0][1]) / (done - begun_at[0][0]) * 1e6
            if server_at and server_at[0] is not None and server_end is not None:
                # The PostgreSQL server's own CPU per job (its backends of this
                # system's database): on 2 cores it is taken from the worker.
                server = spent(server_at[0], server_end)
                values["db_cpu_us"] = server / (done - begun_at[0][0]) * 1e6
        if sleep:
            ideal = n * sleep / concurrency
            values["efficiency"] = ideal / seconds if done >= n else 0.0
        note = "" if done >= n else f"cut at {self.profile.cap:.0f} s: {done}/{n} done"
        return values, note

    @staticmethod
    def _database(key: str) -> str | None:
        """The system's PostgreSQL database, if it uses PostgreSQL."""
        return database_name(key) if BY_KEY[key].backend == "postgres" else None

    def run_latency(self, key: str, name: str) -> tuple[dict[str, float], str]:
        self.reset(key)
        warmup = 5
        with self.worker(key, name, self.profile.concurrency) as (proc, record):
            # A few jobs first, so start-up is over; then let the worker go idle.
            self.produce(key, warmup, "one")
            self.wait_lines(proc, record, warmup, time.monotonic() + 60)
            time.sleep(1.0)
            marker = time.time()
            self.produce(key, self.profile.latency, "latency")
            total = warmup + self.profile.latency
            done = self.wait_lines(proc, record, total, time.monotonic() + self.profile.cap)
        latencies = sorted(
            (started - enqueued) * 1000
            for enqueued, started, _ in _read_record(record)
            if enqueued >= marker
        )
        if not latencies:
            return {}, "no job finished"
        values = {"p50": _percentile(latencies, 50), "p99": _percentile(latencies, 99)}
        note = "" if done >= total else f"cut: {done - warmup}/{self.profile.latency} done"
        return values, note

    def run_memory(self, key: str, name: str) -> tuple[dict[str, float], str]:
        n = self.profile.memory
        self.reset(key)
        self.prefill(key, n)
        peak = 0
        warm: list[int] = []
        last = [0]

        with self.worker(key, name, self.profile.concurrency) as (proc, record):
            next_sample = [0.0]

            def sample(count: int) -> None:
                nonlocal peak
                now = time.monotonic()
                if now < next_sample[0]:
                    return
                next_sample[0] = now + 0.1
                rss = _group_rss(proc.pid)
                peak = max(peak, rss)
                if not warm and count >= n // 5:
                    warm.append(rss)  # RSS once 20 % is done: the warmed-up size
                last[0] = rss

            done = self.wait_lines(
                proc, record, n, time.monotonic() + self.profile.cap * 2, on_poll=sample
            )
            last[0] = _group_rss(proc.pid) or last[0]
        values = {"peak_mb": peak / 2**20}
        if warm:
            values["growth_mb"] = (last[0] - warm[0]) / 2**20
        note = "" if done >= n else f"cut: {done}/{n} done"
        return values, note

    def measure(self, key: str, workload: str, run: int) -> Sample:
        name = f"{key}-{workload}-{run}"
        profile = self.profile
        sample = Sample(system=key, workload=workload, run=run)
        try:
            if workload == "enqueue":
                sample.values = self.run_enqueue(key, "one", profile.enqueue) or {}
            elif workload == "bulk":
                values = self.run_enqueue(key, "bulk", profile.bulk)
                sample.values, sample.note = (values, "") if values else ({}, "no bulk API")
            elif workload == "drain":
                sample.values, sample.note = self.run_drain(
                    key, name, profile.drain, profile.concurrency, 0.0
                )
            elif workload == "io":
                sample.values, sample.note = self.run_drain(
                    key, name, profile.io, profile.io_concurrency, profile.io_sleep
                )
            elif workload == "latency":
                sample.values, sample.note = self.run_latency(key, name)
            elif workload == "memory":
                if BY_KEY[key].group == "peer" and not profile.memory_peers:
                    sample.note = "memory: full profile only"
                else:
                    sample.values, sample.note = self.run_memory(key, name)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            sample.note = f"error: {str(exc).strip().splitlines()[-1][:200]}"
            if self.verbose:
                print(f"    {exc}", file=sys.stderr)
        self.samples.append(sample)
        with self.out.open("a") as fh:
            fh.write(json.dumps(asdict(sample)) + "\n")
        return sample


def _read_record(path: Path) -> list[tuple[float, float, float]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            rows.append((float(parts[0]), float(parts[1]), float(parts[2])))
    return rows


def _percentile(sorted_values: list[float], pct: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(pct) - 1]


_PAGE = os.sysconf("SC_PAGE_SIZE")


_TICKS = os.sysconf("SC_CLK_TCK")


def _group_cpu(pgid: int) -> float:
    """CPU seconds (user + system, all threads, reaped children) of a process group."""
    total = 0
    for fields in _group_stats(pgid):
        # utime stime cutime cstime are fields 14-17 of /proc/PID/stat (11-14 here).
        total += sum(int(v) for v in fields[11:15])
    return total / _TICKS


def _group_stats(pgid: int) -> Iterator[list[bytes]]:
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 15 and int(fields[2]) == pgid:
            yield fields


def _group_rss(pgid: int) -> int:
    """Resident bytes of every process in the process group (forked workers included)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
            # Fields after the ")" that closes the command name: state ppid pgrp ...
            fields = stat[stat.rfind(b")") + 2 :].split()
            if int(fields[2]) != pgid:
                continue
            with open(f"/proc/{entry.name}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


# -- servers ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def private_redis(work_dir: Path) -> Iterator[str]:
    """A redis-server of our own (no persistence, like the shared one; 32 DBs)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server not found: pass --redis-url")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--databases", "32", "--dir", str(work_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def summarise(samples: list[Sample]) -> dict[tuple[str, str], dict[str, Any]]:
    """Median of each value over runs, per (system, workload); notes kept."""
    grouped: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        grouped.setdefault((sample.system, sample.workload), []).append(sample)
    summary: dict[tuple[str, str], dict[str, Any]] = {}
    for cell, group in grouped.items():
        values: dict[str, Any] = {}
        names = {name for sample in group for name in sample.values}
        for name in names:
            data = [s.values[name] for s in group if name in s.values]
            values[name] = statistics.median(data)
        # One note per sample (not deduplicated), so the report can count runs.
        values["note"] = "; ".join(s.note for s in group if s.note)
        values["n"] = sum(1 for s in group if s.values)
        summary[cell] = values
    return summary


def known(key: str) -> bool:
    return key in BY_KEY
