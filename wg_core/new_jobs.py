"""New jobs: what a producer's payload becomes before it is stored.

``JobBuilder`` turns payloads into ``NewJob``s for ``Client``: it validates the job
name, a caller's job id, the queue and the priority, and writes the envelope's JSON
(checked against the payload size cap). Everything is refused here, before any I/O,
with a ``ConfigError`` (or ``PayloadError`` for a payload): a batch with one bad job
stores nothing.

- **job names**: 1 to 128 characters, an ASCII letter or ``_`` first, then letters,
  digits, ``_``, ``.``, ``:`` or ``-`` (``send_email``, ``images.resize``,
  ``billing:charge-card``). No spaces: names are routing keys, typed on command lines,
  matched exactly; 128 fits every backend's ``job_name`` column.
- **job ids** given by the caller: a UUID in its canonical text form
  (``6f1c2d0e-8a4b-4c1e-9f3a-2b7d5e6a9c01``, any case, stored in lowercase). The
  envelope's ``id`` is a UUID string for the Rust reader too; an id wg chooses is a
  UUIDv7.
- **queues and priorities**: see ``wg_core.queues`` (names of lowercase letters,
  digits, ``_``, ``-`` and ``.``; priorities from -1000 to 1000, higher first). They
  are stored beside the envelope, never in it: the envelope stays the Rust wg's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from wg_core.backend import NewJob
from wg_core.envelope import NewJobText, new_job_id, new_job_ids, new_job_text
from wg_core.errors import ConfigError, PayloadError
from wg_core.limits import validate_limit_key
from wg_core.options import Duration, JobOptions, to_seconds
from wg_core.payloads import encode_payload, job_name_for
from wg_core.queues import validate_priority, validate_queue
from wg_core.unique import (
    UniqueKey,
    UniqueKeyRule,
    derive_unique_key,
    validate_unique_key,
    with_unique_key,
)

__all__ = [
    "MAX_JOB_NAME_LENGTH",
    "JobBuilder",
    "JobSpec",
    "is_job_id",
    "validate_job_id",
    "validate_job_name",
]

MAX_JOB_NAME_LENGTH: Final = 128
_JOB_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]*")
_JOB_ID: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


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
    """One job for ``enqueue_many`` when jobs in a batch differ in name, options, time,
    queue or priority. A field left ``None`` takes the batch's value."""

    payload: Any
    job_name: str | None = None
    options: JobOptions | None = None
    delay: Duration | None = None
    job_id: str | None = None
    queue: str | None = None
    priority: int | None = None
    unique_key: UniqueKey | None = None
    unique_for: Duration | None = None
    limit_key: str | None = None


class JobBuilder:
    """Builds the ``NewJob``s of one client: ``default_options`` for jobs given none,
    envelopes capped at ``max_payload_bytes``, times read from ``clock``."""

    __slots__ = ("_clock", "_default_options", "_max_payload_bytes")

    def __init__(
        self,
        *,
        default_options: JobOptions,
        max_payload_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self._default_options = default_options
        self._max_payload_bytes = max_payload_bytes
        self._clock = clock

    def one(
        self,
        job: Any,
        *,
        job_name: str | None,
        options: JobOptions | None,
        delay: Duration | None,
        queue: str,
        priority: int,
        job_id: str | None = None,
        unique_key: UniqueKey | None = None,
        unique_for: Duration | None = None,
        limit_key: str | None = None,
    ) -> NewJob:
        """One validated job, ready to store."""
        name = validate_job_name(job_name_for(job) if job_name is None else job_name)
        queue = validate_queue(queue)
        priority = validate_priority(priority)
        delay_s = 0.0 if delay is None else to_seconds(delay, name="delay")
        text = self._text_for(name, options, delay_s)
        new_id = new_job_id() if job_id is None else validate_job_id(job_id)
        limit = validate_limit_key(limit_key)
        raw = self._encode(text, new_id, job, name)
        return self._new_job(
            (new_id, name, raw, delay_s, queue, priority, limit), job, unique_key, unique_for
        )

    @classmethod
    def _new_job(
        cls,
        fields: tuple[str, str, str, float, str, int, str | None],
        job: Any,
        unique_key: UniqueKey | None,
        unique_for: Duration | None,
    ) -> NewJob:
        """The NewJob of ``fields`` (id, name, envelope, delay, queue, priority, limit
        key), holding its unique key if it has one (the key also written into its
        envelope): one NewJob built per job, as a bulk enqueue builds thousands."""
        job_id, name, raw, delay, queue, priority, limit = fields
        key, hold = None, 0.0
        if unique_key is not None or unique_for is not None:
            key, hold = cls._unique(name, job, unique_key, unique_for)
            raw = with_unique_key(raw, key)
        return NewJob(
            job_id=job_id,
            job_name=name,
            raw=raw,
            delay=delay,
            queue=queue,
            priority=priority,
            unique_key=key,
            unique_for=hold,
            limit_key=limit,
        )

    @staticmethod
    def _unique(
        name: str, job: Any, unique_key: UniqueKey | None, unique_for: Duration | None
    ) -> tuple[str, float]:
        """The job's unique key (given, or derived from its name and payload) and
        ``unique_for`` in seconds (``wg_core.unique``)."""
        if unique_key is None:
            raise ConfigError("unique_for needs a unique_key")
        if isinstance(unique_key, UniqueKeyRule):
            key = derive_unique_key(name, encode_payload(job))
        else:
            key = validate_unique_key(unique_key)
        hold = 0.0 if unique_for is None else to_seconds(unique_for, name="unique_for")
        return key, hold

    def many(
        self,
        jobs: Iterable[Any],
        *,
        job_name: str | None,
        options: JobOptions | None,
        delay: Duration | None,
        queue: str,
        priority: int,
        unique_key: UniqueKey | None = None,
        unique_for: Duration | None = None,
        limit_key: str | None = None,
    ) -> list[NewJob]:
        """``one`` for each item (``JobSpec`` items vary it), sharing what a batch has
        in common (the clock reading, the text templates, one read of the random source
        for the ids): a bulk enqueue is bounded by this loop. ``unique_key`` and
        ``unique_for`` are the batch's (a key given as text makes every job after the
        first a duplicate of it: ``UNIQUE_BY_PAYLOAD`` is the useful batch rule)."""
        items = list(jobs)
        queue = validate_queue(queue)
        priority = validate_priority(priority)
        limit_key = validate_limit_key(limit_key)
        ids = new_job_ids(len(items))
        delay_s = 0.0 if delay is None else to_seconds(delay, name="delay")
        texts: dict[str, NewJobText] = {}
        batch: list[NewJob] = []
        for job, new_id in zip(items, ids, strict=True):
            if isinstance(job, JobSpec):
                batch.append(
                    self.one(
                        job.payload,
                        job_name=job_name if job.job_name is None else job.job_name,
                        options=job.options or options,
                        delay=job.delay if job.delay is not None else delay,
                        job_id=job.job_id,
                        queue=queue if job.queue is None else job.queue,
                        priority=priority if job.priority is None else job.priority,
                        unique_key=unique_key if job.unique_key is None else job.unique_key,
                        unique_for=unique_for if job.unique_for is None else job.unique_for,
                        limit_key=limit_key if job.limit_key is None else job.limit_key,
                    )
                )
                continue
            name = job_name_for(job) if job_name is None else job_name
            text = texts.get(name)
            if text is None:
                # Once per distinct name: the bulk path stays one dict lookup per job.
                text = texts[validate_job_name(name)] = self._text_for(name, options, delay_s)
            raw = self._encode(text, new_id, job, name)
            fields = (new_id, name, raw, delay_s, queue, priority, limit_key)
            batch.append(self._new_job(fields, job, unique_key, unique_for))
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
            keep_finished=opts.keep_finished,
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
