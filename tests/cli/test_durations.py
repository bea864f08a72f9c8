"""Durations, timestamps and redaction as the CLI parses and prints them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from wg_cli.durations import format_age, format_duration, parse_duration, parse_timestamp, rfc3339
from wg_cli.errors import redact_text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("250ms", 0.25),
        ("1.5h", 5400),
        ("45", 45),
        ("0.5", 0.5),
        (" 2M ", 120),
        ("1h 5m", 3900),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5x", "m5", "-3s", "1h-5m", "nan", "inf", "5 minutes"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (45, "45s"), (200, "3m20s"), (3600, "1h"), (7500, "2h5m")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert format_duration(86400 * 3 + 3600 * 4) == "3d4h"


def test_format_age() -> None:
    assert format_age(None, 100.0) == "-"
    assert format_age(40.0, 100.0) == "1m ago"
    assert format_age(105.0, 100.0) == "in 5s"
    assert format_age(99.5, 100.0) == "now"


def test_parse_timestamp() -> None:
    assert parse_timestamp("2026-12-01T09:00:00Z") == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert parse_timestamp("2026-12-01 09:00") == datetime(2026, 12, 1, 9, tzinfo=UTC)
    plus_one = parse_timestamp("2026-12-01T10:00:00+01:00")
    assert plus_one.tzinfo == timezone(timedelta(hours=1))
    assert plus_one == datetime(2026, 12, 1, 9, tzinfo=UTC)
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_timestamp("next tuesday")


def test_rfc3339() -> None:
    assert rfc3339(None) is None
    assert rfc3339(0) == "1970-01-01T00:00:00Z"
    assert rfc3339(1.5) == "1970-01-01T00:00:01.500Z"


def test_redact_text() -> None:
    url = "postgresql://app:hunter2@db/app"
    assert redact_text(f"cannot reach {url}: refused") == (
        "cannot reach postgresql://app:***@db/app: refused"
    )
    assert redact_text("password 'hunter2' rejected", url) == "password '***' rejected"
    assert redact_text("nothing secret here", "sqlite:wg.db") == "nothing secret here"
