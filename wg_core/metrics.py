"""Prometheus metrics for worker pools: ``pip install 'wg[metrics]'`` (prometheus-client).

``PrometheusMetrics()`` is a middleware: give it to a pool and it keeps

=============================  =========  ==========================================
``wg_jobs_total``              counter    ``namespace, queue, job_name, outcome``
``wg_job_duration_seconds``    histogram  ``namespace, queue, job_name``
``wg_job_wait_seconds``        histogram  ``namespace, queue, job_name``
``wg_queue_jobs``              gauge      ``namespace, queue, state``
``wg_worker_busy``             gauge      ``namespace``
``wg_worker_slots``            gauge      ``namespace``
=============================  =========  ==========================================

(docs/metrics.md says what each counts). Label values are bounded: ``outcome`` is one
of the five ``Outcome`` values, ``state`` one of ``QUEUE_STATES``, and a pool labels at
most ``max_job_names`` distinct job names (later ones are counted as ``other``); job
ids are never labels. Queue gauges come from one ``Backend.queues()`` call every
``queue_interval`` seconds (5 by default) per pool; the rest is written every
``flush_interval`` seconds (1 by default) from the pools' run books
(``WorkerPool.run_books()``: the pool records each run itself; no hook per job).

Serving them: ``wg worker ... --metrics-port 9100``, or ``serve_metrics(port)`` in your
own process, or mount ``prometheus_client.make_asgi_app(registry=collecting_registry())``
(or ``make_wsgi_app``) in your web app. Several processes (``wg worker --processes N``):
the supervisor calls ``prepare_multiprocess(directory)`` before it starts them, serves
``collecting_registry()`` (prometheus-client's multiprocess mode sums their files), and
calls ``process_exited(pid)`` for each one that ends.

Nothing here is imported by ``wg_core`` itself: a pool without metrics does no per-job
work for them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from bisect import bisect_right
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from wg_core.errors import BackendError, MissingDependencyError
from wg_core.middleware import Middleware, Outcome, PoolView
from wg_core.run_books import RunBooks

if TYPE_CHECKING:  # pragma: no cover
    from prometheus_client import CollectorRegistry

__all__ = [
    "DURATION_BUCKETS",
    "QUEUE_STATES",
    "WAIT_BUCKETS",
    "PrometheusMetrics",
    "collecting_registry",
    "prepare_multiprocess",
    "process_exited",
    "serve_metrics",
]

logger = logging.getLogger("wg.metrics")

INSTALL: Final = "pip install 'wg[metrics]'"
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
QUEUE_STATES: Final = ("queued", "scheduled", "retry", "running", "dead", "completed", "cancelled")
"""The ``state`` label values of ``wg_queue_jobs`` (``StateCounts``' fields)."""
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
WAIT_BUCKETS: Final = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)
"""Waits are measured from the envelope's times, which are whole seconds."""
OTHER: Final = "other"


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise MissingDependencyError(
            f"wg's Prometheus metrics need the 'prometheus_client' package: {INSTALL}"
        ) from None
    return prometheus_client


class _Families:
    """The metric families of one registry (made once per registry: prometheus-client
    refuses a second family of one name)."""

    _by_registry: dict[int, _Families] = {}

    def __init__(self, registry: CollectorRegistry) -> None:
        prom = _prometheus()
        by_job = ("namespace", "queue", "job_name")
        self.jobs = prom.Counter(
            "wg_jobs",
            "Job runs ended, by outcome (completed, failed, retried, dead, cancelled).",
            (*by_job, "outcome"),
            registry=registry,
        )
        self.duration = prom.Histogram(
            "wg_job_duration_seconds",
            "How long a run took, from its start to its outcome.",
            by_job,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.wait = prom.Histogram(
            "wg_job_wait_seconds",
            "How long a job waited to start, from its enqueue (or due) time.",
            by_job,
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.queue_jobs = prom.Gauge(
            "wg_queue_jobs",
            "Jobs per queue and state, as the backend counted them last.",
            ("namespace", "queue", "state"),
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.busy = prom.Gauge(
            "wg_worker_busy",
            "Job slots running a job now.",
            ("namespace",),
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.slots = prom.Gauge(
            "wg_worker_slots",
            "Job slots of the running worker pools (their workers setting).",
            ("namespace",),
            registry=registry,
            multiprocess_mode="livesum",
        )

    @classmethod
    def of(cls, registry: CollectorRegistry) -> _Families:
        families = cls._by_registry.get(id(registry))
        if families is None:
            families = cls._by_registry[id(registry)] = cls(registry)
        return families


def _observe_many(child: Any, bounds: tuple[float, ...], values: list[float]) -> None:
    """Add ``values`` to the histogram child ``child`` (buckets ``bounds``, +Inf
    implied) as ``observe()`` per value would: each in the first bucket whose bound is
    >= it. Sorted once, each bucket's count is two bisections."""
    # prometheus-client has no public way to add many observations at once, and
    # observe() per value (a lock and a bucket search each) was most of the cost of
    # metrics per job. These are the two things observe() itself updates (the same in
    # multiprocess mode); tests/core/test_metrics.py checks the result.
    ordered = sorted(values)
    below = 0
    buckets = child._buckets
    for i, bound in enumerate(bounds):
        upto = bisect_right(ordered, bound, below)
        if upto > below:
            buckets[i].inc(upto - below)
            below = upto
    if below < len(ordered):
        buckets[len(bounds)].inc(len(ordered) - below)
    child._sum.inc(math.fsum(ordered))


class _JobSeries:
    """One (namespace, queue, job name): its metric children, looked up once."""

    __slots__ = ("duration", "outcomes", "wait")

    def __init__(self, families: _Families, labels: tuple[str, str, str]) -> None:
        self.duration = families.duration.labels(*labels)
        self.wait = families.wait.labels(*labels)
        self.outcomes = {
            outcome: families.jobs.labels(*labels, outcome.value) for outcome in Outcome
        }


class PrometheusMetrics(Middleware):
    """Keeps the metrics above for the pools it is given to (``WorkerPool(...,
    middleware=[PrometheusMetrics()])``); one instance may serve several pools.

    ``registry``: where the metrics live (prometheus-client's default ``REGISTRY``
    unless given). Each pool records its runs in run books (``pool.run_books()``), read
    and written to the metrics every ``flush_interval`` seconds (1 by default) and when
    a pool stops, so a run costs about a microsecond; a scrape may lag that much.
    ``queue_interval``: seconds between two refreshes of the queue gauges (each is one
    ``Backend.queues()`` call, the first when the pool starts; 0 turns them off).
    ``max_job_names``: distinct job names labelled before the rest count as ``other``,
    so a producer inventing names cannot grow the series without bound."""

    def __init__(
        self,
        *,
        registry: CollectorRegistry | None = None,
        queue_interval: float = 5.0,
        flush_interval: float = 1.0,
        max_job_names: int = 200,
    ) -> None:
        prom = _prometheus()
        if queue_interval < 0:
            raise ValueError(f"queue_interval must be >= 0, not {queue_interval!r}")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be > 0, not {flush_interval!r}")
        if max_job_names < 1:
            raise ValueError(f"max_job_names must be >= 1, not {max_job_names!r}")
        self.registry: CollectorRegistry = registry if registry is not None else prom.REGISTRY
        self._families = _Families.of(self.registry)
        self._queue_interval = queue_interval
        self._flush_interval = flush_interval
        self._max_job_names = max_job_names
        self._job_names: set[str] = set()
        self._series: dict[tuple[str, str, str], _JobSeries] = {}
        self._tasks: dict[int, list[asyncio.Task[None]]] = {}
        self._pools: dict[int, PoolView] = {}
        self._books: dict[int, tuple[str, RunBooks]] = {}

    # -- the pool's lifecycle ------------------------------------------------------------

    async def started(self, pool: PoolView) -> None:
        """Count the pool's slots; have it keep run books (``pool.run_books()``: how
        its runs end, their durations and waits, read at each flush); start flushing,
        and refreshing its queue gauges."""
        self._families.slots.labels(pool.config.namespace).inc(pool.config.workers)
        self._pools[id(pool)] = pool
        self._books[id(pool)] = (pool.config.namespace, pool.run_books())
        tasks = [asyncio.create_task(self._flushing(), name="wg-metrics-flush")]
        if self._queue_interval > 0:
            # The first count now, before the pool claims anything: the gauges are there
            # for the first scrape, and a count (a scan of the backend's jobs on some
            # engines) does not compete with the pool's first claims.
            await self._count_queues(pool)
            tasks.append(asyncio.create_task(self._refresh_queues(pool), name="wg-metrics-queues"))
        self._tasks[id(pool)] = tasks

    async def stopped(self, pool: PoolView) -> None:
        """Stop the pool's tasks; flush; uncount its slots."""
        tasks = self._tasks.pop(id(pool), [])
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.flush()
        self._books.pop(id(pool), None)
        if self._pools.pop(id(pool), None) is not None:
            self._families.slots.labels(pool.config.namespace).dec(pool.config.workers)
            # Nothing runs here any more (another pool of the namespace re-sets it).
            self._families.busy.labels(pool.config.namespace).set(0)
        self._flush_busy()

    def flush(self) -> None:
        """Write the runs the pools recorded since the last flush to the metrics (done
        every ``flush_interval`` seconds while a pool runs, and when it stops)."""
        for namespace, books in list(self._books.values()):
            durations, waits = books.take()
            for (queue, job_name, outcome), values in durations.items():
                series = self._series_of(namespace, queue, job_name)
                series.outcomes[outcome].inc(len(values))
                _observe_many(series.duration, DURATION_BUCKETS, values)
            for (queue, job_name), values in waits.items():
                _observe_many(self._series_of(namespace, queue, job_name).wait, WAIT_BUCKETS,
                              values)  # fmt: skip
        self._flush_busy()

    def _flush_busy(self) -> None:
        # Read from the pools (their running jobs) once per flush, not counted per job.
        busy: dict[str, int] = {}
        for pool in self._pools.values():
            namespace = pool.config.namespace
            busy[namespace] = busy.get(namespace, 0) + pool.stats.running
        for namespace, running in busy.items():
            self._families.busy.labels(namespace).set(running)

    async def _flushing(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            self.flush()

    async def _refresh_queues(self, pool: PoolView) -> None:
        while True:
            await asyncio.sleep(self._queue_interval)
            await self._count_queues(pool)

    async def _count_queues(self, pool: PoolView) -> None:
        """Set the queue gauges from one ``Backend.queues()`` call."""
        try:
            queues = await pool.backend.queues()
        except BackendError as exc:  # the pool says so itself; keep the last values
            logger.debug("queue gauges not refreshed: %s", exc)
            return
        gauge = self._families.queue_jobs
        namespace = pool.config.namespace
        for info in queues:
            counts = info.counts
            for state in QUEUE_STATES:
                gauge.labels(namespace, info.name, state).set(getattr(counts, state))

    # -- runs ----------------------------------------------------------------------------

    def _series_of(self, namespace: str, queue: str, job_name: str) -> _JobSeries:
        """The series of a job name (``other`` past ``max_job_names`` names)."""
        if job_name not in self._job_names:
            if len(self._job_names) >= self._max_job_names:
                job_name = OTHER
            else:
                self._job_names.add(job_name)
        key = (namespace, queue, job_name)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _JobSeries(self._families, key)
        return series


def collecting_registry() -> CollectorRegistry:
    """The registry to serve: in multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) a
    fresh one summing every process's files, else prometheus-client's ``REGISTRY``."""
    prom = _prometheus()
    if not os.environ.get(MULTIPROC_ENV):
        registry: CollectorRegistry = prom.REGISTRY
        return registry
    from prometheus_client import multiprocess

    class StartedFiles(multiprocess.MultiProcessCollector):
        """Sums the files of processes that have started writing. A process creates its
        file empty and sizes it a moment later: prometheus-client reading it in between
        raises ``struct.error`` and the whole scrape fails (seen in CI with
        ``--processes 2``). An empty file holds no sample, so skipping it loses none."""

        def collect(self) -> Any:
            files = []
            for path in Path(self._path).glob("*.db"):
                try:
                    if path.stat().st_size:
                        files.append(str(path))
                except OSError:  # gone since the listing: a process that ended
                    continue
            return self.merge(files, accumulate=True)  # type: ignore[no-untyped-call]

    registry = prom.CollectorRegistry()
    StartedFiles(registry)  # type: ignore[no-untyped-call]
    return registry


def serve_metrics(
    port: int, *, addr: str = "0.0.0.0", registry: CollectorRegistry | None = None
) -> int:
    """Serve ``/metrics`` over HTTP on ``addr:port`` from a daemon thread (registry:
    ``collecting_registry()`` unless given); returns the port (useful with port 0)."""
    prom = _prometheus()
    result = prom.start_http_server(
        port, addr=addr, registry=registry if registry is not None else collecting_registry()
    )
    server = result[0] if isinstance(result, tuple) else None
    return int(server.server_port) if server is not None else port


def prepare_multiprocess(directory: str | os.PathLike[str]) -> Path:
    """For a supervisor of several worker processes: empty ``directory`` (made if
    missing) of an earlier run's files and set ``PROMETHEUS_MULTIPROC_DIR`` to it, so
    the processes started afterwards write their metrics there. Call it before any
    worker process starts (prometheus-client reads the variable when first imported)."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def process_exited(pid: int) -> None:
    """For a supervisor: worker process ``pid`` ended; its live gauges
    (``wg_worker_busy``, ``wg_worker_slots``) stop counting."""
    if os.environ.get(MULTIPROC_ENV):
        _prometheus()
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
