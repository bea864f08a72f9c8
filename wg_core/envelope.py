"""The job envelope: the JSON document stored for every job, compatible with the Rust wg.

One compact JSON object per job, keys in the Rust struct's order::

    {"id": "<uuid>", "job_name": "send_email", "payload": {...},
     "options": {"max_retries": 3, "retry_count": 0, "timeout": 300000, "retry_delay": 10000},
     "status": "Pending", "created_at": 1767225600, "scheduled_at": null, "last_error": null}

``timeout`` and ``retry_delay`` are integer milliseconds or null, and all four
``options`` keys are always written (the Rust reader fails otherwise). wg adds
``options.keep_finished`` (integer milliseconds: how long the job is kept once
finished, ``JobOptions.keep_finished``) only when it is set, so a default envelope is
byte for byte the Rust wg's; the Rust reader ignores it. Times are Unix
seconds. The older Rust version wrote no ``job_name``: such jobs read as
``DEFAULT_JOB_NAME``. Keys wg does not know, at the top level and inside ``options``,
are kept and written back unchanged, so Rust and Python programs can share a namespace.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Final

from wg_core.codec import fast_decoder

__all__ = [
    "DEFAULT_JOB_NAME",
    "STATUSES",
    "Envelope",
    "EnvelopeError",
    "EnvelopePeek",
    "NewJobText",
    "new_job_id",
    "new_job_ids",
    "new_job_text",
    "peek_envelope",
]

DEFAULT_JOB_NAME: Final = "default"
"""The job name of envelopes written without one (the older Rust wg)."""

STATUSES: Final = frozenset({"Pending", "Scheduled", "Processing", "Completed", "Retry", "Dead"})

_KNOWN_KEYS: Final = frozenset(
    {"id", "job_name", "payload", "options", "status", "created_at", "scheduled_at", "last_error"}
)
_KNOWN_OPTION_KEYS: Final = frozenset({"max_retries", "retry_count", "timeout", "retry_delay"})
_KEEP_FINISHED: Final = "keep_finished"
"""wg's own ``options`` key, written only when set (see the module docstring)."""


# ``json.dumps`` with wg's settings (compact, UTF-8 kept, no NaN) builds an encoder and a
# closure on every call; a producer pays that per job. The C encoder built once here
# does the same work without them. No circular-reference check (``markers=None``): a
# payload that contains itself fails with ``RecursionError``, which callers report.
_C_ENCODER: Final = (
    None
    if c_make_encoder is None
    else c_make_encoder(
        None, json.JSONEncoder().default, encode_basestring, None, ":", ",", False, False, False
    )
)
_PY_ENCODE: Final = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _encode(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)``."""
    if _C_ENCODER is None:  # pragma: no cover - CPython always has the C encoder
        return _PY_ENCODE(value)
    return "".join(_C_ENCODER(value, 0))


# UUIDv7 (RFC 9562): Unix milliseconds in the top 48 bits, version 7 in bits 76-79, the
# variant (0b10) in bits 62-63, and 74 random bits in between and below.


def new_job_id() -> str:
    """A new job id: a time-ordered UUID (version 7, RFC 9562) in its usual text form.

    74 random bits (``os.urandom``) under the creation time in milliseconds. Ids that
    grow with time go into the database indexes on ``job_id`` at the right-hand end,
    where random (version 4) ids land all over the index: measured on SQLite, a
    1 000-row insert costs a quarter less per row. The text is still a UUID, so any
    reader (the Rust wg included) takes it as before.
    """
    return _uuid7_text(time.time_ns() // 1_000_000, int.from_bytes(os.urandom(10)) >> 6)


def new_job_ids(count: int) -> list[str]:
    """``count`` new job ids that sort in the order given (one random start, counted up
    from there, so a bulk insert appends to the ``job_id`` index in order)."""
    millis = time.time_ns() // 1_000_000
    # The top random bit clear: counting up from here cannot carry into the time.
    start = int.from_bytes(os.urandom(10)) >> 7
    return [_uuid7_text(millis, start + n) for n in range(count)]


def _uuid7_text(millis: int, random: int) -> str:
    value = (
        (millis << 80)
        | (0x7 << 76)
        | ((random >> 62) & 0xFFF) << 64
        | (0x2 << 62)
        | (random & ((1 << 62) - 1))
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class NewJobText:
    """Writes the envelope text of new jobs that share a name, options, status and times.

    Only the id and the payload differ from job to job, so everything else is encoded
    once, here; the result is byte for byte what ``Envelope(...).encode()`` gives for a
    job with ``retry_count`` 0 (and the same ``keep_finished``) and no unknown keys.
    """

    __slots__ = ("_middle", "_tail")

    def __init__(
        self,
        *,
        job_name: str,
        max_retries: int,
        timeout: float | None,
        retry_delay: float | None,
        status: str,
        created_at: int,
        scheduled_at: int | None,
        keep_finished: float | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "max_retries": max_retries,
            "retry_count": 0,
            "timeout": _ms(timeout),
            "retry_delay": _ms(retry_delay),
        }
        if keep_finished is not None:
            fields[_KEEP_FINISHED] = _ms(keep_finished)
        options = _encode(fields)
        self._middle = f',"job_name":{encode_basestring(job_name)},"payload":'
        self._tail = (
            f',"options":{options},"status":{encode_basestring(status)},'
            f'"created_at":{created_at},"scheduled_at":{_encode(scheduled_at)},'
            '"last_error":null}'
        )

    def __call__(self, job_id: str, payload: Any) -> str:
        """The text for one job; raises what ``json.dumps`` raises for a payload that is
        not JSON (``TypeError``, ``ValueError``, ``RecursionError``)."""
        return f'{{"id":{encode_basestring(job_id)}{self._middle}{_encode(payload)}{self._tail}'


new_job_text: Final = lru_cache(maxsize=64)(NewJobText)
"""``NewJobText(...)``, cached: a producer enqueueing the same kind of job in the same
second reuses one."""


class EnvelopeError(ValueError):
    """A stored job that is not a valid envelope; the message says why."""


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN, Infinity and -Infinity, which are not JSON: the Rust
    # reader refuses them, and wg could never write such an envelope back (its encoder
    # refuses them too), so a job carrying one could not even record its failure.
    raise EnvelopeError(f"envelope is not JSON: {name} is not a JSON number")


_STDLIB_DECODE: Final = json.JSONDecoder(parse_constant=_refuse_constant).decode
"""``json.loads`` refusing NaN and infinities (built once: as fast as ``json.loads``)."""


def _first_decode(raw: str | bytes) -> Any:
    # orjson (the ``fast`` extra) is looked for on the first decode, not at import:
    # wg_core imports only the standard library until it is used.
    global _DECODE
    _DECODE = fast_decoder(_STDLIB_DECODE)
    return _DECODE(raw)


_DECODE: Callable[[str | bytes], Any] = _first_decode
"""Decodes an envelope's text or bytes (see ``wg_core.codec``)."""


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _uint(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise EnvelopeError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _optional_ms(value: Any, name: str) -> float | None:
    if value is None:
        return None
    kind = type(value)
    if kind is int and value >= 0:  # the usual case, without the union check
        return float(value) / 1000.0
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 <= value < math.inf  # also refuses NaN, and 1e999 (read as infinity)
    ):
        raise EnvelopeError(f"{name} must be finite milliseconds or null, got {value!r}")
    return float(value) / 1000.0


def _optional_time(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if type(value) is int:
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EnvelopeError(f"{name} must be Unix seconds or null, got {value!r}")
    return int(value)


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """One job as stored. Durations are float seconds here, milliseconds on the wire."""

    id: str
    job_name: str
    payload: Any
    max_retries: int
    retry_count: int
    timeout: float | None
    retry_delay: float | None
    status: str
    created_at: int
    scheduled_at: int | None = None
    last_error: str | None = None
    keep_finished: float | None = None
    """How long the job is kept once finished (``JobOptions.keep_finished``), if set."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Top-level keys wg does not know, kept for the round trip."""
    extra_options: dict[str, Any] = field(default_factory=dict)
    """Keys of ``options`` wg does not know, kept for the round trip."""

    def encode(self) -> str:
        """The compact JSON text, keys in the Rust struct's order, unknown keys last."""
        options: dict[str, Any] = {
            "max_retries": self.max_retries,
            "retry_count": self.retry_count,
            "timeout": _ms(self.timeout),
            "retry_delay": _ms(self.retry_delay),
        }
        if self.keep_finished is not None:
            options[_KEEP_FINISHED] = _ms(self.keep_finished)
        options.update(self.extra_options)
        document: dict[str, Any] = {
            "id": self.id,
            "job_name": self.job_name,
            "payload": self.payload,
            "options": options,
            "status": self.status,
            "created_at": self.created_at,
            "scheduled_at": self.scheduled_at,
            "last_error": self.last_error,
        }
        document.update(self.extra)
        return _encode(document)

    @classmethod
    def decode(cls, raw: str | bytes) -> Envelope:
        """Parse stored text; raises ``EnvelopeError`` saying what is wrong.

        Strict where Python's ``json`` is lenient: ``NaN``, ``Infinity`` and
        ``-Infinity`` are refused (they are not JSON), and so are ``timeout`` and
        ``retry_delay`` values too large to be finite (``1e999``). A payload number too
        large for a float (``1e999`` again) is read as infinity, as JSON allows; such
        a job can run, but if it fails its envelope cannot be written back, and the
        worker buries it with its stored text and the reason."""
        try:
            document = _DECODE(raw)
        except EnvelopeError:
            raise
        except RecursionError:
            raise EnvelopeError("envelope is nested too deeply to decode") from None
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"envelope is not valid UTF-8: {exc}") from None
        except ValueError as exc:
            raise EnvelopeError(f"envelope is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise EnvelopeError(f"envelope must be a JSON object, got {type(document).__name__}")
        if isinstance(raw, str) and not raw.isascii():  # isascii() is O(1) on str
            # Stored bytes that are not UTF-8 reach wg as lone surrogates (the Redis
            # backend reads them losslessly, to write them back byte for byte): not text
            # a handler can be given, any more than undecodable bytes are.
            try:
                raw.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise EnvelopeError(
                    f"envelope is not valid UTF-8: an undecodable byte at character {exc.start}"
                ) from None
        job_id = document.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise EnvelopeError("envelope has no string 'id'")
        job_name = document.get("job_name", DEFAULT_JOB_NAME)
        if not isinstance(job_name, str):
            raise EnvelopeError(f"job_name must be a string, got {job_name!r}")
        if "payload" not in document:
            raise EnvelopeError("envelope has no 'payload'")
        options = document.get("options")
        if not isinstance(options, dict):
            raise EnvelopeError("envelope has no 'options' object")
        if not options.keys() >= _KNOWN_OPTION_KEYS:
            missing = _KNOWN_OPTION_KEYS - options.keys()
            raise EnvelopeError(f"options lack {', '.join(sorted(missing))}")
        status = document.get("status", "Pending")
        if not isinstance(status, str) or status not in STATUSES:
            raise EnvelopeError(f"unknown status {status!r}")
        last_error = document.get("last_error")
        if last_error is not None and not isinstance(last_error, str):
            raise EnvelopeError(f"last_error must be a string or null, got {last_error!r}")
        created_at = document.get("created_at")
        if type(created_at) is not int:  # the usual case skips the call
            created_at = _optional_time(created_at, "created_at")
            if created_at is None:
                raise EnvelopeError("envelope has no 'created_at'")
        # Every job a worker claims is decoded, so the usual shapes (no unknown keys,
        # plain ints) take a shorter path; anything else gets the full checks.
        max_retries = options["max_retries"]
        if type(max_retries) is not int or max_retries < 0:
            max_retries = _uint(max_retries, "max_retries")
        retry_count = options["retry_count"]
        if type(retry_count) is not int or retry_count < 0:
            retry_count = _uint(retry_count, "retry_count")
        scheduled_at = document.get("scheduled_at")
        if scheduled_at is not None:
            scheduled_at = _optional_time(scheduled_at, "scheduled_at")
        # All four known keys are there (checked above): any more is keep_finished or
        # someone else's.
        plain_options = len(options) == len(_KNOWN_OPTION_KEYS)
        keep_finished = (
            None if plain_options else _optional_ms(options.get(_KEEP_FINISHED), "keep_finished")
        )
        # Field by field through the slots' own setters: the dataclass __init__ of 14
        # keyword arguments costs twice as much, and every claimed job is decoded
        # (docs/benchmarks.md). Written out, not a loop over zip(): that loop cost
        # about a microsecond of its own per decode ("hotpath2").
        timeout = options["timeout"]
        if type(timeout) is int and timeout >= 0:  # _optional_ms's usual case, inline
            timeout = float(timeout) / 1000.0
        else:
            timeout = _optional_ms(timeout, "timeout")
        retry_delay = options["retry_delay"]
        if type(retry_delay) is int and retry_delay >= 0:
            retry_delay = float(retry_delay) / 1000.0
        else:
            retry_delay = _optional_ms(retry_delay, "retry_delay")
        envelope: Envelope = _new(cls)
        _set_id(envelope, job_id)
        _set_job_name(envelope, job_name)
        _set_payload(envelope, document["payload"])
        _set_max_retries(envelope, max_retries)
        _set_retry_count(envelope, retry_count)
        _set_timeout(envelope, timeout)
        _set_retry_delay(envelope, retry_delay)
        _set_status(envelope, status)
        _set_created_at(envelope, created_at)
        _set_scheduled_at(envelope, scheduled_at)
        _set_last_error(envelope, last_error)
        _set_keep_finished(envelope, keep_finished)
        _set_extra(
            envelope,
            {}
            if document.keys() <= _KNOWN_KEYS
            else {k: v for k, v in document.items() if k not in _KNOWN_KEYS},
        )
        _set_extra_options(
            envelope,
            {}
            if plain_options
            else {
                k: v
                for k, v in options.items()
                if k not in _KNOWN_OPTION_KEYS and k != _KEEP_FINISHED
            },
        )
        return envelope

    @property
    def unique_key(self) -> str | None:
        """The job's unique key (``wg_core.unique``): wg's top-level key ``unique_key``,
        kept with the other keys the Rust wg does not know."""
        key = self.extra.get("unique_key")
        return key if isinstance(key, str) else None

    def evolve(self, **changes: Any) -> Envelope:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return replace(self, **changes)


_FIELDS: Final = (
    "id",
    "job_name",
    "payload",
    "max_retries",
    "retry_count",
    "timeout",
    "retry_delay",
    "status",
    "created_at",
    "scheduled_at",
    "last_error",
    "keep_finished",
    "extra",
    "extra_options",
)
"""``Envelope``'s fields in the order ``Envelope.decode`` sets them."""
if tuple(f.name for f in fields(Envelope)) != _FIELDS:  # pragma: no cover - a refactor's slip
    raise RuntimeError("Envelope.decode sets fields that differ from Envelope's: update _FIELDS")
_SETTERS: Final[tuple[Callable[[Envelope, Any], None], ...]] = tuple(
    Envelope.__dict__[name].__set__ for name in _FIELDS
)
(
    _set_id,
    _set_job_name,
    _set_payload,
    _set_max_retries,
    _set_retry_count,
    _set_timeout,
    _set_retry_delay,
    _set_status,
    _set_created_at,
    _set_scheduled_at,
    _set_last_error,
    _set_keep_finished,
    _set_extra,
    _set_extra_options,
) = _SETTERS
_new: Final = object.__new__


@dataclass(frozen=True, slots=True)
class EnvelopePeek:
    """The few fields the admin side reads from stored text it does not otherwise
    decode: each ``None`` when absent, of the wrong type, or the text is not JSON —
    except ``job_name``, which reads as ``Envelope.decode`` reads it
    (``DEFAULT_JOB_NAME`` for an object without one, as the older Rust wg wrote)."""

    job_id: str | None = None
    job_name: str | None = None
    last_error: str | None = None
    created_at: float | None = None
    scheduled_at: float | None = None
    unique_key: str | None = None
    """wg's top-level ``unique_key`` (``Envelope.unique_key``)."""


_NOTHING: Final = EnvelopePeek()


def peek_envelope(raw: str | bytes) -> EnvelopePeek:
    """Read ``id``, ``job_name``, ``last_error``, the two times and ``unique_key`` from stored text,
    leniently (never raises: text that is not a JSON object peeks as all ``None``). The
    one place that sniffs stored text; everything that must *run* a job uses
    ``Envelope.decode``."""
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return _NOTHING
    if not isinstance(document, dict):
        return _NOTHING

    def text(key: str) -> str | None:
        value = document.get(key)
        return value if isinstance(value, str) else None

    def seconds(key: str) -> float | None:
        value = document.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        return float(value) if math.isfinite(value) else None

    name = document.get("job_name", DEFAULT_JOB_NAME)
    return EnvelopePeek(
        job_id=text("id"),
        job_name=name if isinstance(name, str) else None,
        last_error=text("last_error"),
        created_at=seconds("created_at"),
        scheduled_at=seconds("scheduled_at"),
        unique_key=text("unique_key"),
    )
