"""``wg enqueue``: add one job, or many from JSON lines on stdin in one atomic batch."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Annotated, Any

import typer

from wg_cli.app import app
from wg_cli.commands.common import (
    duration_arg,
    json_arg,
    priority_arg,
    queue_arg,
    timestamp_arg,
)
from wg_cli.durations import rfc3339
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line
from wg_cli.session import run
from wg_cli.settings import (
    JsonOpt,
    NamespaceOpt,
    OutputFormat,
    OutputOpt,
    Settings,
    UrlOpt,
    resolve,
)
from wg_core import (
    DEFAULT_QUEUE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    Client,
    ConfigError,
    DuplicateJobError,
    JobOptions,
    JobSpec,
)
from wg_core.client import validate_job_id, validate_job_name
from wg_core.envelope import new_job_id
from wg_core.limits import validate_limit_key
from wg_core.options import to_seconds
from wg_core.unique import validate_unique_key

__all__ = ["enqueue"]

_LINE_KEYS = frozenset(
    {
        "job_name",
        "payload",
        "in",
        "at",
        "max_retries",
        "timeout",
        "retry_delay",
        "id",
        "queue",
        "priority",
        "unique_key",
        "unique_for",
        "limit_key",
    }
)


NO_TIMEOUT = -1.0
"""Stands for ``--timeout none``: no limit (``None`` already means "not given")."""


def _timeout_arg(value: str | None) -> float | None:
    if value is not None and value.strip().lower() in ("none", "off"):
        return NO_TIMEOUT
    return duration_arg(value, "--timeout")


def _options(
    max_retries: int | None, timeout: float | None, retry_delay: float | None
) -> JobOptions | None:
    """Options from what was given, the defaults for the rest; ``None`` if nothing was."""
    if max_retries is None and timeout is None and retry_delay is None:
        return None
    defaults = JobOptions()
    if timeout is None:
        timeout = defaults.timeout
    try:
        return JobOptions(
            max_retries=defaults.max_retries if max_retries is None else max_retries,
            timeout=None if timeout == NO_TIMEOUT else timeout,
            retry_delay=defaults.retry_delay if retry_delay is None else retry_delay,
        )
    except ConfigError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None


def _delay(
    in_: float | None, at: datetime | None, now: float, *, what: str | None = None
) -> float | None:
    if in_ is not None and at is not None:
        raise CliError("give --in or --at, not both", ExitCode.USAGE)
    delay = max(0.0, at.timestamp() - now) if at is not None else in_
    if not delay:
        return None
    try:
        # The core's bound (100 years), checked here to name the option that broke it.
        return to_seconds(delay, name=what or ("--at" if at is not None else "--in"))
    except ConfigError as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None


def _line_duration(value: Any, key: str, line: int) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise CliError(f"line {line}: {key} must not be negative", ExitCode.USAGE)
        return float(value)
    if isinstance(value, str):
        return duration_arg(value, f"{key!r} on line {line}")
    raise CliError(f"line {line}: {key} must be a duration string or seconds", ExitCode.USAGE)


def _spec_from_line(
    text: str,
    line: int,
    *,
    job_name: str | None,
    options: JobOptions | None,
    delay: float | None,
    now: float,
) -> JobSpec:
    value = json_arg(text, f"line {line}")
    if job_name is not None:
        return JobSpec(payload=value, job_name=job_name, options=options, delay=delay)
    if not isinstance(value, dict):
        raise CliError(
            f"line {line}: expected an object with job_name and payload "
            "(or give JOB_NAME to read one payload per line)",
            ExitCode.USAGE,
        )
    unknown = set(value) - _LINE_KEYS
    if unknown:
        raise CliError(
            f"line {line}: unknown key(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_LINE_KEYS))}",
            ExitCode.USAGE,
        )
    name = value.get("job_name")
    if not isinstance(name, str) or not name:
        raise CliError(f"line {line}: job_name must be a non-empty string", ExitCode.USAGE)
    job_id = value.get("id")
    if job_id is not None and not isinstance(job_id, str):
        raise CliError(f"line {line}: id must be a string", ExitCode.USAGE)
    try:
        validate_job_name(name)
        job_id = None if job_id is None else validate_job_id(job_id)
    except ConfigError as exc:
        raise CliError(f"line {line}: {exc}", ExitCode.USAGE) from None
    at_value = value.get("at")
    if at_value is not None and not isinstance(at_value, str):
        raise CliError(f"line {line}: at must be an ISO 8601 string", ExitCode.USAGE)
    line_delay = _delay(
        _line_duration(value.get("in"), "in", line),
        timestamp_arg(at_value, f"'at' on line {line}"),
        now,
        what=f"line {line}: the delay",
    )
    max_retries = value.get("max_retries")
    if max_retries is not None and (
        isinstance(max_retries, bool) or not isinstance(max_retries, int)
    ):
        raise CliError(f"line {line}: max_retries must be an integer", ExitCode.USAGE)
    timeout_value = value.get("timeout")
    line_options = _options(
        max_retries,
        # An explicit null lifts the limit, as in the envelope.
        NO_TIMEOUT
        if "timeout" in value and timeout_value is None
        else _line_duration(timeout_value, "timeout", line),
        _line_duration(value.get("retry_delay"), "retry_delay", line),
    )
    return JobSpec(
        payload=value.get("payload", {}),
        job_name=name,
        options=line_options or options,
        delay=line_delay if line_delay is not None else delay,
        job_id=job_id,
        # None: the batch's (--queue/--priority, else default and 0).
        queue=queue_arg(value.get("queue"), f"'queue' on line {line}"),
        priority=priority_arg(value.get("priority"), f"'priority' on line {line}"),
        unique_key=_line_unique_key(value.get("unique_key"), line),
        unique_for=_line_duration(value.get("unique_for"), "unique_for", line),
        limit_key=_line_limit_key(value.get("limit_key"), line),
    )


def _line_unique_key(value: Any, line: int) -> str | None:
    if value is not None and not isinstance(value, str):
        raise CliError(f"line {line}: unique_key must be a string", ExitCode.USAGE)
    try:
        return None if value is None else validate_unique_key(value)
    except ConfigError as exc:
        raise CliError(f"line {line}: {exc}", ExitCode.USAGE) from None


def _line_limit_key(value: Any, line: int) -> str | None:
    try:
        return validate_limit_key(value)
    except ConfigError as exc:
        raise CliError(f"line {line}: {exc}", ExitCode.USAGE) from None


def _report(
    settings: Settings,
    specs: list[JobSpec],
    ids: list[str],
    now: float,
    *,
    queue: str,
    priority: int,
    limit_key: str | None,
) -> None:
    if settings.output in (OutputFormat.TABLE, OutputFormat.ID):
        for spec, job_id in zip(specs, ids, strict=True):
            typer.echo(job_id)
            if job_id != spec.job_id and settings.output is OutputFormat.TABLE:
                typer.echo(f"not stored: job {job_id} holds its unique key", err=True)
        return
    jobs = []
    for spec, job_id in zip(specs, ids, strict=True):
        given = spec.delay
        delay = given.total_seconds() if isinstance(given, timedelta) else float(given or 0)
        jobs.append(
            {
                "id": job_id,
                # False for a duplicate: its unique key was held by the job ``id`` names.
                "created": job_id == spec.job_id,
                "unique_key": spec.unique_key,
                "limit_key": spec.limit_key if spec.limit_key is not None else limit_key,
                "job_name": spec.job_name,
                "queue": spec.queue if spec.queue is not None else queue,
                "priority": spec.priority if spec.priority is not None else priority,
                "state": "scheduled" if delay > 0 else "queued",
                "due_at": rfc3339(round(now + delay, 3)) if delay > 0 else None,
            }
        )
    if settings.output is OutputFormat.JSON:
        emit(document(settings, jobs=jobs))
    else:
        for job in jobs:
            emit_line(job)


@app.command()
def enqueue(
    ctx: typer.Context,
    job_name: Annotated[
        str | None,
        typer.Argument(help="The job's name (what workers route on).", show_default=False),
    ] = None,
    payload: Annotated[
        str | None,
        typer.Argument(
            metavar="[PAYLOAD_JSON | -]",
            help="The payload as JSON ('{}' for none), or - to read it from stdin.",
            show_default=False,
        ),
    ] = None,
    in_: Annotated[
        str | None, typer.Option("--in", help="Run after this delay: 30s, 5m, 1h30m, 2d.")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Run at this ISO 8601 time (no offset means UTC)."),
    ] = None,
    max_retries: Annotated[
        int | None,
        typer.Option("--max-retries", min=0, help="Failed attempts allowed before dead [3]."),
    ] = None,
    timeout: Annotated[
        str | None,
        typer.Option("--timeout", help="Cancel a run after this long, or 'none' [5m]."),
    ] = None,
    retry_delay: Annotated[
        str | None,
        typer.Option("--retry-delay", help="First retry's delay, doubled each time [10s]."),
    ] = None,
    job_id: Annotated[
        str | None, typer.Option("--id", help="Use this job id instead of a new UUID.")
    ] = None,
    queue: Annotated[
        str | None,
        typer.Option(
            "--queue",
            metavar="QUEUE",
            help="The named queue [default]: lowercase letters, digits, _ - . (at most 64).",
            show_default=False,
        ),
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option(
            "--priority",
            metavar="N",
            help=f"Higher runs first within its queue: {MIN_PRIORITY}..{MAX_PRIORITY} [0].",
            show_default=False,
        ),
    ] = None,
    unique_key: Annotated[
        str | None,
        typer.Option(
            "--unique-key",
            metavar="KEY",
            help="Store the job only if no job holds KEY (queued, scheduled, retrying or "
            "running); else print that job's id and store nothing.",
            show_default=False,
        ),
    ] = None,
    unique_for: Annotated[
        str | None,
        typer.Option(
            "--unique-for",
            metavar="DURATION",
            help="Keep --unique-key held this long after the enqueue, even once the job "
            "ended: 30s, 5m, 1h.",
            show_default=False,
        ),
    ] = None,
    limit_key: Annotated[
        str | None,
        typer.Option(
            "--limit-key",
            metavar="KEY",
            help="The key a per-key limit of the queue counts the job(s) under (wg limit).",
            show_default=False,
        ),
    ] = None,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help="Read many jobs from stdin, one JSON line each, and enqueue them in one "
            "atomic batch. With JOB_NAME each line is a payload; without, each line is "
            '{"job_name": ..., "payload": ..., "in"/"at"/"max_retries"/"timeout"/'
            '"retry_delay"/"id"/"queue"/"priority"/"unique_key"/"unique_for"/"limit_key":'
            " optional}.",
        ),
    ] = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Add a job; prints its id (one per line with --jsonl)."""
    settings = resolve(ctx, url, namespace, output, json_output)
    # Checked first: a bad queue or priority stores nothing (exit 2).
    batch_queue = queue_arg(queue) or DEFAULT_QUEUE
    batch_priority = priority_arg(priority) or 0
    try:
        batch_key = validate_limit_key(limit_key)
    except ConfigError as exc:
        raise CliError(f"invalid --limit-key: {exc}", ExitCode.USAGE) from None
    options = _options(
        max_retries, _timeout_arg(timeout), duration_arg(retry_delay, "--retry-delay")
    )
    # One "now" for every delay and for the due times reported, so that `--at T`
    # reports exactly T.
    now = time.time()
    delay = _delay(duration_arg(in_, "--in"), timestamp_arg(at, "--at"), now)
    if job_name is not None:
        validate_job_name(job_name)  # a ConfigError is a usage error (exit 2)
    if job_id is not None:
        job_id = validate_job_id(job_id)
    hold = duration_arg(unique_for, "--unique-for")
    if unique_key is not None:
        validate_unique_key(unique_key)  # a ConfigError is a usage error (exit 2)
    elif hold is not None:
        raise CliError("--unique-for needs --unique-key", ExitCode.USAGE)
    specs: list[JobSpec]
    if jsonl:
        if payload is not None:
            raise CliError("--jsonl reads payloads from stdin: give no PAYLOAD", ExitCode.USAGE)
        if job_id is not None:
            raise CliError("--id names one job: put ids in the lines instead", ExitCode.USAGE)
        specs = [
            _spec_from_line(text, number, job_name=job_name, options=options, delay=delay, now=now)
            for number, text in enumerate(sys.stdin.read().splitlines(), start=1)
            if text.strip()
        ]
    else:
        if job_name is None:
            raise CliError("missing JOB_NAME (see 'wg enqueue --help')", ExitCode.USAGE)
        if payload is None:
            # Never guess: an empty stdin, a forgotten argument and a pipe that is not
            # ready yet would all silently store {}.
            raise CliError(
                "missing PAYLOAD_JSON: give the payload ('{}' for none), or - to read it "
                "from stdin",
                ExitCode.USAGE,
            )
        text = sys.stdin.read() if payload == "-" else payload
        value = json_arg(text, "PAYLOAD_JSON")
        specs = [
            JobSpec(payload=value, job_name=job_name, options=options, delay=delay, job_id=job_id)
        ]

    # Every job gets its id here, so that a duplicate (the id of the job holding its
    # unique key comes back instead) can be told from a stored job.
    # --unique-key and --unique-for are each job's unless its line gives its own.
    specs = [
        replace(
            spec,
            job_id=spec.job_id or new_job_id(),
            unique_key=unique_key if spec.unique_key is None else spec.unique_key,
            unique_for=hold if spec.unique_for is None else spec.unique_for,
        )
        for spec in specs
    ]

    async def body(client: Client) -> list[str]:
        try:
            return await client.enqueue_many(
                specs, queue=batch_queue, priority=batch_priority, limit_key=batch_key
            )
        except DuplicateJobError as exc:
            raise CliError(f"not enqueued: {exc}", ExitCode.FAILURE) from None

    ids = run(settings, body, create=True) if specs else []
    _report(
        settings, specs, ids, now, queue=batch_queue, priority=batch_priority, limit_key=batch_key
    )
