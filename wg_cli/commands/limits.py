"""``wg limit``: global concurrency and rate limits per queue (issue 20), set, listed
and cleared. Every worker pool of the namespace obeys a queue's limit: the backend
counts it when a job is claimed (``wg_core.limits``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich.table import Table

from wg_cli.app import app
from wg_cli.commands.common import queue_arg
from wg_cli.durations import format_duration, parse_duration
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, emit_listing, print_ids, stdout_console
from wg_cli.session import run
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, UrlOpt, resolve
from wg_core import Client, QueueLimit

__all__ = ["limit_app", "limit_document", "parse_rate", "rate_text"]

limit_app = typer.Typer(
    name="limit",
    help="Limit how many jobs of a queue run at once, or start per second, across all workers.",
    no_args_is_help=True,
)
app.add_typer(limit_app)

QueueArg = Annotated[str, typer.Argument(metavar="QUEUE", help="The named queue.")]


def parse_rate(text: str) -> tuple[int, float]:
    """``N/WINDOW`` (``20/1s``, ``100/1m``, ``5/s``) or ``N`` (per second): the count
    and the window in seconds; ``ValueError`` otherwise."""
    count_text, _, window_text = text.strip().partition("/")
    try:
        count = int(count_text)
    except ValueError:
        raise ValueError(f"a rate is N/WINDOW (e.g. 20/1s), not {text!r}") from None
    window_text = window_text.strip() or "1s"
    if window_text.isalpha():  # "s", "m", "h": one of them
        window_text = "1" + window_text
    window = parse_duration(window_text)
    return count, window


def rate_text(limit: QueueLimit) -> str:
    """``20/1s``-style text of a limit's rate ("-" for none)."""
    if limit.rate is None or limit.per is None:
        return "-"
    return f"{limit.rate}/{format_duration(limit.per)}"


def limit_document(limit: QueueLimit) -> dict[str, Any]:
    """One limit as JSON, with its use."""
    return {
        "queue": limit.queue,
        "concurrency": limit.concurrency,
        "rate": limit.rate,
        "per": limit.per,
        "per_key": limit.per_key,
        "running": limit.running,
        "started": limit.started,
        "keys": limit.keys,
    }


def limits_table(limits: Sequence[QueueLimit]) -> Table:
    """The limits with their use, one row per queue."""
    table = Table(title="Queue limits", title_justify="left")
    for column in ("queue", "concurrency", "running", "rate", "started", "per key"):
        table.add_column(column, justify="left" if column == "queue" else "right")
    for limit in limits:
        table.add_row(
            limit.queue,
            "-" if limit.concurrency is None else str(limit.concurrency),
            str(limit.running),
            rate_text(limit),
            str(limit.started) if limit.rate is not None else "-",
            f"yes ({limit.keys} running)" if limit.per_key else "no",
        )
    return table


@limit_app.command("set")
def limit_set(
    ctx: typer.Context,
    queue: QueueArg,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", "-c", metavar="N", help="At most N jobs running at once."),
    ] = None,
    rate: Annotated[
        str | None,
        typer.Option(
            "--rate", "-r", metavar="N/WINDOW", help="At most N jobs started per window (20/1s)."
        ),
    ] = None,
    per_key: Annotated[
        bool,
        typer.Option("--per-key", help="Apply each limit to each job's limit key separately."),
    ] = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Limit QUEUE across every worker (replaces its limit; the queue need not exist)."""
    settings = resolve(ctx, url, namespace, output, json_output)
    name = queue_arg(queue, "QUEUE")
    assert name is not None
    count: int | None = None
    window: float | None = None
    try:
        if rate is not None:
            count, window = parse_rate(rate)
    except ValueError as exc:
        raise CliError(f"invalid --rate: {exc}", ExitCode.USAGE) from None
    if concurrency is None and count is None:
        raise CliError("give --concurrency N, --rate N/WINDOW, or both", ExitCode.USAGE)

    async def body(client: Client) -> QueueLimit:
        return await client.set_limit(
            name, concurrency=concurrency, rate=count, per=window, per_key=per_key
        )

    limit = run(settings, body, create=True)
    if settings.machine:
        (emit if settings.output is OutputFormat.JSON else emit_line)(
            document(settings, limit=limit_document(limit))
        )
    elif settings.output is OutputFormat.ID:
        print_ids([limit.queue])
    else:
        parts = []
        if limit.concurrency is not None:
            parts.append(f"{limit.concurrency} running at once")
        if limit.rate is not None:
            parts.append(f"{rate_text(limit)} started")
        scope = " per limit key" if limit.per_key else ""
        stdout_console().print(
            f"Queue {limit.queue!r} of namespace {settings.namespace!r} limited to "
            f"{' and '.join(parts)}{scope}. Undo with: wg limit clear {limit.queue}"
        )


@limit_app.command("ls")
def limit_ls(
    ctx: typer.Context,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """The namespace's queue limits and how much of each is in use."""
    settings = resolve(ctx, url, namespace, output, json_output)

    async def body(client: Client) -> list[QueueLimit]:
        return await client.limits()

    emit_listing(
        settings,
        "limits",
        run(settings, body),
        to_document=limit_document,
        to_id=lambda limit: limit.queue,
        empty=f"No queue limits in namespace {settings.namespace!r}.",
        table=limits_table,
    )


@limit_app.command("clear")
def limit_clear(
    ctx: typer.Context,
    queue: QueueArg,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Remove QUEUE's limit (its jobs run as fast as workers take them again)."""
    settings = resolve(ctx, url, namespace, output, json_output)
    name = queue_arg(queue, "QUEUE")
    assert name is not None

    async def body(client: Client) -> bool:
        return await client.clear_limit(name)

    had = run(settings, body)
    if settings.machine:
        (emit if settings.output is OutputFormat.JSON else emit_line)(
            document(settings, queue=name, cleared=had)
        )
    elif settings.output is OutputFormat.ID:
        print_ids([name] if had else [])
    elif had:
        stdout_console().print(
            f"Queue {name!r} of namespace {settings.namespace!r}: limit removed."
        )
    else:
        stdout_console().print(f"Queue {name!r} had no limit.", style="dim")
