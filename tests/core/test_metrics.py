"""Prometheus metrics (wg_core.metrics): what a pool counts, served over HTTP, summed
over processes in multiprocess mode, and the install hint when the extra is missing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from tests.conformance.test_middleware import holds
from tests.conformance.test_pool import FAST
from tests.helpers import wait_until
from wg_core import (
    Client,
    JobContext,
    JobOptions,
    MemoryBackend,
    MissingDependencyError,
    WorkerConfig,
    WorkerPool,
)
from wg_core.metrics import (
    PrometheusMetrics,
    collecting_registry,
    prepare_multiprocess,
    process_exited,
    serve_metrics,
)


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_a_pool_counts_outcomes_durations_waits_and_slots() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry, queue_interval=0.02, flush_interval=0.02)
    backend = MemoryBackend("metrics")
    client = Client(backend)
    release = asyncio.Event()

    async def ok(job: Any) -> None:
        return None

    async def flaky(job: Any, ctx: JobContext) -> None:
        if ctx.attempt == 1:
            raise ValueError("once")

    async def doomed(job: Any) -> None:
        raise ValueError("never")

    async def slow(job: Any) -> None:
        await release.wait()

    for _ in range(3):
        await client.enqueue({}, job_name="ok", queue="mail")
    await client.enqueue({}, job_name="flaky", options=JobOptions(max_retries=2, retry_delay=0.01))
    await client.enqueue({}, job_name="doomed", options=JobOptions(max_retries=0))
    await client.enqueue({}, job_name="slow")
    await client.enqueue({}, job_name="later", delay=3600)
    pool = WorkerPool(
        handlers={"ok": ok, "flaky": flaky, "doomed": doomed, "slow": slow},
        backend=backend,
        middleware=[metrics],
        queues=["mail", "default"],
        workers=4,
        **FAST,
    )
    await pool.start()
    ns = {"namespace": "metrics"}

    def jobs(queue: str, name: str, outcome: str) -> float:
        return value(registry, "wg_jobs_total", **ns, queue=queue, job_name=name, outcome=outcome)

    def settled() -> bool:
        # Every job but ``slow`` has its outcome counted (flaky's retry ran: how soon
        # it falls due and is promoted depends on the machine's load), and only
        # ``slow`` runs. Waiting for all of it, not for the busy gauge alone, which
        # also reads 1 while flaky waits for its retry.
        return (
            jobs("mail", "ok", "completed") == 3
            and jobs("default", "flaky", "completed") == 1
            and jobs("default", "doomed", "dead") == 1
            and value(registry, "wg_worker_busy", **ns) == 1
        )

    try:
        await wait_until(holds(settled), timeout=30)
        assert value(registry, "wg_worker_slots", **ns) == 4
        await wait_until(
            holds(
                lambda: (
                    value(registry, "wg_queue_jobs", **ns, queue="default", state="scheduled") == 1
                    and value(registry, "wg_queue_jobs", **ns, queue="default", state="running")
                    == 1
                )
            ),
            timeout=30,
        )
        release.set()
        await wait_until(holds(lambda: jobs("default", "slow", "completed") == 1), timeout=30)
    finally:
        pool.shutdown()
        await pool.wait_closed()

    assert jobs("mail", "ok", "completed") == 3
    assert jobs("default", "flaky", "retried") == 1
    assert jobs("default", "flaky", "completed") == 1
    assert jobs("default", "doomed", "dead") == 1
    assert jobs("default", "ok", "completed") == 0
    by_ok = {**ns, "queue": "mail", "job_name": "ok"}
    assert value(registry, "wg_job_duration_seconds_count", **by_ok) == 3
    assert value(registry, "wg_job_wait_seconds_count", **by_ok) == 3
    flaky_labels = {**ns, "queue": "default", "job_name": "flaky"}
    assert value(registry, "wg_job_duration_seconds_count", **flaky_labels) == 2
    assert value(registry, "wg_job_wait_seconds_count", **flaky_labels) == 1  # first runs only
    assert value(registry, "wg_worker_busy", **ns) == 0
    assert value(registry, "wg_worker_slots", **ns) == 0  # the pool stopped


async def test_recorded_runs_land_in_the_buckets_observe_would_put_them_in() -> None:
    """The pool's run books are bucketed in bulk at each flush: the same counts, buckets
    and sums as prometheus-client's own ``observe()`` per value, bounds included."""
    from prometheus_client import Histogram

    from wg_core.metrics import DURATION_BUCKETS, WAIT_BUCKETS
    from wg_core.middleware import Outcome
    from wg_core.run_books import RunBooks

    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry, queue_interval=0)
    books = RunBooks()
    pool = SimpleNamespace(
        config=WorkerConfig(namespace="bulk", workers=2),
        stats=SimpleNamespace(running=0),
        run_books=lambda: books,
    )
    await metrics.started(pool)  # type: ignore[arg-type]
    durations = [0.0, 0.004, 0.005, 0.0051, 0.3, 0.3, 2.5, 299.0, 300.0, 301.0, 1e6]
    waits = [-1.0, 0.0, 0.1, 0.10001, 3600.0, 7200.0]
    reference = CollectorRegistry()
    by_job = ("namespace", "queue", "job_name")
    duration = Histogram("ref_duration", "", by_job, buckets=DURATION_BUCKETS, registry=reference)
    wait = Histogram("ref_wait", "", by_job, buckets=WAIT_BUCKETS, registry=reference)
    labels = ("bulk", "q", "send")
    for i, seconds in enumerate(durations):
        # The first len(waits) runs are first attempts; the rest retries (no wait kept).
        first = i < len(waits)
        outcome = Outcome.COMPLETED if i % 2 else Outcome.RETRIED
        books.record("q", "send", outcome, seconds, 1 if first else 2, waits[i] if first else 9.0)
        duration.labels(*labels).observe(seconds)
        if first:
            wait.labels(*labels).observe(max(0.0, waits[i]))
    for _ in range(2):  # the second flush finds the books empty and adds nothing
        metrics.flush()
    ours = {"namespace": "bulk", "queue": "q", "job_name": "send"}
    compared = (
        ("wg_job_duration_seconds", "ref_duration", DURATION_BUCKETS),
        ("wg_job_wait_seconds", "ref_wait", WAIT_BUCKETS),
    )
    for name, ref, bounds in compared:
        for bound in (*bounds, float("inf")):
            le = {"le": str(float(bound)) if bound != float("inf") else "+Inf"}
            assert value(registry, f"{name}_bucket", **ours, **le) == value(
                reference, f"{ref}_bucket", **ours, **le
            ), (name, bound)
        assert value(registry, f"{name}_sum", **ours) == pytest.approx(
            value(reference, f"{ref}_sum", **ours)
        )
        assert value(registry, f"{name}_count", **ours) == value(reference, f"{ref}_count", **ours)
    assert value(registry, "wg_jobs_total", **ours, outcome="completed") == 5
    assert value(registry, "wg_jobs_total", **ours, outcome="retried") == 6
    await metrics.stopped(pool)  # type: ignore[arg-type]


async def test_two_metrics_on_one_pool_each_count_every_run() -> None:
    """Each PrometheusMetrics of a pool gets its own run books: neither takes the
    other's runs."""
    registries = [CollectorRegistry(), CollectorRegistry()]
    backend = MemoryBackend("twice")
    client = Client(backend)
    await client.enqueue_many([{}] * 5, job_name="send")

    async def send(job: Any) -> None:
        return None

    metrics = [PrometheusMetrics(registry=r, queue_interval=0) for r in registries]
    async with WorkerPool(send, backend=backend, middleware=metrics, **FAST) as pool:
        await wait_until(holds(lambda: pool.stats.processed == 5), timeout=10)
    labels = {"namespace": "twice", "queue": "default", "job_name": "send"}
    for registry in registries:
        assert value(registry, "wg_jobs_total", **labels, outcome="completed") == 5
        assert value(registry, "wg_job_duration_seconds_count", **labels) == 5


async def test_job_name_labels_are_bounded() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry, queue_interval=0, max_job_names=2)
    backend = MemoryBackend("bounded")
    client = Client(backend)
    for name in ("a", "b", "c", "d"):
        await client.enqueue({}, job_name=name)

    async def any_job(job: Any) -> None:
        return None

    async with WorkerPool(any_job, backend=backend, middleware=[metrics], **FAST) as pool:
        await wait_until(holds(lambda: pool.stats.processed == 4), timeout=10)
    names = {
        sample.labels["job_name"]
        for family in registry.collect()
        if family.name == "wg_jobs"
        for sample in family.samples
    }
    assert names == {"a", "b", "other"}


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="queue_interval"):
        PrometheusMetrics(registry=CollectorRegistry(), queue_interval=-1)
    with pytest.raises(ValueError, match="flush_interval"):
        PrometheusMetrics(registry=CollectorRegistry(), flush_interval=0)
    with pytest.raises(ValueError, match="max_job_names"):
        PrometheusMetrics(registry=CollectorRegistry(), max_job_names=0)


def test_metrics_are_served_over_http() -> None:
    registry = CollectorRegistry()
    metrics = PrometheusMetrics(registry=registry)
    metrics._families.slots.labels("served").inc(3)
    port = serve_metrics(0, addr="127.0.0.1", registry=registry)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'wg_worker_slots{namespace="served"} 3.0' in text


def test_a_missing_prometheus_client_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'wg\[metrics\]'"):
        PrometheusMetrics()


CHILD = """
import asyncio, sys
from types import SimpleNamespace
from wg_core import WorkerConfig
from wg_core.metrics import PrometheusMetrics
from wg_core.middleware import Outcome
from wg_core.run_books import RunBooks

async def main():
    metrics = PrometheusMetrics(queue_interval=0)
    books = RunBooks()
    pool = SimpleNamespace(config=WorkerConfig(namespace="mp", workers=4),
                           stats=SimpleNamespace(running=1),  # one job still runs
                           run_books=lambda: books)
    await metrics.started(pool)
    for _ in range(int(sys.argv[1])):
        books.record("default", "send", Outcome.COMPLETED, 0.01, 1, 0.0)
    metrics.flush()  # and the process ends without stopping the pool

asyncio.run(main())
"""


def test_multiprocess_mode_sums_the_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supervisor's side (`wg worker --processes N`): prepare the directory, let
    the processes write, serve the sum; a process that exited stops counting as busy."""
    directory = tmp_path / "prom"
    (directory).mkdir()
    (directory / "counter_999.db").write_bytes(b"")  # an earlier run's leftover
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    prepare_multiprocess(directory)
    assert not (directory / "counter_999.db").exists()
    env = {**os.environ}
    pids = []
    for runs in (2, 3):
        child = subprocess.run(
            [sys.executable, "-c", CHILD + "\nimport os; print(os.getpid())", str(runs)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        )
        pids.append(int(child.stdout.strip()))
    # A process that has just created its file and not sized it yet: the scrape goes on.
    (directory / "counter_12345.db").write_bytes(b"")
    registry = collecting_registry()
    labels = {"namespace": "mp", "queue": "default", "job_name": "send", "outcome": "completed"}
    assert registry.get_sample_value("wg_jobs_total", labels) == 5
    assert registry.get_sample_value("wg_worker_busy", {"namespace": "mp"}) == 2
    assert registry.get_sample_value("wg_worker_slots", {"namespace": "mp"}) == 8
    process_exited(pids[0])
    registry = collecting_registry()
    assert registry.get_sample_value("wg_worker_busy", {"namespace": "mp"}) == 1
    assert registry.get_sample_value("wg_worker_slots", {"namespace": "mp"}) == 4
