"""``Client``: enqueue jobs and administer a namespace, on any backend.

The client does the cross-cutting work once, above every backend: job ids, the
envelope's JSON, timestamps, payload size caps, and the read-modify-write of admin
operations (requeueing a dead job resets its ``retry_count``: ``wg_core.requeueing``).

It also refuses, before any I/O, what no reader could handle (``ConfigError``): job
names, job ids, queue names and priorities outside their rules (``wg_core.new_jobs``,
``wg_core.queues``) and delays (``delay``, ``at``) longer than ``MAX_DURATION`` (100
years, see ``wg_core.options``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

from wg_core.administration import Administration
from wg_core.backend import (
    Backend,
    Counters,
    JobQuery,
    JobState,
    NewJob,
    QueueInfo,
    StateCounts,
)
from wg_core.dispatch import checked
from wg_core.envelope import new_job_id
from wg_core.errors import ConfigError, JobFailedError, JobNotFoundError
from wg_core.jobs import JobInfo, decode_result
from wg_core.middleware import JobMiddleware, MiddlewareChain
from wg_core.new_jobs import (
    MAX_JOB_NAME_LENGTH,
    JobBuilder,
    JobSpec,
    is_job_id,
    validate_job_id,
    validate_job_name,
)
from wg_core.options import (
    DEFAULT_KEEP_FINISHED,
    DEFAULT_MAX_PAYLOAD_BYTES,
    Duration,
    JobOptions,
    to_seconds,
)
from wg_core.queues import DEFAULT_QUEUE
from wg_core.streaming import DEFAULT_STREAM_CHUNK, enqueue_stream, validate_chunk_size
from wg_core.unique import UNIQUE_BY_PAYLOAD, EnqueueResult, UniqueKey
from wg_core.urls import backend_from_url

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "MAX_JOB_NAME_LENGTH",
    "Client",
    "JobSpec",
    "is_job_id",
    "validate_job_id",
    "validate_job_name",
]

_WAIT_SLICE: Final = 60.0
"""Seconds one ``wait_finished`` call may wait: ``result(timeout=None)`` waits in
slices, so no backend is ever asked to wait for ever."""


class Client(Administration):
    """Enqueue and inspect jobs. ``await Client.connect(url, namespace)`` or
    ``Client(backend)``; use as ``async with`` to close the backend at the end.

    ``keep_finished``: how long a job this client cancels is kept, as ``cancelled``,
    when the job sets no ``JobOptions.keep_finished`` of its own (completed jobs are
    kept as their worker's ``WorkerConfig.keep_finished`` says).

    ``middleware``: ``JobMiddleware`` objects whose ``before_enqueue`` /
    ``after_enqueue`` hooks run around every enqueue (``wg_core.middleware``)."""

    def __init__(
        self,
        backend: Backend,
        *,
        default_options: JobOptions | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        clock: Callable[[], float] = time.time,
        create: bool = True,
        keep_finished: Duration = DEFAULT_KEEP_FINISHED,
        middleware: Sequence[JobMiddleware] | None = None,
    ) -> None:
        self.backend: Final[Backend] = backend
        """The backend this client talks to (as given, without the checked layer)."""
        # Every call goes through the checked-dispatch layer (arguments validated once).
        self._backend = checked(backend)
        self._create = create
        self._clock = clock
        self._keep_finished = to_seconds(keep_finished, name="keep_finished")
        self._jobs = JobBuilder(
            default_options=default_options or JobOptions(),
            max_payload_bytes=max_payload_bytes,
            clock=clock,
        )
        self._max_payload_bytes = max_payload_bytes
        self._middleware = MiddlewareChain.of(middleware)
        self._opened = False
        self._open_lock: asyncio.Lock | None = None

    @classmethod
    async def connect(
        cls,
        url: str,
        namespace: str = "wg",
        *,
        create: bool = True,
        middleware: Sequence[JobMiddleware] | None = None,
        **backend_options: Any,
    ) -> Client:
        """Open the backend named by ``url`` (see ``wg_core.urls``) and return a client.

        ``create=False`` opens as a reader: nothing is created, and a namespace (or
        SQLite file) that does not exist raises ``NamespaceNotFoundError``."""
        backend = backend_from_url(url, namespace, **backend_options)
        client = cls(backend, create=create, middleware=middleware)
        await client.open()
        return client

    @property
    def namespace(self) -> str:
        """The namespace jobs are stored under."""
        return self._backend.namespace

    async def open(self) -> None:
        """Open the backend (done on first use anyway)."""
        if self._opened:
            return
        await self._backend.open(create=self._create)
        self._opened = True

    async def close(self) -> None:
        """Close the backend."""
        await self._backend.close()
        self._opened = False

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _ready(self) -> Backend:
        if not self._opened:
            await self.open()
        return self._backend

    # -- producing -----------------------------------------------------------------------

    async def enqueue(
        self,
        job: Any,
        *,
        job_name: str | None = None,
        options: JobOptions | None = None,
        delay: Duration | None = None,
        at: datetime | None = None,
        job_id: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        connection: object | None = None,
        unique_key: UniqueKey | None = None,
        unique_for: Duration | None = None,
        limit_key: str | None = None,
    ) -> str:
        """Store ``job`` for processing now (or after ``delay`` / at ``at``); returns its id.

        ``job`` is a dataclass, a pydantic-style model or plain JSON values. The job name
        defaults to the class's ``job_name`` attribute or its snake_case name.
        ``queue``: the named queue it waits in (pools serving that queue run it);
        ``priority``: from ``MIN_PRIORITY`` to ``MAX_PRIORITY`` (-1000 to 1000), higher
        runs first within its queue, FIFO within one priority (see ``wg_core.queues``).
        ``limit_key``: the key a per-key limit of the queue counts it under
        (``set_limit(..., per_key=True)``; accepted on any queue).
        ``connection``: the caller's own database connection, so the job is stored
        inside the caller's transaction (backends that support it).
        ``unique_key`` (or ``UNIQUE_BY_PAYLOAD``), ``unique_for``: store nothing and
        return the id of the job holding the key, if one does (``wg_core.unique``).
        """
        if delay is not None and at is not None:
            raise ConfigError("give delay or at, not both")
        if at is not None:
            delay = self._delay_until(at)
        new = self._jobs.one(
            job,
            job_name=job_name,
            options=options,
            delay=delay,
            job_id=job_id,
            queue=queue,
            priority=priority,
            unique_key=unique_key,
            unique_for=unique_for,
            limit_key=limit_key,
        )
        [stored_id] = await self._store([new], connection)
        return stored_id

    async def enqueue_unique(
        self,
        job: Any,
        *,
        unique_key: UniqueKey | None = UNIQUE_BY_PAYLOAD,
        unique_for: Duration | None = None,
        job_name: str | None = None,
        options: JobOptions | None = None,
        delay: Duration | None = None,
        at: datetime | None = None,
        job_id: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        connection: object | None = None,
        limit_key: str | None = None,
    ) -> EnqueueResult:
        """``enqueue``, telling whether the job was stored: ``created`` is False when
        a job already held its unique key (``job_id`` is then that job's, and nothing
        was stored). The key defaults to ``UNIQUE_BY_PAYLOAD`` (job name + payload)."""
        # Chosen here: a duplicate returns the holder's id instead of this one.
        new_id = new_job_id() if job_id is None else validate_job_id(job_id)
        stored_id = await self.enqueue(
            job,
            job_name=job_name,
            options=options,
            delay=delay,
            at=at,
            job_id=new_id,
            queue=queue,
            priority=priority,
            connection=connection,
            unique_key=unique_key,
            unique_for=unique_for,
            limit_key=limit_key,
        )
        return EnqueueResult(stored_id, stored_id == new_id)

    async def schedule(
        self,
        job: Any,
        when: Duration | datetime,
        *,
        job_name: str | None = None,
        options: JobOptions | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        connection: object | None = None,
        unique_key: UniqueKey | None = None,
        unique_for: Duration | None = None,
        limit_key: str | None = None,
    ) -> str:
        """Store ``job`` to run after ``when`` (a delay) or at ``when`` (a datetime), in
        ``queue`` at ``priority`` (kept when it becomes due); unique keys as ``enqueue``."""
        at, delay = (when, None) if isinstance(when, datetime) else (None, when)
        return await self.enqueue(
            job,
            job_name=job_name,
            options=options,
            delay=delay,
            at=at,
            queue=queue,
            priority=priority,
            connection=connection,
            unique_key=unique_key,
            unique_for=unique_for,
            limit_key=limit_key,
        )

    async def enqueue_with_options(
        self,
        job: Any,
        options: JobOptions,
        *,
        job_name: str | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        unique_key: UniqueKey | None = None,
        unique_for: Duration | None = None,
        limit_key: str | None = None,
    ) -> str:
        """``enqueue`` with explicit ``JobOptions`` (the spec's ``enqueue_with_options``)."""
        return await self.enqueue(
            job,
            job_name=job_name,
            options=options,
            queue=queue,
            priority=priority,
            unique_key=unique_key,
            unique_for=unique_for,
            limit_key=limit_key,
        )

    async def enqueue_many(
        self,
        jobs: Iterable[Any],
        *,
        job_name: str | None = None,
        options: JobOptions | None = None,
        delay: Duration | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
        connection: object | None = None,
        unique_key: UniqueKey | None = None,
        unique_for: Duration | None = None,
        limit_key: str | None = None,
    ) -> list[str]:
        """Store many jobs in one atomic round trip; returns their ids in order.

        Items may be ``JobSpec``s to vary name, options, delay, queue, priority or
        unique key per job; the keywords are the batch's defaults. One invalid job
        stores none. A job whose unique key is held (the batch's first job of a key
        wins) is not stored: the holder's id stands in its place."""
        batch = self._jobs.many(
            jobs,
            job_name=job_name,
            options=options,
            delay=delay,
            queue=queue,
            priority=priority,
            unique_key=unique_key,
            unique_for=unique_for,
            limit_key=limit_key,
        )
        if not batch:
            return []
        return await self._store(batch, connection)

    async def enqueue_stream(
        self,
        jobs: Iterable[Any] | AsyncIterable[Any],
        *,
        chunk_size: int = DEFAULT_STREAM_CHUNK,
        job_name: str | None = None,
        options: JobOptions | None = None,
        delay: Duration | None = None,
        queue: str = DEFAULT_QUEUE,
        priority: int = 0,
    ) -> int:
        """Store any number of jobs (an iterable or async iterable, e.g. a generator) in
        atomic chunks of ``chunk_size``, holding one chunk at a time; returns how many
        were stored. Keywords as for ``enqueue_many``. An error stops the stream with
        the earlier chunks stored (its note says how many); see ``wg_core.streaming``."""
        validate_chunk_size(chunk_size)

        async def store(chunk: Sequence[Any]) -> None:
            await self.enqueue_many(
                chunk,
                job_name=job_name,
                options=options,
                delay=delay,
                queue=queue,
                priority=priority,
            )

        return await enqueue_stream(store, jobs, chunk_size)

    async def _store(self, batch: list[NewJob], connection: object | None) -> list[str]:
        """Store new jobs, through the enqueue hooks of the middleware if any; one id
        per job, as ``Backend.enqueue`` returns them (a unique key's holder's id for a
        duplicate)."""
        chain = self._middleware
        if chain is None:
            return await (await self._ready()).enqueue(batch, connection=connection)
        batch, outgoing = await chain.enqueuing(batch, max_bytes=self._max_payload_bytes)
        try:
            ids = await (await self._ready()).enqueue(batch, connection=connection)
        except BaseException as exc:
            await chain.enqueued(outgoing, exc)
            raise
        await chain.enqueued(outgoing, None)
        return ids

    def _delay_until(self, at: datetime) -> float:
        if at.tzinfo is None:
            raise ConfigError("at must be timezone-aware (e.g. datetime.now(UTC) + ...)")
        return max(0.0, at.timestamp() - self._clock())

    # -- inspecting ----------------------------------------------------------------------

    async def layout_version(self) -> int:
        """The storage layout version recorded for this namespace (``LAYOUT_VERSION``
        once a writer has opened it; see ``wg_core.backend``)."""
        return await (await self._ready()).layout_version()

    async def counts(self, *, queue: str | None = None) -> StateCounts:
        """Jobs per state (queued, scheduled, retry, running, dead), of the whole
        namespace or of one ``queue``."""
        return await (await self._ready()).counts(queue=queue)

    async def recount(self) -> bool:
        """Count the stored jobs again and replace the state counts kept beside them
        (PostgreSQL and MySQL/MariaDB keep them with triggers; a writer that bypasses
        those, such as MySQL's ``TRUNCATE``, leaves them wrong). ``False`` where the
        backend counts the jobs on every ``counts`` (nothing to repair)."""
        return await (await self._ready()).recount()

    async def counters(self, *, queue: str | None = None) -> Counters:
        """Processed and failed totals (sample twice for throughput), of the whole
        namespace or of one ``queue``."""
        return await (await self._ready()).counters(queue=queue)

    async def queues(self) -> list[QueueInfo]:
        """Every queue of the namespace (any that holds a job, is paused or has counted
        one; ``default`` always), by name, with its counts, counters and pause flag."""
        return await (await self._ready()).queues()

    async def list_jobs(
        self,
        state: JobState | str,
        *,
        limit: int = 50,
        offset: int = 0,
        newest_first: bool = False,
        queue: str | None = None,
        job_name: str | None = None,
        error_contains: str | None = None,
        text_contains: str | None = None,
    ) -> list[JobInfo]:
        """A page of the jobs in ``state``, decoded. ``queue`` and ``job_name`` match
        exactly; ``error_contains`` matches the last error; ``text_contains`` the whole
        stored envelope (id, job name, payload, last error): both case-insensitively
        (ASCII), as substrings."""
        if limit < 0 or offset < 0:
            raise ConfigError("limit and offset must be non-negative")
        backend = await self._ready()
        query = JobQuery(
            state=JobState(state),
            limit=limit,
            offset=offset,
            newest_first=newest_first,
            queue=queue,
            job_name=job_name,
            error_contains=error_contains,
            text_contains=text_contains,
        )
        stored = await backend.list_jobs(query)
        return [JobInfo.from_stored(job) for job in stored]

    async def get_job(self, job_id: str) -> JobInfo | None:
        """The job with that id in any state, or ``None``."""
        stored = await (await self._ready()).get_job(job_id)
        return None if stored is None else JobInfo.from_stored(stored)

    async def result(self, job_id: str, *, timeout: Duration | None = None) -> Any:
        """Wait for the job to finish and return its result: the handler's return value,
        decoded from JSON (``None`` if it returned nothing).

        Raises ``JobFailedError`` if the job ended dead or cancelled (its ``state`` and
        ``last_error`` say which and why), ``TimeoutError`` if it has not finished
        within ``timeout`` (``None``: wait for ever), ``JobNotFoundError`` if no job has
        that id (never stored, deleted, pruned after its retention, or completed with
        ``keep_finished=0``, which keeps nothing). Waiting uses
        the backend's notifications where it has them, short polling elsewhere.
        """
        limit = None if timeout is None else to_seconds(timeout, name="timeout")
        backend = await self._ready()
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            left = _WAIT_SLICE if deadline is None else deadline - time.monotonic()
            stored = await backend.wait_finished(job_id, timeout=max(min(left, _WAIT_SLICE), 0.0))
            if stored is None:
                raise JobNotFoundError(f"no job with id {job_id!r}")
            if stored.state is JobState.COMPLETED:
                return decode_result(stored.result)
            if stored.state in (JobState.DEAD, JobState.CANCELLED):
                raise JobFailedError(job_id, stored.state, JobInfo.from_stored(stored).last_error)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(
                    f"job {job_id} has not finished within {limit:g}s (it is {stored.state})"
                )
