"""``wg worker MODULE:HANDLER``: run a ``WorkerPool`` with handlers from your code.

``HANDLER`` names a function (it serves every job name, or only the ``--job-name``
ones) or a mapping ``{job_name: function}``. The current directory is put on
``sys.path`` first, as ``python -m`` does, so ``wg worker myapp.jobs:handlers`` finds
``./myapp/jobs.py``. SIGINT/SIGTERM drain: no new claims, running jobs get up to
``--shutdown-timeout`` to finish, the rest go back to the front of the queue; a second
signal stops at once. Exit 0 after a clean drain.

Every ``WorkerConfig`` setting is a flag (``--lease 1m``) and a ``WG_*`` variable
(``WG_LEASE=1m``), derived from ``wg_core.settings.worker_settings()``: the flag wins,
then the variable, then the default.
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final

import typer

from wg_cli.app import app
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stderr_console
from wg_cli.settings import (
    JsonOpt,
    LogLevelOpt,
    NamespaceOpt,
    OutputFormat,
    OutputOpt,
    UrlOpt,
    configure_logging,
    resolve,
)
from wg_core import ConfigError, Middleware, PoolStats, WgError, WorkerConfig, WorkerPool
from wg_core.settings import WorkerSetting, settings_to_fields, worker_settings

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


class LogFormat(enum.StrEnum):
    """How ``wg worker`` writes its log lines on stderr."""

    PLAIN = "plain"
    JSON = "json"


def observers(log_format: LogFormat, metrics_port: int | None) -> list[Middleware]:
    """The pool's middleware for ``--log-format json`` (each line names its job) and
    ``--metrics-port`` (Prometheus metrics, served from here on)."""
    middleware: list[Middleware] = []
    if log_format is LogFormat.JSON:
        from wg_core.logs import JobLogContext

        middleware.append(JobLogContext())
    if metrics_port is not None:
        from wg_core.metrics import PrometheusMetrics, serve_metrics

        try:
            middleware.append(PrometheusMetrics())
            serve_metrics(metrics_port)
        except ImportError as exc:  # MissingDependencyError: its message has the pip command
            raise CliError(str(exc), ExitCode.CONFIG) from None
        except OSError as exc:  # the port is taken, say
            raise CliError(f"--metrics-port {metrics_port}: {exc}", ExitCode.CONFIG) from None
    return middleware


_SETTING_FLAGS: Final = tuple(s for s in worker_settings() if s.name != "namespace")
"""Every ``WorkerConfig`` setting but the namespace (the global ``-n``) as a flag."""
PANEL: Final = "Worker settings (flag > WG_* variable > default)"


def _setting_parameter(setting: WorkerSetting) -> inspect.Parameter:
    names = [setting.flag, "-w"] if setting.name == "workers" else [setting.flag]
    metavar = {"duration": "DURATION", "int": "N", "fraction": "FRACTION", "queues": "QUEUE"}.get(
        setting.kind, "TEXT"
    )
    option = typer.Option(
        *names,
        metavar=f"{metavar}|none" if setting.optional else metavar,
        # "\\[": a literal bracket, not Rich markup.
        help=f"{setting.help}. \\[env: {setting.env}; default: {setting.show_default()}]",
        rich_help_panel=PANEL,
        show_default=False,
    )
    # A list setting (--queue) is given once per item, in order.
    kind: Any = list[str] | None if setting.repeatable else str | None
    return inspect.Parameter(
        setting.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind, option],
    )


def _name_the_source(message: str, given: Mapping[str, object]) -> str:
    """``message`` (about a field, "lease must be …") prefixed with the flag or the
    variable that set that field."""
    for setting in _SETTING_FLAGS:
        if message.startswith(f"{setting.name} "):
            if setting.name in given:
                return f"{setting.flag}: {message}"
            if os.environ.get(setting.env, "").strip():
                return f"{setting.env}: {message}"
    return message


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
    job_names: Annotated[
        list[str] | None,
        typer.Option(
            "--job-name",
            "-j",
            help="Route only these job names (repeatable). Jobs of other names that this "
            "pool claims go to the dead-letter queue, as with WorkerPool(handlers=...).",
        ),
    ] = None,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format",
            envvar="WG_LOG_FORMAT",
            case_sensitive=False,
            help="plain (for people) or json (one object per line on stderr, naming the "
            "job a line was logged for).",
        ),
    ] = LogFormat.PLAIN,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="WG_METRICS_PORT",
            metavar="PORT",
            min=0,
            max=65535,
            help="Serve Prometheus metrics on http://0.0.0.0:PORT/metrics "
            "(needs pip install 'wg[metrics]'; see docs/metrics.md).",
        ),
    ] = None,
    log_level: LogLevelOpt = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
    **setting_flags: str | list[str] | None,
) -> None:
    """Process jobs until SIGINT/SIGTERM, then drain and exit 0.

    Every WorkerConfig setting is a flag below and a WG_* environment variable
    (flag first, then the variable, then the default), e.g. --lease 1m or WG_LEASE=1m.
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    configure_logging(
        log_level or settings.log_level or "INFO", json_lines=log_format is LogFormat.JSON
    )
    given = {
        setting.name: setting.parse(text, source=setting.flag)
        for setting in _SETTING_FLAGS
        if (text := setting_flags.get(setting.name)) is not None
    }
    try:
        config = WorkerConfig.from_env(namespace=settings.namespace, **settings_to_fields(given))
    except ConfigError as exc:
        raise CliError(_name_the_source(str(exc), given), ExitCode.USAGE) from None
    handler, handlers = load_target(target, job_names or [])
    pool = WorkerPool(
        handler,
        handlers=handlers,
        url=settings.url,
        config=config,
        middleware=observers(log_format, metrics_port),
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
    elif log_format is LogFormat.PLAIN:  # (in JSON, the pool's own last line says it)
        stderr_console().print(
            f"worker {pool.worker_id} stopped: {stats.processed} processed, "
            f"{stats.retried} retried, {stats.dead} dead, {stats.released} released."
        )


# Typer reads the signature: the settings' flags join the declared parameters, so a
# field added to WorkerConfig gets its flag here without touching this module.
_signature = inspect.signature(worker, eval_str=True)
_declared = [p for p in _signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
worker.__signature__ = _signature.replace(  # type: ignore[attr-defined]
    parameters=[*_declared, *(_setting_parameter(s) for s in _SETTING_FLAGS)]
)
app.command()(worker)
