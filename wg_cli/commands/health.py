"""``wg health``: exit 0 when the namespace is healthy, 1 with the reasons when not.

For cron jobs, container probes and monitors. With no option it checks, by default:

- **dead**: no dead job (``--max-dead 0``). A dead job waits for a person (retry or
  purge it), so the dead-letter queue counts as a problem until someone looks.
- **queued_age**: the oldest queued job has waited at most 5 minutes
  (``--max-queued-age 5m``): the workers keep up.
- **heartbeat_age**: when jobs are waiting or running, some worker sent a heartbeat
  within 60 seconds (``--max-heartbeat-age 60s``; workers beat every 10 s): ready jobs
  with no live worker never run. ``--require-worker`` fails without a live worker even
  when nothing is waiting (a probe for "a worker is up").

Each limit takes ``none`` to turn its check off (a batch queue may hold old jobs on
purpose; ``--max-dead none`` for a namespace whose dead jobs are reviewed elsewhere).
A namespace that does not exist exits 4, an unreachable backend 69, one that refuses
the configuration 78, as everywhere else. Reading creates nothing.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import typer
from rich.text import Text

from wg_cli.app import app
from wg_cli.commands.common import duration_arg
from wg_cli.commands.status import Snapshot, take_snapshot
from wg_cli.durations import format_duration
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stdout_console
from wg_cli.session import run
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, UrlOpt, resolve

__all__ = ["DEFAULT_MAX_DEAD", "DEFAULT_MAX_HEARTBEAT_AGE", "DEFAULT_MAX_QUEUED_AGE", "health"]

DEFAULT_MAX_DEAD: Final = "0"
DEFAULT_MAX_QUEUED_AGE: Final = "5m"
DEFAULT_MAX_HEARTBEAT_AGE: Final = "60s"
_OFF: Final = ("none", "off")


def _limit_count(value: str) -> int | None:
    if value.strip().lower() in _OFF:
        return None
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise CliError(
            f"invalid --max-dead {value!r}: a number of jobs (0 or more) or none", ExitCode.USAGE
        )
    return count


def _limit_duration(value: str, option: str) -> float | None:
    if value.strip().lower() in _OFF:
        return None
    return duration_arg(value, option)


def _dead_check(snapshot: Snapshot, limit: int) -> dict[str, Any]:
    dead = snapshot.counts.dead
    return {
        "check": "dead",
        "ok": dead <= limit,
        "value": dead,
        "limit": limit,
        "reason": f"{dead} dead jobs (limit {limit})",
    }


def _queued_age_check(snapshot: Snapshot, limit: float) -> dict[str, Any]:
    age = snapshot.oldest_queued_age
    shown = "none queued" if age is None else format_duration(age)
    return {
        "check": "queued_age",
        "ok": age is None or age <= limit,
        "value": None if age is None else round(age, 3),
        "limit": limit,
        "reason": f"oldest queued job waited {shown} (limit {format_duration(limit)})",
    }


def _heartbeat_check(snapshot: Snapshot, limit: float, *, require: bool) -> dict[str, Any]:
    ages = [snapshot.taken_at - worker.last_seen for worker in snapshot.workers]
    freshest = min(ages, default=None)
    live = freshest is not None and freshest <= limit
    waiting = snapshot.counts.queued + snapshot.counts.running
    if freshest is None:
        shown = "no worker registered"
    else:
        shown = f"last worker heartbeat {format_duration(max(freshest, 0.0))} ago"
    if not live and waiting:
        shown = f"{waiting} job(s) queued or running and {shown}"
    return {
        "check": "heartbeat_age",
        "ok": live or (not waiting and not require),
        "value": None if freshest is None else round(max(freshest, 0.0), 3),
        "limit": limit,
        "reason": f"{shown} (limit {format_duration(limit)})",
    }


@app.command()
def health(
    ctx: typer.Context,
    max_dead: Annotated[
        str,
        typer.Option("--max-dead", metavar="N|none", help="Unhealthy above this many dead jobs."),
    ] = DEFAULT_MAX_DEAD,
    max_queued_age: Annotated[
        str,
        typer.Option(
            "--max-queued-age",
            metavar="DURATION|none",
            help="Unhealthy when the oldest queued job waited longer.",
        ),
    ] = DEFAULT_MAX_QUEUED_AGE,
    max_heartbeat_age: Annotated[
        str,
        typer.Option(
            "--max-heartbeat-age",
            metavar="DURATION|none",
            help="Unhealthy when jobs are queued or running and no worker sent a heartbeat "
            "within this.",
        ),
    ] = DEFAULT_MAX_HEARTBEAT_AGE,
    require_worker: Annotated[
        bool,
        typer.Option(
            "--require-worker",
            help="Unhealthy without a live worker even when no job is waiting.",
        ),
    ] = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Check the namespace; exit 0 when healthy, 1 (with the reasons) when not.

    By default: no dead job, the oldest queued job waited at most 5m, and a worker
    heartbeat within 60s whenever jobs are waiting. Give none to turn a check off.
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("health prints no ids: use -o table, json or jsonl", ExitCode.USAGE)
    dead_limit = _limit_count(max_dead)
    queued_age_limit = _limit_duration(max_queued_age, "--max-queued-age")
    heartbeat_limit = _limit_duration(max_heartbeat_age, "--max-heartbeat-age")
    if require_worker and heartbeat_limit is None:
        raise CliError("--require-worker needs a --max-heartbeat-age", ExitCode.USAGE)
    snapshot = run(settings, take_snapshot)

    checks: list[dict[str, Any]] = []
    if dead_limit is not None:
        checks.append(_dead_check(snapshot, dead_limit))
    if queued_age_limit is not None:
        checks.append(_queued_age_check(snapshot, queued_age_limit))
    if heartbeat_limit is not None:
        checks.append(_heartbeat_check(snapshot, heartbeat_limit, require=require_worker))
    healthy = all(check["ok"] for check in checks)
    reasons = [check["reason"] for check in checks if not check["ok"]]
    if settings.output is OutputFormat.JSON:
        emit(document(settings, healthy=healthy, reasons=reasons, checks=checks))
    elif settings.output is OutputFormat.JSONL:
        emit_line(document(settings, healthy=healthy, reasons=reasons, checks=checks))
    else:
        console = stdout_console()
        for check in checks:
            mark = Text("ok  ", "green") if check["ok"] else Text("FAIL", "bold red")
            console.print(Text.assemble(mark, " ", check["reason"]))
        if healthy:
            console.print(Text(f"healthy: namespace {settings.namespace!r}", "green"))
    if not healthy:
        raise CliError("unhealthy: " + "; ".join(reasons), ExitCode.FAILURE)
