"""Option parsing shared by several commands: durations, times, JSON payloads, queues."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer

from wg_cli.durations import parse_duration, parse_timestamp
from wg_cli.errors import CliError, ExitCode
from wg_core import ConfigError
from wg_core.queues import validate_priority, validate_queue

__all__ = [
    "QueueFilterOpt",
    "duration_arg",
    "json_arg",
    "priority_arg",
    "queue_arg",
    "timestamp_arg",
]

QueueFilterOpt = Annotated[
    str | None,
    typer.Option(
        "--queue",
        metavar="QUEUE",
        help="Only this queue's jobs (default: every queue).",
        show_default=False,
    ),
]


def queue_arg(value: str | None, option: str = "--queue") -> str | None:
    """``value`` if it is a valid queue name (``wg_core.queues``), or a usage error
    naming ``option``: checked before anything is read or stored."""
    if value is None:
        return None
    try:
        return validate_queue(value)
    except ConfigError as exc:
        raise CliError(f"invalid {option}: {exc}", ExitCode.USAGE) from None


def priority_arg(value: object, option: str = "--priority") -> int | None:
    """``value`` if it is an allowed priority, or a usage error naming ``option``."""
    if value is None:
        return None
    try:
        return validate_priority(value)
    except ConfigError as exc:
        raise CliError(f"invalid {option}: {exc}", ExitCode.USAGE) from None


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
