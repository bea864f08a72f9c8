"""``wg worker MODULE:HANDLER``: run a ``WorkerPool`` with handlers from your code.

``HANDLER`` names a function (it serves every job name, or only the ``--job-name``
ones) or a mapping ``{job_name: function}``. The current directory is put on
``sys.path`` first, as ``python -m`` does, so ``wg worker myapp.jobs:handlers`` finds
``./myapp/jobs.py``. SIGINT/SIGTERM drain: no new claims, running jobs get up to
``--shutdown-timeout`` to finish, the rest go back to the front of the queue; a second
signal stops at once. Exit 0 after a clean drain.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from wg_cli.app import app
from wg_cli.commands.common import duration_arg
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stderr_console
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, UrlOpt, resolve
from wg_core import PoolStats, WgError, WorkerPool

__all__ = ["load_target", "worker"]

Routes = tuple[Callable[..., Any] | None, dict[str, Callable[..., Any]] | None]


def load_target(target: str, job_names: list[str]) -> Routes:
    """``(handler, handlers)`` for ``WorkerPool`` from ``MODULE:ATTRIBUTE``."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise CliError(
            f"expected MODULE:HANDLER (e.g. myapp.jobs:send_email), got {target!r}", ExitCode.USAGE
        )
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import {module_name!r}: {exc}", ExitCode.USAGE) from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CliError(
                f"{module_name!r} has no attribute {attribute!r}", ExitCode.USAGE
            ) from None
    if isinstance(obj, Mapping):
        routes = dict(obj)
        if job_names:
            missing = [name for name in job_names if name not in routes]
            if missing:
                raise CliError(
                    f"{target} has no handler for {', '.join(missing)}; "
                    f"it has {', '.join(sorted(routes))}",
                    ExitCode.USAGE,
                )
            routes = {name: routes[name] for name in job_names}
        return None, routes
    if not callable(obj):
        raise CliError(f"{target} is neither a function nor a mapping of them", ExitCode.USAGE)
    if job_names:
        return None, dict.fromkeys(job_names, obj)
    return obj, None


def _stats_document(stats: PoolStats) -> dict[str, int]:
    return {
        "processed": stats.processed,
        "failed": stats.failed,
        "retried": stats.retried,
        "dead": stats.dead,
        "released": stats.released,
        "stale_writes": stats.stale_writes,
    }


@app.command()
def worker(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:HANDLER",
            help="A handler function, or a {job_name: function} mapping, in an importable "
            "module (e.g. wg_cli.demo_jobs:handlers).",
        ),
    ],
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Jobs run at the same time.")
    ] = 4,
    job_names: Annotated[
        list[str] | None,
        typer.Option(
            "--job-name",
            "-j",
            help="Route only these job names (repeatable). Jobs of other names that this "
            "pool claims go to the dead-letter queue, as with WorkerPool(handlers=...).",
        ),
    ] = None,
    shutdown_timeout: Annotated[
        str,
        typer.Option("--shutdown-timeout", help="How long running jobs may finish on SIGTERM."),
    ] = "30s",
    prefetch: Annotated[
        int | None,
        typer.Option(
            "--prefetch",
            min=0,
            help="Jobs this worker may hold leased beyond its free slots while the queue is "
            "deep, so a freed slot starts its next job at once (default: the larger of "
            "--workers and 100; 0: claim only for free slots, e.g. for long jobs spread "
            "over many workers).",
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="Logging level of the wg loggers on stderr.")
    ] = "INFO",
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Process jobs until SIGINT/SIGTERM, then drain and exit 0."""
    settings = resolve(ctx, url, namespace, output, json_output)
    timeout = duration_arg(shutdown_timeout, "--shutdown-timeout")
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise CliError(f"invalid --log-level {log_level!r}: use DEBUG, INFO, WARNING or ERROR")
    handler, handlers = load_target(target, job_names or [])
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("wg").setLevel(level)
    pool = WorkerPool(
        handler,
        handlers=handlers,
        url=settings.url,
        namespace=settings.namespace,
        workers=workers,
        shutdown_timeout=timeout if timeout is not None else 30.0,
        prefetch=prefetch,
    )
    # The pool logs its start (after connecting) and its stop on stderr.
    try:
        asyncio.run(pool.run())
    except RuntimeError as exc:
        # The pool stops when a background task crashes; report the cause (e.g. the
        # backend went away) with its own exit code.
        if isinstance(exc.__cause__, WgError):
            raise exc.__cause__ from None
        raise
    stats = pool.stats
    if settings.output is OutputFormat.JSON:
        emit(document(settings, worker_id=pool.worker_id, stats=_stats_document(stats)))
    elif settings.output is OutputFormat.JSONL:
        emit_line(document(settings, worker_id=pool.worker_id, stats=_stats_document(stats)))
    else:
        stderr_console().print(
            f"worker {pool.worker_id} stopped: {stats.processed} processed, "
            f"{stats.retried} retried, {stats.dead} dead, {stats.released} released."
        )
