"""Configuration objects: per-job options and worker-pool settings, and their bounds.

Durations are accepted as seconds (``int``/``float``) or ``datetime.timedelta`` and
stored as float seconds. Defaults are the Rust wg's (see the README's configuration
table); the lease settings are wg's own addition (at-least-once delivery).

Every value is checked here, once, for the API, the CLI and the TUI alike: a wrong
type, a negative or non-finite number or one beyond what storage can hold raises
``ConfigError`` naming the option. ``WorkerConfig.from_env`` reads every setting from
``WG_*`` environment variables (the table: ``wg_core.settings``, the README).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from wg_core.errors import ConfigError
from wg_core.namespace import validate_namespace
from wg_core.queues import DEFAULT_QUEUE, validate_queues

__all__ = [
    "DEFAULT_KEEP_FINISHED",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "MAX_DURATION",
    "MAX_RESULT_BYTES",
    "MAX_RETRIES_LIMIT",
    "Duration",
    "JobOptions",
    "WorkerConfig",
    "parse_duration",
    "to_seconds",
]

DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024
"""Envelopes larger than this are refused at enqueue and buried by workers."""

MAX_RESULT_BYTES: Final = 512 * 1024
"""The largest result a job may store (its return value, encoded as JSON, in UTF-8
bytes). A job whose handler returns more goes dead with the reason: a result is never
stored cut short."""

DEFAULT_KEEP_FINISHED: Final = 3600.0
"""Seconds completed and cancelled jobs are kept, with their results, unless a job's
``JobOptions.keep_finished`` or a worker's ``WorkerConfig.keep_finished`` says
otherwise (one hour)."""

MAX_RETRIES_LIMIT: Final = 2**31 - 1
"""The largest ``max_retries``. The Rust reader decodes ``max_retries`` and
``retry_count`` as ``u32``, and a signed 32-bit column (MySQL ``INT``, PostgreSQL
``integer``) holds 2^31 - 1: the smaller of the two, so every reader and every column
that may ever hold a count accepts it."""

MAX_DURATION: Final = 100 * 365.25 * 86400.0
"""The longest duration (timeout, retry delay, schedule delay, any worker setting):
100 years. A due time is "now + duration" and must stay a valid time for every reader:
the Rust reader's ``u64`` milliseconds, SQL ``BIGINT`` milliseconds and Redis scores
(doubles, exact to 2^53 ms ≈ 285 000 years) hold far more, but Python's ``datetime``
(what the CLI and TUI print times with) ends at year 9999, and asyncio timers misbehave
with absurd delays. 100 years is beyond any real schedule and far inside every limit."""

Duration = float | int | timedelta
"""A duration: seconds, or a ``timedelta``."""

_UNITS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_HINT: Final = "use e.g. 30s, 5m, 1h30m, 2d or a number of seconds"


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (``30s``, ``5m``, ``1h30m``, ``2d``, ``250ms``, ``1w`` or a bare
    number of seconds); raises ``ValueError`` with a readable message. The result is not
    bounded: ``to_seconds`` does that."""
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned:
        raise ValueError(f"empty duration: {_HINT}")
    try:
        seconds = float(cleaned)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"{text!r} is not a non-negative duration: {_HINT}")
        return seconds
    position = 0
    total = 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(cleaned) or position == 0:
        raise ValueError(f"{text!r} is not a duration: {_HINT}")
    if not math.isfinite(total):  # digits enough to overflow a double
        raise ValueError(f"{text!r} is too long a duration: {_HINT}")
    return total


def to_seconds(value: Duration, *, name: str = "duration") -> float:
    """Seconds in ``value``; refuses other types, negative, NaN, infinite durations and
    durations over ``MAX_DURATION``, with a ``ConfigError`` naming ``name``."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float: over the bound anyway
            seconds = MAX_DURATION * 2
    else:
        raise ConfigError(f"{name} must be a number of seconds or a timedelta, got {_shown(value)}")
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise ConfigError(f"{name} must be a finite, non-negative duration, got {_shown(value)}")
    if seconds > MAX_DURATION:
        raise ConfigError(
            f"{name} must be at most {MAX_DURATION:.0f} seconds (100 years), got {_shown(value)}"
        )
    return seconds


def _shown(value: object) -> str:
    """``repr(value)``, cut short: a message must stay one readable line."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _optional_seconds(value: Duration | None, name: str) -> float | None:
    return None if value is None else to_seconds(value, name=name)


def _int(value: object, name: str, *, minimum: int, maximum: int | None = None) -> int:
    """``value`` if it is an ``int`` in range (never a ``bool``), else ``ConfigError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {_shown(value)}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {_shown(value)}")
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class JobOptions:
    """How one job is run and retried.

    ``max_retries``: failed attempts allowed before the job goes dead (3 means up to
    four runs in all). ``timeout``: a run longer than this is cancelled and counts as a
    failure (``None``: no limit). ``retry_delay``: the first retry's delay; each further
    retry doubles it (capped by ``WorkerConfig.max_retry_delay``, with jitter).
    ``keep_finished``: how long the job is kept, with its result, once it completed or
    was cancelled (0: deleted at once; ``None``: the worker's
    ``WorkerConfig.keep_finished``, or for a cancel the client's ``keep_finished``).
    Stored in the envelope only when set (the Rust reader ignores it).
    """

    max_retries: int = 3
    timeout: float | None = 300.0
    retry_delay: float | None = 10.0
    keep_finished: float | None = None

    def __init__(
        self,
        *,
        max_retries: int = 3,
        timeout: Duration | None = 300.0,
        retry_delay: Duration | None = 10.0,
        keep_finished: Duration | None = None,
    ) -> None:
        _int(max_retries, "max_retries", minimum=0, maximum=MAX_RETRIES_LIMIT)
        object.__setattr__(self, "max_retries", max_retries)
        object.__setattr__(self, "timeout", _optional_seconds(timeout, "timeout"))
        object.__setattr__(self, "retry_delay", _optional_seconds(retry_delay, "retry_delay"))
        object.__setattr__(self, "keep_finished", _optional_seconds(keep_finished, "keep_finished"))


def _positive(value: Duration, name: str) -> float:
    seconds = to_seconds(value, name=name)
    if seconds <= 0:
        raise ConfigError(f"{name} must be positive, got {value!r}")
    return seconds


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerConfig:
    """A worker pool's settings, with the Rust wg's defaults.

    Beyond the spec: ``lease`` is how long a claimed job stays reserved without a
    heartbeat; ``heartbeat_interval`` renews leases and refreshes the worker registry
    (from a thread of its own, so a blocked event loop cannot stop it);
    ``silent_after``: a registered worker not heard from for this long is dead, and
    any pool's reaper (every ``reaper_interval``) takes its jobs over at once, without
    waiting out their leases (``None``: three heartbeat intervals; it must exceed one);
    a job claimed within ``silent_after`` is not taken for silence (a claim is a sign
    of life), nor by its own pool's reaper.
    With the defaults a SIGKILLed worker's jobs run again within about 9 s
    (``silent_after`` + ``reaper_interval`` + ``retrier_interval``); a worker that is
    not registered (or a backend that keeps no registry) is recovered when the lease
    expires. ``loop_stall_after``: an event loop that goes this long without a turn
    (an async handler calling blocking code) is logged as a WARNING naming the job
    that held it. ``max_retry_delay`` caps the exponential backoff; ``retry_jitter`` is the
    fraction of random spread added to each retry delay; ``max_payload_bytes`` caps
    the envelope size a worker will decode (a bigger one written straight into storage
    goes dead unread: it could exhaust the worker's memory). ``max_backend_outage``: a
    pool that cannot reach its backend for this long stops with
    ``BackendUnavailableError`` (so its supervisor restarts it) instead of idling
    forever (``None``: never give up). ``wait_for_backend``: how long ``start()`` keeps
    trying to reach an unreachable backend (0: fail at once, so a typo in a URL is
    reported immediately; raise it for workers that may start before their server).
    ``prefetch``: while the queue is deep, how many jobs beyond the free slots a pool
    may hold leased in a local buffer, so a slot that frees starts its next job at once
    (``None``: the largest of ``workers``, ``batch_size`` and 500 (``PREFETCH_CAP``);
    the pool holds at most what it finishes in 50 ms anyway; 0: claim only for free
    slots, e.g. for long jobs spread over many workers). ``prefetch_hold``: a buffered
    job not started within this many seconds is released to the front of the queue
    (capped at half the lease); if the worker dies, its buffered jobs come back when
    their leases expire, counted as a failed attempt like any claimed job.
    ``queues``: the queues the pool claims from, in strict order (a job of a later
    queue only while every earlier one has none ready or is paused; see
    ``wg_core.queues``); any iterable of names, stored as a tuple.
    ``keep_finished``: how long a completed or cancelled job is kept, with its result
    (0: deleted at once, as before results existed; a job's own
    ``JobOptions.keep_finished`` wins); ``prune_interval``: how often the pool deletes
    the expired ones (``batch_size`` at a time).
    """

    namespace: str = "wg"
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    workers: int = 4
    fetch_timeout: float = 5.0
    scheduler_interval: float = 1.0
    retrier_interval: float = 1.0
    batch_size: int = 100
    shutdown_timeout: float = 30.0
    lease: float = 30.0
    heartbeat_interval: float = 2.0
    reaper_interval: float = 2.0
    silent_after: float = 6.0
    loop_stall_after: float = 1.0
    max_retry_delay: float = 3600.0
    retry_jitter: float = 0.1
    max_backend_outage: float | None = 300.0
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    wait_for_backend: float = 0.0
    prefetch: int | None = None
    prefetch_hold: float = 1.0
    keep_finished: float = DEFAULT_KEEP_FINISHED
    prune_interval: float = 30.0
    default_options: JobOptions = field(default_factory=JobOptions)

    def __init__(
        self,
        *,
        namespace: str = "wg",
        queues: Iterable[str] = (DEFAULT_QUEUE,),
        workers: int = 4,
        fetch_timeout: Duration = 5.0,
        scheduler_interval: Duration = 1.0,
        retrier_interval: Duration = 1.0,
        batch_size: int = 100,
        shutdown_timeout: Duration = 30.0,
        lease: Duration = 30.0,
        heartbeat_interval: Duration = 2.0,
        reaper_interval: Duration = 2.0,
        silent_after: Duration | None = None,
        loop_stall_after: Duration = 1.0,
        max_retry_delay: Duration = 3600.0,
        retry_jitter: float = 0.1,
        max_backend_outage: Duration | None = 300.0,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        wait_for_backend: Duration = 0.0,
        prefetch: int | None = None,
        prefetch_hold: Duration = 1.0,
        keep_finished: Duration = DEFAULT_KEEP_FINISHED,
        prune_interval: Duration = 30.0,
        default_options: JobOptions | None = None,
    ) -> None:
        validate_namespace(namespace)
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a positive int, got {workers!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive int, got {batch_size!r}")
        if (
            isinstance(retry_jitter, bool)
            or not isinstance(retry_jitter, int | float)
            or not 0 <= retry_jitter <= 1
        ):
            raise ConfigError(f"retry_jitter must be between 0 and 1, got {retry_jitter!r}")
        if default_options is not None and not isinstance(default_options, JobOptions):
            raise ConfigError(f"default_options must be JobOptions, got {default_options!r}")
        if (
            isinstance(max_payload_bytes, bool)
            or not isinstance(max_payload_bytes, int)
            or max_payload_bytes < 1
        ):
            raise ConfigError(
                f"max_payload_bytes must be a positive int, got {max_payload_bytes!r}"
            )
        if prefetch is not None and (
            isinstance(prefetch, bool) or not isinstance(prefetch, int) or prefetch < 0
        ):
            raise ConfigError(f"prefetch must be an int >= 0 or None, got {prefetch!r}")
        lease_s = _positive(lease, "lease")
        heartbeat_s = _positive(heartbeat_interval, "heartbeat_interval")
        if heartbeat_s >= lease_s:
            # A heartbeat slower than the lease lets live jobs' leases expire.
            raise ConfigError(
                f"heartbeat_interval ({heartbeat_s}s) must be shorter than lease ({lease_s}s)"
            )
        silent_s = (
            3 * heartbeat_s
            if silent_after is None
            else to_seconds(silent_after, name="silent_after")
        )
        if silent_s <= heartbeat_s:
            # A live worker is silent for up to a heartbeat interval between beats.
            raise ConfigError(
                f"silent_after ({silent_s}s) must be longer than heartbeat_interval "
                f"({heartbeat_s}s)"
            )
        values = {
            "namespace": namespace,
            "queues": validate_queues(queues),
            "workers": workers,
            "fetch_timeout": _positive(fetch_timeout, "fetch_timeout"),
            "scheduler_interval": _positive(scheduler_interval, "scheduler_interval"),
            "retrier_interval": _positive(retrier_interval, "retrier_interval"),
            "batch_size": batch_size,
            "shutdown_timeout": to_seconds(shutdown_timeout, name="shutdown_timeout"),
            "lease": lease_s,
            "heartbeat_interval": heartbeat_s,
            "reaper_interval": _positive(reaper_interval, "reaper_interval"),
            "silent_after": silent_s,
            "loop_stall_after": _positive(loop_stall_after, "loop_stall_after"),
            "max_retry_delay": to_seconds(max_retry_delay, name="max_retry_delay"),
            "retry_jitter": float(retry_jitter),
            "max_backend_outage": (
                None
                if max_backend_outage is None
                else _positive(max_backend_outage, "max_backend_outage")
            ),
            "max_payload_bytes": max_payload_bytes,
            "wait_for_backend": to_seconds(wait_for_backend, name="wait_for_backend"),
            "prefetch": prefetch,
            "prefetch_hold": _positive(prefetch_hold, "prefetch_hold"),
            "keep_finished": to_seconds(keep_finished, name="keep_finished"),
            "prune_interval": _positive(prune_interval, "prune_interval"),
            "default_options": default_options or JobOptions(),
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> WorkerConfig:
        """Settings from ``WG_*`` environment variables (``os.environ`` by default), then
        ``overrides`` (fields as keywords) on top; defaults for the rest.

        One variable per field: ``WG_`` and the field's name in capitals (``WG_WORKERS``,
        ``WG_LEASE``, ``WG_FETCH_TIMEOUT``…), and ``WG_DEFAULT_RETRY_DELAY`` for
        ``default_options``; the table is ``worker_settings()``. Durations take ``30s``,
        ``5m``, ``1h30m`` or seconds; optional ones take ``none``. An empty variable
        counts as unset. A bad value raises ``ConfigError`` naming the variable.
        """
        # The settings table is derived from this class's fields: imported here.
        from wg_core.settings import settings_to_fields, worker_settings

        env = os.environ if environ is None else environ
        parsed: dict[str, object] = {}
        for setting in worker_settings():
            text = env.get(setting.env)
            if text is not None and text.strip():
                parsed[setting.name] = setting.parse(text, source=setting.env)
        values = settings_to_fields(parsed)
        values.update(overrides)
        try:
            return cls(**values)
        except TypeError as exc:  # an override that is no field
            raise ConfigError(f"WorkerConfig: {exc}") from None
