"""``Client``: enqueue jobs and administer a namespace, on any backend.

The client does the cross-cutting work once, above every backend: job ids, the
envelope's JSON, timestamps, payload size caps, and the read-modify-write of admin
operations (requeueing a dead job resets its ``retry_count``).

It also refuses, before any I/O, what no reader could handle (``ConfigError``):

- **job names**: 1 to 128 characters, an ASCII letter or ``_`` first, then letters,
  digits, ``_``, ``.``, ``:`` or ``-`` (``send_email``, ``images.resize``,
  ``billing:charge-card``). No spaces: names are routing keys, typed on command lines,
  matched exactly; 128 fits every backend's ``job_name`` column.
- **job ids** given by the caller: a UUID in its canonical text form
  (``6f1c2d0e-8a4b-4c1e-9f3a-2b7d5e6a9c01``, any case, stored in lowercase). The
  envelope's ``id`` is a UUID string for the Rust reader too; an id wg chooses is a
  UUIDv7.
- **delays** (``delay``, ``at``): as every duration, at most ``MAX_DURATION`` (100
  years, see ``wg_core.options``).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Final, Self

from wg_core.backend import (
    Backend,
    Counters,
    JobQuery,
    JobState,
    Move,
    NewJob,
    StateCounts,
    WorkerInfo,
)
from wg_core.dispatch import checked
from wg_core.envelope import NewJobText, new_job_id, new_job_ids, new_job_text
from wg_core.errors import ConfigError, PayloadError
from wg_core.jobs import JobInfo
from wg_core.options import DEFAULT_MAX_PAYLOAD_BYTES, Duration, JobOptions, to_seconds
from wg_core.payloads import encode_payload, job_name_for
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

MAX_JOB_NAME_LENGTH: Final = 128
_JOB_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
_JOB_ID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_ADMIN_PAGE: Final = 500
_REQUEUEABLE: Final = (JobState.DEAD, JobState.RETRY, JobState.SCHEDULED)


def validate_job_name(name: object) -> str:
    """``name`` if it is a valid job name (see the module docstring), else ``ConfigError``."""
    if not isinstance(name, str):
        raise ConfigError(f"a job name must be a string, got {type(name).__name__}")
    if len(name) > MAX_JOB_NAME_LENGTH or not _JOB_NAME.fullmatch(name):
        raise ConfigError(
            f"invalid job name {name!r}: use 1 to {MAX_JOB_NAME_LENGTH} characters, an ASCII "
            "letter or '_' first, then letters, digits, '_', '.', ':' or '-' (no spaces)"
        )
    return name


def is_job_id(text: object) -> bool:
    """Whether ``text`` is a job id: a UUID in canonical form (any case)."""
    return isinstance(text, str) and _JOB_ID.fullmatch(text) is not None


def validate_job_id(job_id: object) -> str:
    """``job_id`` in lowercase if it is a job id (a canonical UUID), else ``ConfigError``."""
    if not is_job_id(job_id):
        raise ConfigError(
            f"invalid job id {job_id!r}: job ids are UUIDs "
            "(like 6f1c2d0e-8a4b-4c1e-9f3a-2b7d5e6a9c01)"
        )
    assert isinstance(job_id, str)
    return job_id.lower()


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """One job for ``enqueue_many`` when jobs in a batch differ in name, options or time."""

    payload: Any
    job_name: str | None = None
    options: JobOptions | None = None
    delay: Duration | None = None
    job_id: str | None = None


class Client:
    """Enqueue and inspect jobs. ``await Client.connect(url, namespace)`` or
    ``Client(backend)``; use as ``async with`` to close the backend at the end."""

    def __init__(
        self,
        backend: Backend,
        *,
        default_options: JobOptions | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        clock: Callable[[], float] = time.time,
        create: bool = True,
    ) -> None:
        self.backend: Final[Backend] = backend
        """The backend this client talks to (as given, without the checked layer)."""
        # Every call goes through the checked-dispatch layer (arguments validated once).
        self._backend = checked(backend)
        self._create = create
        self._default_options = default_options or JobOptions()
        self._max_payload_bytes = max_payload_bytes
        self._clock = clock
        self._opened = False
        self._open_lock: asyncio.Lock | None = None

    @classmethod
    async def connect(
        cls, url: str, namespace: str = "wg", *, create: bool = True, **backend_options: Any
    ) -> Client:
        """Open the backend named by ``url`` (see ``wg_core.urls``) and return a client.

        ``create=False`` opens as a reader: nothing is created, and a namespace (or
        SQLite file) that does not exist raises ``NamespaceNotFoundError``."""
        client = cls(backend_from_url(url, namespace, **backend_options), create=create)
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
        connection: object | None = None,
    ) -> str:
        """Store ``job`` for processing now (or after ``delay`` / at ``at``); returns its id.

        ``job`` is a dataclass, a pydantic-style model or plain JSON values. The job name
        defaults to the class's ``job_name`` attribute or its snake_case name.
        ``connection``: the caller's own database connection, so the job is stored
        inside the caller's transaction (backends that support it).
        """
        if delay is not None and at is not None:
            raise ConfigError("give delay or at, not both")
        if at is not None:
            delay = self._delay_until(at)
        new = self._new_job(job, job_name=job_name, options=options, delay=delay, job_id=job_id)
        backend = await self._ready()
        await backend.enqueue([new], connection=connection)
        return new.job_id

    async def schedule(
        self,
        job: Any,
        when: Duration | datetime,
        *,
        job_name: str | None = None,
        options: JobOptions | None = None,
        connection: object | None = None,
    ) -> str:
        """Store ``job`` to run after ``when`` (a delay) or at ``when`` (a datetime)."""
        if isinstance(when, datetime):
            return await self.enqueue(
                job, job_name=job_name, options=options, at=when, connection=connection
            )
        return await self.enqueue(
            job, job_name=job_name, options=options, delay=when, connection=connection
        )

    async def enqueue_with_options(
        self, job: Any, options: JobOptions, *, job_name: str | None = None
    ) -> str:
        """``enqueue`` with explicit ``JobOptions`` (the spec's ``enqueue_with_options``)."""
        return await self.enqueue(job, job_name=job_name, options=options)

    async def enqueue_many(
        self,
        jobs: Iterable[Any],
        *,
        job_name: str | None = None,
        options: JobOptions | None = None,
        delay: Duration | None = None,
        connection: object | None = None,
    ) -> list[str]:
        """Store many jobs in one atomic round trip; returns their ids in order.

        Items may be ``JobSpec``s to vary name, options or delay per job.
        """
        batch = self._new_jobs(jobs, job_name=job_name, options=options, delay=delay)
        if batch:
            backend = await self._ready()
            await backend.enqueue(batch, connection=connection)
        return [new.job_id for new in batch]

    def _delay_until(self, at: datetime) -> float:
        if at.tzinfo is None:
            raise ConfigError("at must be timezone-aware (e.g. datetime.now(UTC) + ...)")
        return max(0.0, at.timestamp() - self._clock())

    def _new_job(
        self,
        job: Any,
        *,
        job_name: str | None,
        options: JobOptions | None,
        delay: Duration | None,
        job_id: str | None = None,
    ) -> NewJob:
        name = validate_job_name(job_name_for(job) if job_name is None else job_name)
        delay_s = 0.0 if delay is None else to_seconds(delay, name="delay")
        text = self._text_for(name, options, delay_s)
        new_id = new_job_id() if job_id is None else validate_job_id(job_id)
        return NewJob(
            job_id=new_id, job_name=name, raw=self._encode(text, new_id, job, name), delay=delay_s
        )

    def _new_jobs(
        self,
        jobs: Iterable[Any],
        *,
        job_name: str | None,
        options: JobOptions | None,
        delay: Duration | None,
    ) -> list[NewJob]:
        """``_new_job`` for each item, sharing what a batch has in common (the clock
        reading, the text templates, one read of the random source for the ids): a bulk
        enqueue is bounded by this loop."""
        items = list(jobs)
        ids = new_job_ids(len(items))
        delay_s = 0.0 if delay is None else to_seconds(delay, name="delay")
        texts: dict[str, NewJobText] = {}
        batch: list[NewJob] = []
        for job, new_id in zip(items, ids, strict=True):
            if isinstance(job, JobSpec):
                batch.append(
                    self._new_job(
                        job.payload,
                        job_name=job_name if job.job_name is None else job.job_name,
                        options=job.options or options,
                        delay=job.delay if job.delay is not None else delay,
                        job_id=job.job_id,
                    )
                )
                continue
            name = job_name_for(job) if job_name is None else job_name
            text = texts.get(name)
            if text is None:
                # Once per distinct name: the bulk path stays one dict lookup per job.
                text = texts[validate_job_name(name)] = self._text_for(name, options, delay_s)
            batch.append(
                NewJob(
                    job_id=new_id,
                    job_name=name,
                    raw=self._encode(text, new_id, job, name),
                    delay=delay_s,
                )
            )
        return batch

    def _text_for(self, name: str, options: JobOptions | None, delay_s: float) -> NewJobText:
        opts = options or self._default_options
        now = self._clock()
        return new_job_text(
            job_name=name,
            max_retries=opts.max_retries,
            timeout=opts.timeout,
            retry_delay=opts.retry_delay,
            status="Scheduled" if delay_s > 0 else "Pending",
            created_at=int(now),
            scheduled_at=int(now + delay_s) if delay_s > 0 else None,
        )

    def _encode(self, text: NewJobText, job_id: str, job: Any, name: str) -> str:
        """The envelope text of one new job, or ``PayloadError`` saying why not."""
        try:
            raw = text(job_id, encode_payload(job))
        except (TypeError, ValueError) as exc:
            raise PayloadError(f"payload of {name!r} is not JSON-serialisable: {exc}") from None
        except RecursionError:
            raise PayloadError(f"payload of {name!r} is nested too deeply") from None
        if raw.isascii():  # the common case: one byte per character, nothing to check
            size = len(raw)
        else:
            try:
                size = len(raw.encode())
            except UnicodeEncodeError as exc:  # a lone surrogate: not storable as UTF-8
                raise PayloadError(
                    f"payload of {name!r} is not valid Unicode text: {exc}"
                ) from None
        if size > self._max_payload_bytes:
            raise PayloadError(
                f"job {name!r} is {size} bytes encoded, over the {self._max_payload_bytes}-byte cap"
            )
        return raw

    # -- inspecting ----------------------------------------------------------------------

    async def counts(self) -> StateCounts:
        """Jobs per state (queued, scheduled, retry, running, dead)."""
        return await (await self._ready()).counts()

    async def counters(self) -> Counters:
        """Processed and failed totals (sample twice for throughput)."""
        return await (await self._ready()).counters()

    async def list_jobs(
        self,
        state: JobState | str,
        *,
        limit: int = 50,
        offset: int = 0,
        newest_first: bool = False,
        job_name: str | None = None,
        error_contains: str | None = None,
        text_contains: str | None = None,
    ) -> list[JobInfo]:
        """A page of the jobs in ``state``, decoded. ``error_contains`` matches the last
        error; ``text_contains`` the whole stored envelope (id, job name, payload, last
        error): both case-insensitively (ASCII), as substrings."""
        if limit < 0 or offset < 0:
            raise ConfigError("limit and offset must be non-negative")
        backend = await self._ready()
        query = JobQuery(
            state=JobState(state),
            limit=limit,
            offset=offset,
            newest_first=newest_first,
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

    async def workers(self) -> list[WorkerInfo]:
        """Registered worker pools with their last heartbeat."""
        return await (await self._ready()).list_workers()

    async def is_paused(self) -> bool:
        """Whether workers of this namespace are told not to claim."""
        return await (await self._ready()).is_paused()

    # -- administering -------------------------------------------------------------------

    async def retry_jobs(self, job_ids: Sequence[str]) -> int:
        """Put dead, retry or scheduled jobs back in the queue now; returns how many.

        Dead jobs start over (``retry_count`` reset to 0; ``last_error`` is kept for
        the record). Ids not found or currently running are skipped.
        """
        backend = await self._ready()
        moves: list[Move] = []
        for job_id in dict.fromkeys(job_ids):
            stored = await backend.get_job(job_id)
            if stored is None or stored.state not in _REQUEUEABLE:
                continue
            moves.append(self._requeue_move(JobInfo.from_stored(stored)))
        return await backend.move_to_queue(moves) if moves else 0

    async def retry_all(
        self,
        state: JobState | str = JobState.DEAD,
        *,
        job_name: str | None = None,
        error_contains: str | None = None,
    ) -> int:
        """Requeue every job in ``state`` (dead by default) matching the filters."""
        source = JobState(state)
        if source not in _REQUEUEABLE:
            raise ConfigError(f"only {', '.join(_REQUEUEABLE)} jobs can be requeued")
        backend = await self._ready()
        total = 0
        while True:
            # Always read the first page: moved jobs leave the state, so offsets shift.
            page = await backend.list_jobs(
                JobQuery(
                    state=source,
                    limit=_ADMIN_PAGE,
                    job_name=job_name,
                    error_contains=error_contains,
                )
            )
            if not page:
                return total
            moved = await backend.move_to_queue(
                [self._requeue_move(JobInfo.from_stored(job)) for job in page]
            )
            total += moved
            if moved == 0:
                return total  # someone else is moving them; do not spin

    @staticmethod
    def _requeue_move(job: JobInfo) -> Move:
        envelope = job.envelope
        if envelope is None:
            # Not ours to rewrite: move the stored text as it is; the worker will
            # bury it again with the decode error.
            return Move(job_id=job.job_id, from_state=job.state, raw=job.raw)
        changes: dict[str, Any] = {"status": "Pending", "scheduled_at": None}
        if job.state is JobState.DEAD:
            changes["retry_count"] = 0
        return Move(
            job_id=job.job_id, from_state=job.state, raw=envelope.evolve(**changes).encode()
        )

    async def run_now(self, job_ids: Sequence[str]) -> int:
        """Move scheduled or retry jobs to the queue now (``retry_count`` kept)."""
        backend = await self._ready()
        moves: list[Move] = []
        for job_id in dict.fromkeys(job_ids):
            stored = await backend.get_job(job_id)
            if stored is None or stored.state not in (JobState.SCHEDULED, JobState.RETRY):
                continue
            moves.append(self._requeue_move(JobInfo.from_stored(stored)))
        return await backend.move_to_queue(moves) if moves else 0

    async def delete_jobs(self, job_ids: Sequence[str]) -> int:
        """Delete jobs by id (not running ones); returns how many."""
        return await (await self._ready()).delete_jobs(list(dict.fromkeys(job_ids)))

    async def purge(self, state: JobState | str) -> int:
        """Delete every job in ``state`` (queued, scheduled, retry or dead)."""
        return await (await self._ready()).purge(JobState(state))

    async def pause(self) -> None:
        """Tell every worker of the namespace to stop claiming (running jobs finish)."""
        await (await self._ready()).set_paused(True)

    async def resume(self) -> None:
        """Let workers claim again."""
        await (await self._ready()).set_paused(False)

    async def stop_worker(self, worker_id: str) -> bool:
        """Ask one worker pool to drain and exit (at its next heartbeat)."""
        return await (await self._ready()).request_worker_stop(worker_id)
