"""What happens to a job that failed: the retry delay and the envelope it is stored with.

Retry decisions live here, once, above every backend. A failed attempt is retried
after ``retry_delay × 2^retry_count`` (capped, plus jitter) until ``max_retries``
failed attempts have been used up; then, or on ``JobError.fatal``, the job is dead.
"""

from __future__ import annotations

import json
import random
import re
import traceback
import uuid
from dataclasses import dataclass
from typing import Any, Final

from wg_core.envelope import Envelope
from wg_core.errors import JobError

__all__ = [
    "MALFORMED_JOB_NAME",
    "MAX_ERROR_CHARS",
    "MAX_KEPT_RAW_CHARS",
    "MAX_TRACEBACK_CHARS",
    "Failure",
    "backoff_delay",
    "describe_exception",
    "failed_envelope",
    "failure_from_exception",
    "is_exhausted",
    "malformed_dead_envelope",
]

MAX_ERROR_CHARS: Final = 2_000
MAX_TRACEBACK_CHARS: Final = 8_000
MAX_KEPT_RAW_CHARS: Final = 1_048_576
MALFORMED_JOB_NAME: Final = "wg.malformed"
"""The job name of dead-letter entries made for envelopes that could not be decoded."""


@dataclass(frozen=True, slots=True)
class Failure:
    """How an attempt failed: its message, whether retrying can help, and details."""

    message: str
    fatal: bool = False
    error_type: str | None = None
    traceback: str | None = None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 15] + "… [truncated]"


def describe_exception(exc: BaseException) -> str:
    """``"Type: message"`` (or ``"Type"``), even for an exception whose ``str()`` raises."""
    try:
        text = str(exc)
    except Exception:  # a broken __str__ must not stop the job's failure being recorded
        text = "<its message could not be read>"
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def failure_from_exception(exc: BaseException) -> Failure:
    """A ``Failure`` for an exception raised by a handler (or its timeout): any class,
    ``SystemExit`` and ``KeyboardInterrupt`` included, is that job's failure, recorded
    with the class name in the message."""
    if isinstance(exc, JobError):
        return Failure(message=_clip(exc.message, MAX_ERROR_CHARS), fatal=exc.is_fatal)
    if isinstance(exc, TimeoutError):
        return Failure(message="timed out", error_type="TimeoutError")
    message = describe_exception(exc)
    try:
        formatted = "".join(traceback.format_exception(exc))
    except Exception:
        formatted = message
    return Failure(
        message=_clip(message, MAX_ERROR_CHARS),
        error_type=type(exc).__qualname__,
        traceback=_clip(formatted, MAX_TRACEBACK_CHARS),
    )


def backoff_delay(
    envelope: Envelope,
    *,
    default_delay: float,
    max_delay: float,
    jitter: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds before the next attempt: ``retry_delay × 2^retry_count``, plus up to
    ``jitter`` × that at random, capped at ``max_delay``.

    ``retry_count`` is the number of failed attempts *before* this failure.
    """
    base = envelope.retry_delay if envelope.retry_delay is not None else default_delay
    exponent = min(envelope.retry_count, 62)
    delay = base * float(2**exponent)
    if jitter:
        delay += delay * jitter * (rng or random).random()
    return min(delay, max_delay)


def failed_envelope(envelope: Envelope, failure: Failure, *, dead: bool) -> Envelope:
    """The envelope stored after a failed attempt (retry or dead)."""
    extra: dict[str, Any] = dict(envelope.extra)
    if failure.traceback:
        extra["traceback"] = failure.traceback
    else:
        extra.pop("traceback", None)
    return envelope.evolve(
        retry_count=envelope.retry_count if failure.fatal else envelope.retry_count + 1,
        status="Dead" if dead else "Retry",
        last_error=failure.message,
        extra=extra,
    )


def is_exhausted(envelope: Envelope) -> bool:
    """Whether one more failed attempt uses up the job's retries."""
    return envelope.retry_count >= envelope.max_retries


def malformed_dead_envelope(raw: str, reason: str, *, now: float) -> Envelope:
    """A dead-letter entry for stored text that is not a valid envelope.

    The original text is kept under ``raw`` (up to ``MAX_KEPT_RAW_CHARS``) and the
    reason in ``last_error``, so an operator can see and fix what was written.
    """
    job_id: str | None = None
    try:
        document = json.loads(raw)
        if isinstance(document, dict) and isinstance(document.get("id"), str):
            job_id = document["id"]
    except (ValueError, RecursionError):
        pass
    return Envelope(
        id=job_id or str(uuid.uuid4()),
        job_name=MALFORMED_JOB_NAME,
        payload=None,
        max_retries=0,
        retry_count=0,
        timeout=None,
        retry_delay=None,
        status="Dead",
        created_at=int(now),
        last_error=_clip(reason, MAX_ERROR_CHARS),
        extra={"raw": _printable(_clip(raw, MAX_KEPT_RAW_CHARS))},
    )


_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _printable(raw: str) -> str:
    """``raw`` with the bytes that were not UTF-8 (lone surrogates, as a lossless decode
    carries them) written as ``\\xNN``: the dead envelope must itself be valid text,
    or no reader could decode it to show what was wrong."""
    if raw.isascii():
        return raw

    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"

    return _SURROGATE.sub(escape, raw)
