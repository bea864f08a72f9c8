"""The job envelope: the JSON document stored for every job, compatible with the Rust wg.

One compact JSON object per job, keys in the Rust struct's order::

    {"id": "<uuid>", "job_name": "send_email", "payload": {...},
     "options": {"max_retries": 3, "retry_count": 0, "timeout": 300000, "retry_delay": 10000},
     "status": "Pending", "created_at": 1767225600, "scheduled_at": null, "last_error": null}

``timeout`` and ``retry_delay`` are integer milliseconds or null, and all four
``options`` keys are always written (the Rust reader fails otherwise). Times are Unix
seconds. The older Rust version wrote no ``job_name``: such jobs read as
``DEFAULT_JOB_NAME``. Keys wg does not know, at the top level and inside ``options``,
are kept and written back unchanged, so Rust and Python programs can share a namespace.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any, Final

__all__ = [
    "DEFAULT_JOB_NAME",
    "STATUSES",
    "Envelope",
    "EnvelopeError",
]

DEFAULT_JOB_NAME: Final = "default"
"""The job name of envelopes written without one (the older Rust wg)."""

STATUSES: Final = frozenset({"Pending", "Scheduled", "Processing", "Completed", "Retry", "Dead"})

_KNOWN_KEYS: Final = frozenset(
    {"id", "job_name", "payload", "options", "status", "created_at", "scheduled_at", "last_error"}
)
_KNOWN_OPTION_KEYS: Final = frozenset({"max_retries", "retry_count", "timeout", "retry_delay"})


class EnvelopeError(ValueError):
    """A stored job that is not a valid envelope; the message says why."""


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _uint(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise EnvelopeError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def _optional_ms(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise EnvelopeError(f"{name} must be milliseconds or null, got {value!r}")
    return float(value) / 1000.0


def _optional_time(value: Any, name: str) -> int | None:
    if value is None:
        return None
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
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    @classmethod
    def decode(cls, raw: str | bytes) -> Envelope:
        """Parse stored text; raises ``EnvelopeError`` saying what is wrong."""
        try:
            document = json.loads(raw)
        except RecursionError:
            raise EnvelopeError("envelope is nested too deeply to decode") from None
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"envelope is not valid UTF-8: {exc}") from None
        except ValueError as exc:
            raise EnvelopeError(f"envelope is not JSON: {exc}") from None
        if not isinstance(document, dict):
            raise EnvelopeError(f"envelope must be a JSON object, got {type(document).__name__}")
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
        missing = _KNOWN_OPTION_KEYS - options.keys()
        if missing:
            raise EnvelopeError(f"options lack {', '.join(sorted(missing))}")
        status = document.get("status", "Pending")
        if status not in STATUSES:
            raise EnvelopeError(f"unknown status {status!r}")
        last_error = document.get("last_error")
        if last_error is not None and not isinstance(last_error, str):
            raise EnvelopeError(f"last_error must be a string or null, got {last_error!r}")
        created_at = _optional_time(document.get("created_at"), "created_at")
        if created_at is None:
            raise EnvelopeError("envelope has no 'created_at'")
        return cls(
            id=job_id,
            job_name=job_name,
            payload=document["payload"],
            max_retries=_uint(options["max_retries"], "max_retries"),
            retry_count=_uint(options["retry_count"], "retry_count"),
            timeout=_optional_ms(options["timeout"], "timeout"),
            retry_delay=_optional_ms(options["retry_delay"], "retry_delay"),
            status=status,
            created_at=created_at,
            scheduled_at=_optional_time(document.get("scheduled_at"), "scheduled_at"),
            last_error=last_error,
            extra={k: v for k, v in document.items() if k not in _KNOWN_KEYS},
            extra_options={k: v for k, v in options.items() if k not in _KNOWN_OPTION_KEYS},
        )

    def evolve(self, **changes: Any) -> Envelope:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return replace(self, **changes)
