"""One worker process of ``wg worker``: what it serves, its settings, its run.

``wg worker`` resolves a ``ServeSpec`` (the target, where it connects, the raw setting
flags) and either runs it here (``serve``) or hands it to the supervisor, which starts
``python -m wg_cli.serving`` children and writes the spec to each one's standard input
(never its command line or environment: the URL may carry a password). A child serves
the spec exactly as the parent would have, and stops by itself if its supervisor
disappears (it is re-parented), so a killed supervisor leaves no worker behind.

Targets: ``MODULE:HANDLER`` (a function, or a ``{job_name: function}`` mapping) or
``MODULE:APP`` (a ``wg_core.App``: every task, on the app's URL and namespace unless
``--url``/``--namespace`` are given, claiming from the tasks' queues unless ``--queue``
or ``WG_QUEUES`` says otherwise).
"""

from __future__ import annotations

import asyncio
import enum
import importlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from wg_cli.errors import CliError, ExitCode, report_failure
from wg_cli.output import document, emit, emit_line, stderr_console
from wg_cli.settings import OutputFormat, Settings, configure_logging
from wg_core import (
    App,
    ConfigError,
    Middleware,
    Periodic,
    PoolStats,
    WgError,
    WorkerConfig,
    WorkerPool,
)
from wg_core.settings import settings_to_fields, worker_settings

__all__ = [
    "SETTING_FLAGS",
    "ServeSpec",
    "Target",
    "load_target",
    "serve",
    "stats_document",
]

SETTING_FLAGS: Final = tuple(s for s in worker_settings() if s.name != "namespace")
"""Every ``WorkerConfig`` setting but the namespace (the global ``-n``) as a flag."""

PARENT_CHECK_INTERVAL: Final = 0.5
"""Seconds between a supervised child's checks that its supervisor is alive."""


@dataclass(frozen=True, slots=True)
class Target:
    """What ``MODULE:ATTRIBUTE`` names: routes for ``WorkerPool``, and the app if it is
    one."""

    handler: Callable[..., Any] | None
    handlers: dict[str, Callable[..., Any]] | None
    app: App | None = None


def _import_attribute(
    target: str, example: str = "MODULE:HANDLER or MODULE:APP (e.g. myapp.tasks:app)"
) -> Any:
    """The object ``MODULE:ATTRIBUTE`` names (``example``: what a usage error shows)."""
    module_name, sep, attribute = target.partition(":")
    if not sep or not module_name or not attribute:
        raise CliError(f"expected {example}, got {target!r}", ExitCode.USAGE)
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
    return obj


def load_periodic(targets: list[str]) -> list[Periodic]:
    """The ``Periodic`` entries that ``MODULE:ATTRIBUTE`` targets name (each a
    ``Periodic`` or a list of them)."""
    entries: list[Periodic] = []
    for target in targets:
        obj = _import_attribute(target, "MODULE:ENTRIES (e.g. myapp.jobs:PERIODIC)")
        items = list(obj) if isinstance(obj, list | tuple) else [obj]
        if not all(isinstance(item, Periodic) for item in items):
            raise CliError(f"{target} is neither a Periodic nor a list of them", ExitCode.USAGE)
        entries += items
    return entries


def _only(routes: dict[str, Any], job_names: list[str], target: str) -> dict[str, Any]:
    if not job_names:
        return routes
    missing = [name for name in job_names if name not in routes]
    if missing:
        raise CliError(
            f"{target} has no handler for {', '.join(missing)}; it has {', '.join(sorted(routes))}",
            ExitCode.USAGE,
        )
    return {name: routes[name] for name in job_names}


def load_target(target: str, job_names: list[str]) -> Target:
    """The handlers (and app) that ``MODULE:ATTRIBUTE`` names; ``job_names`` limits them."""
    obj = _import_attribute(target)
    if isinstance(obj, App):
        try:
            handlers = obj.handlers()
        except ConfigError as exc:
            raise CliError(f"{target}: {exc}", ExitCode.USAGE) from None
        return Target(None, _only(handlers, job_names, target), obj)
    if isinstance(obj, Mapping):
        return Target(None, _only(dict(obj), job_names, target))
    if not callable(obj):
        raise CliError(
            f"{target} is neither a function nor a mapping of them, nor a wg App", ExitCode.USAGE
        )
    if job_names:
        return Target(None, dict.fromkeys(job_names, obj))
    return Target(obj, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeSpec:
    """Everything one worker process needs, as JSON (``to_json``/``from_json``)."""

    target: str
    job_names: list[str] = field(default_factory=list)
    url: str
    namespace: str
    flags: dict[str, str | list[str]] = field(default_factory=dict)
    """Raw ``--setting`` texts by setting name, parsed in each process alike."""
    burst: bool = False
    periodic: list[str] = field(default_factory=list)
    """``MODULE:ENTRIES`` targets of ``Periodic`` entries the pool enqueues."""
    log_format: str = "plain"
    metrics_port: int | None = None
    """Serve Prometheus metrics here (a supervised child records, never serves)."""
    metrics: bool = False
    """Record Prometheus metrics (``wg_core.metrics.PrometheusMetrics``)."""
    output: str = OutputFormat.TABLE.value
    log_level: str = "INFO"
    supervised: bool = False

    def to_json(self) -> str:
        """The spec as one JSON text."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeSpec:
        """The spec ``to_json`` wrote."""
        return cls(**json.loads(text))

    @property
    def settings(self) -> Settings:
        """The connection and output settings, as a command's."""
        return Settings(url=self.url, namespace=self.namespace, output=OutputFormat(self.output))

    def config(self) -> WorkerConfig:
        """The ``WorkerConfig``: flags first, then ``WG_*`` variables, then defaults."""
        given = {
            setting.name: setting.parse(text, source=setting.flag)
            for setting in SETTING_FLAGS
            if (text := self.flags.get(setting.name)) is not None
        }
        try:
            return WorkerConfig.from_env(namespace=self.namespace, **settings_to_fields(given))
        except ConfigError as exc:
            raise CliError(_name_the_source(str(exc), given), ExitCode.USAGE) from None


def _name_the_source(message: str, given: Mapping[str, object]) -> str:
    """``message`` (about a field, "lease must be …") prefixed with the flag or the
    variable that set that field."""
    for setting in SETTING_FLAGS:
        if message.startswith(f"{setting.name} "):
            if setting.name in given:
                return f"{setting.flag}: {message}"
            if os.environ.get(setting.env, "").strip():
                return f"{setting.env}: {message}"
    return message


def stats_document(stats: PoolStats) -> dict[str, int]:
    """A pool's counts as they appear in ``wg worker``'s JSON document."""
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


def observers(
    log_format: LogFormat, metrics_port: int | None, *, metrics: bool = False
) -> list[Middleware]:
    """The pool's middleware for ``--log-format json`` (each line names its job) and
    ``--metrics-port`` (Prometheus metrics, served from here on; ``metrics`` without a
    port: recorded for a supervisor to serve)."""
    middleware: list[Middleware] = []
    if log_format is LogFormat.JSON:
        from wg_core.logs import JobLogContext

        middleware.append(JobLogContext())
    if metrics or metrics_port is not None:
        from wg_core.metrics import PrometheusMetrics, serve_metrics

        try:
            middleware.append(PrometheusMetrics())
            if metrics_port is not None:
                serve_metrics(metrics_port)
        except ImportError as exc:  # MissingDependencyError: its message has the pip command
            raise CliError(str(exc), ExitCode.CONFIG) from None
        except OSError as exc:  # the port is taken, say
            raise CliError(f"--metrics-port {metrics_port}: {exc}", ExitCode.CONFIG) from None
    return middleware


def serve(spec: ServeSpec) -> None:
    """Run one pool in this process until it is told to stop (or, in burst mode, has
    nothing left), then print its counts."""
    config = spec.config()
    target = load_target(spec.target, spec.job_names)
    pool = WorkerPool(
        target.handler,
        handlers=target.handlers,
        url=spec.url,
        config=config,
        periodic=load_periodic(spec.periodic),
        middleware=observers(LogFormat(spec.log_format), spec.metrics_port, metrics=spec.metrics),
    )
    # The pool logs its start (after connecting) and its stop on stderr.
    try:
        asyncio.run(_run(pool, burst=spec.burst, supervised=spec.supervised))
    except RuntimeError as exc:
        # The pool stops when a background task crashes; report the cause (e.g. the
        # backend went away) with its own exit code.
        if isinstance(exc.__cause__, WgError):
            raise exc.__cause__ from None
        raise
    stats = pool.stats
    settings = spec.settings
    if settings.output in (OutputFormat.JSON, OutputFormat.JSONL):
        doc = document(settings, worker_id=pool.worker_id, stats=stats_document(stats))
        (emit if settings.output is OutputFormat.JSON else emit_line)(doc)
    elif spec.log_format == LogFormat.PLAIN.value:  # (in JSON, the pool's last line says it)
        stderr_console().print(
            f"worker {pool.worker_id} stopped: {stats.processed} processed, "
            f"{stats.retried} retried, {stats.dead} dead, {stats.released} released."
        )


async def _run(pool: WorkerPool, *, burst: bool, supervised: bool) -> None:
    watcher = asyncio.create_task(_watch_parent(pool)) if supervised else None
    try:
        await pool.run(burst=burst)
    finally:
        if watcher is not None:
            watcher.cancel()


async def _watch_parent(pool: WorkerPool) -> None:
    """Drain and stop once the supervisor is gone (this process was re-parented)."""
    parent = os.getppid()
    while os.getppid() == parent:  # noqa: ASYNC110 - no event says a parent died
        await asyncio.sleep(PARENT_CHECK_INTERVAL)
    pool.shutdown()


def main() -> None:
    """``python -m wg_cli.serving``: a supervised child, its spec on standard input."""
    spec = ServeSpec.from_json(sys.stdin.read())
    sys.stdin.close()
    json_mode = spec.output in (OutputFormat.JSON.value, OutputFormat.JSONL.value)
    try:
        configure_logging(spec.log_level, json_lines=spec.log_format == LogFormat.JSON.value)
        serve(spec)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        sys.exit(report_failure(exc, json_mode=json_mode, urls=(spec.url,)))
    sys.exit(0)


if __name__ == "__main__":
    main()
