"""``wg health``: exit 0 when the namespace is healthy, 1 with the reasons when not.

For cron jobs, container probes and monitors. Every check is opt-in (a producer-only
namespace has no workers, a batch queue may legitimately hold old jobs); with no
option, health means "the backend answers". An unreachable backend exits 69 as
everywhere else.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.text import Text

from wg_cli.app import app
from wg_cli.commands.common import duration_arg
from wg_cli.commands.status import take_snapshot
from wg_cli.durations import format_duration
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stdout_console
from wg_cli.session import run
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, UrlOpt, resolve

__all__ = ["health"]


@app.command()
def health(
    ctx: typer.Context,
    max_dead: Annotated[
        int | None, typer.Option("--max-dead", min=0, help="Unhealthy above this many dead jobs.")
    ] = None,
    max_queued_age: Annotated[
        str | None,
        typer.Option(
            "--max-queued-age", help="Unhealthy when the oldest queued job waited longer (5m)."
        ),
    ] = None,
    max_heartbeat_age: Annotated[
        str | None,
        typer.Option(
            "--max-heartbeat-age",
            help="Unhealthy unless some worker sent a heartbeat within this (60s).",
        ),
    ] = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Check the namespace; exit 0 when healthy, 1 (with the reasons) when not."""
    settings = resolve(ctx, url, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("health prints no ids: use -o table, json or jsonl", ExitCode.USAGE)
    queued_age_limit = duration_arg(max_queued_age, "--max-queued-age")
    heartbeat_limit = duration_arg(max_heartbeat_age, "--max-heartbeat-age")
    snapshot = run(settings, take_snapshot)

    checks: list[dict[str, Any]] = []
    if max_dead is not None:
        dead = snapshot.counts.dead
        checks.append(
            {
                "check": "dead",
                "ok": dead <= max_dead,
                "value": dead,
                "limit": max_dead,
                "reason": f"{dead} dead jobs (limit {max_dead})",
            }
        )
    if queued_age_limit is not None:
        age = snapshot.oldest_queued_age
        shown = "none queued" if age is None else format_duration(age)
        checks.append(
            {
                "check": "queued_age",
                "ok": age is None or age <= queued_age_limit,
                "value": None if age is None else round(age, 3),
                "limit": queued_age_limit,
                "reason": f"oldest queued job waited {shown} "
                f"(limit {format_duration(queued_age_limit)})",
            }
        )
    if heartbeat_limit is not None:
        ages = [snapshot.taken_at - worker.last_seen for worker in snapshot.workers]
        freshest = min(ages, default=None)
        shown = (
            "no worker registered"
            if freshest is None
            else (f"last worker heartbeat {format_duration(freshest)} ago")
        )
        checks.append(
            {
                "check": "heartbeat_age",
                "ok": freshest is not None and freshest <= heartbeat_limit,
                "value": None if freshest is None else round(max(freshest, 0.0), 3),
                "limit": heartbeat_limit,
                "reason": f"{shown} (limit {format_duration(heartbeat_limit)})",
            }
        )
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
