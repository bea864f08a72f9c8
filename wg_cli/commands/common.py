"""Option parsing shared by several commands: durations, times, JSON payloads."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from wg_cli.durations import parse_duration, parse_timestamp
from wg_cli.errors import CliError, ExitCode

__all__ = ["duration_arg", "json_arg", "timestamp_arg"]


def duration_arg(value: str | None, option: str) -> float | None:
    """``value`` in seconds, or a usage error naming ``option``."""
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise CliError(f"invalid {option}: {exc}", ExitCode.USAGE) from None


def timestamp_arg(value: str | None, option: str) -> datetime | None:
    """``value`` as an aware datetime, or a usage error naming ``option``."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise CliError(f"invalid {option}: {exc}", ExitCode.USAGE) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def json_arg(text: str, what: str) -> Any:
    """``text`` parsed as strict JSON (no NaN/Infinity), or a usage error naming ``what``."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise CliError(f"{what} is nested too deeply", ExitCode.USAGE) from None
    except ValueError as exc:
        raise CliError(f"{what} is not valid JSON: {exc}", ExitCode.USAGE) from None
