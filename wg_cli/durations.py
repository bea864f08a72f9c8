"""Durations and timestamps as people type them, and times as the CLI prints them.

Durations: ``30s``, ``5m``, ``1h30m``, ``2d``, ``250ms``, or a bare number of seconds
(parsed by the core's ``parse_duration``, so ``WG_*`` variables read the same way).
Timestamps (``--at``): ISO 8601; a time without an offset is taken as **UTC**, because
every time wg prints is UTC (RFC 3339 with ``Z``), so a printed time can be pasted back
as it is, whatever the terminal's time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime

from wg_core.options import parse_duration

__all__ = [
    "format_age",
    "format_duration",
    "parse_duration",
    "parse_timestamp",
    "rfc3339",
]


def format_duration(seconds: float) -> str:
    """A short human form: ``45s``, ``3m20s``, ``2h5m``, ``3d4h``; ``250ms`` below 1 s."""
    if seconds < 0:
        seconds = 0.0
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds > 0 else "0s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m{secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def format_age(timestamp: float | None, now: float) -> str:
    """``3m20s ago`` / ``in 5s`` / ``-`` for a Unix time relative to ``now``."""
    if timestamp is None:
        return "-"
    delta = now - timestamp
    if abs(delta) < 1:
        return "now"
    return f"{format_duration(delta)} ago" if delta > 0 else f"in {format_duration(-delta)}"


def parse_timestamp(text: str) -> datetime:
    """An aware datetime from ISO 8601 ``text`` (no offset means UTC)."""
    cleaned = text.strip()
    try:
        # Python 3.11's fromisoformat takes "Z", offsets, "T" or a space, and dates alone.
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time: use e.g. 2026-12-01T09:30:00Z "
            "or 2026-12-01T10:30:00+01:00 (no offset means UTC)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def rfc3339(timestamp: float | None) -> str | None:
    """Unix seconds as RFC 3339 UTC (``2026-11-27T20:39:15Z``; milliseconds when the
    time has a fraction), or ``None``."""
    if timestamp is None:
        return None
    moment = datetime.fromtimestamp(timestamp, UTC)
    spec = "seconds" if float(timestamp).is_integer() else "milliseconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")
