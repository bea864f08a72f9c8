"""``wg worker TARGET``: run a ``WorkerPool`` with handlers from your code.

``TARGET`` is ``MODULE:HANDLER``: a function (it serves every job name, or only the
``--job-name`` ones) or a mapping ``{job_name: function}``; or ``MODULE:APP``, a
``wg_core.App`` whose tasks it serves, on the app's URL and namespace unless
``--url``/``--namespace`` are given (see ``wg_cli.serving``). The current directory is
put on ``sys.path`` first, as ``python -m`` does, so ``wg worker myapp.jobs:handlers``
finds ``./myapp/jobs.py``. SIGINT/SIGTERM drain: no new claims, running jobs get up to
``--shutdown-timeout`` to finish, the rest go back to the front of the queue; a second
signal stops at once. Exit 0 after a clean drain. ``--burst`` stops once nothing is
ready; ``--periodic MODULE:ENTRIES`` adds ``Periodic`` entries (a ``Periodic``
or a list of them) that the pool enqueues on their schedules; ``--processes N`` runs
N worker processes under a supervisor (``wg_cli.supervisor``).

Every ``WorkerConfig`` setting is a flag (``--lease 1m``) and a ``WG_*`` variable
(``WG_LEASE=1m``), derived from ``wg_core.settings.worker_settings()``: the flag wins,
then the variable, then the default.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any, Final

import typer

from wg_cli.app import app
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line
from wg_cli.serving import (
    SETTING_FLAGS,
    LogFormat,
    ServeSpec,
    load_periodic,
    load_target,
    serve,
)
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
from wg_cli.supervisor import GaveUpError, Supervisor
from wg_core.settings import WorkerSetting

__all__ = ["load_periodic", "load_target", "worker"]

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


def worker(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:HANDLER|MODULE:APP",
            help="A handler function, a {job_name: function} mapping, or a wg App (every "
            "task), in an importable module (e.g. wg_cli.demo_jobs:handlers, "
            "myapp.tasks:app).",
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
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            metavar="N",
            help="Run N worker processes under a supervisor that restarts any that dies, "
            "forwards SIGINT/SIGTERM so all drain, and exits 0 once they have.",
            show_default=False,
        ),
    ] = None,
    burst: Annotated[
        bool,
        typer.Option(
            "--burst",
            help="Process the jobs that are ready (including scheduled jobs and retries "
            "that come due meanwhile), then exit 0 once nothing is ready (CI, cron).",
        ),
    ] = False,
    periodic: Annotated[
        list[str] | None,
        typer.Option(
            "--periodic",
            metavar="MODULE:ENTRIES",
            help="Periodic entries this pool also enqueues on their schedules: a Periodic or "
            "a list of them (repeatable; docs/periodic.md).",
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
    """Process jobs until SIGINT/SIGTERM (or, with --burst, until none is ready), then
    drain and exit 0.

    Every WorkerConfig setting is a flag below and a WG_* environment variable
    (flag first, then the variable, then the default), e.g. --lease 1m or WG_LEASE=1m.
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    if processes is not None and processes < 1:
        raise CliError(f"--processes must be at least 1, got {processes}", ExitCode.USAGE)
    level = log_level or settings.log_level or "INFO"
    configure_logging(level, json_lines=log_format is LogFormat.JSON)
    flags = {name: text for name, text in setting_flags.items() if text is not None}
    spec = ServeSpec(
        target=target,
        job_names=job_names or [],
        url=settings.url,
        namespace=settings.namespace,
        flags=flags,
        burst=burst,
        periodic=periodic or [],
        log_format=log_format.value,
        metrics_port=metrics_port,
        metrics=metrics_port is not None,
        output=settings.output.value,
        log_level=level,
    )
    spec.config()  # refuse bad settings before importing anything
    loaded = load_target(target, spec.job_names)
    load_periodic(spec.periodic)  # a bad --periodic is a usage error before any process starts
    if loaded.app is not None:
        # The app's URL, namespace and queues, unless given here.
        spec = replace(
            spec,
            url=settings.url if _given(ctx, "url", url) else loaded.app.url,
            namespace=(
                settings.namespace if _given(ctx, "namespace", namespace) else loaded.app.namespace
            ),
            flags=_with_app_queues(flags, loaded.app.queues),
        )
    if processes is None:
        serve(spec)
    else:
        _supervise(spec, processes)


def _given(ctx: typer.Context, name: str, value: object) -> bool:
    """Whether the option was given on the command line (after the command, or before
    it to the root ``wg``)."""
    if value is not None:
        return True
    # (Compared by name: Typer may carry its own copy of Click's enum.)
    source = ctx.find_root().get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


def _with_app_queues(flags: dict[str, Any], queues: tuple[str, ...]) -> dict[str, Any]:
    if "queues" in flags or os.environ.get("WG_QUEUES", "").strip():
        return flags
    return {**flags, "queues": list(queues)}


def _serve_merged_metrics(port: int) -> Callable[[int], None]:
    """Serve the sum of the worker processes' metrics on ``port`` from the supervisor
    (prometheus-client's multiprocess mode, in a fresh directory the children inherit);
    what to call when a child exits."""
    try:
        from wg_core.metrics import prepare_multiprocess, process_exited, serve_metrics

        prepare_multiprocess(tempfile.mkdtemp(prefix="wg-metrics-"))
        serve_metrics(port)
    except ImportError as exc:  # MissingDependencyError: its message has the pip command
        raise CliError(str(exc), ExitCode.CONFIG) from None
    except OSError as exc:  # the port is taken, say
        raise CliError(f"--metrics-port {port}: {exc}", ExitCode.CONFIG) from None
    return process_exited


def _supervise(spec: ServeSpec, processes: int) -> None:
    machine = spec.output != OutputFormat.TABLE.value
    on_exit = _serve_merged_metrics(spec.metrics_port) if spec.metrics_port is not None else None
    child = replace(
        spec,
        supervised=True,
        metrics_port=None,  # the children record; the supervisor serves their sum
        # One JSON line per child, gathered into one document here.
        output=OutputFormat.JSONL.value if machine else spec.output,
    )
    supervisor = Supervisor(
        [sys.executable, "-m", "wg_cli.serving"],
        processes,
        stdin=child.to_json().encode(),
        capture=machine,
        on_exit=on_exit,
    )
    try:
        code = supervisor.run()
    except GaveUpError as exc:
        raise CliError(str(exc), ExitCode.FAILURE) from None
    if machine:
        workers = [json.loads(line) for line in supervisor.outputs if line.startswith("{")]
        doc = document(
            spec.settings,
            processes=processes,
            restarts=supervisor.restarts,
            workers=[{"worker_id": w.get("worker_id"), "stats": w.get("stats")} for w in workers],
        )
        (emit if spec.output == OutputFormat.JSON.value else emit_line)(doc)
    if code != 0:
        raise CliError("a worker process did not stop cleanly (see above)", ExitCode.FAILURE)


# Typer reads the signature: the settings' flags join the declared parameters, so a
# field added to WorkerConfig gets its flag here without touching this module.
_signature = inspect.signature(worker, eval_str=True)
_declared = [p for p in _signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
worker.__signature__ = _signature.replace(  # type: ignore[attr-defined]
    parameters=[*_declared, *(_setting_parameter(s) for s in SETTING_FLAGS)]
)
app.command()(worker)
