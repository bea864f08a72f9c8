"""``wg result``: print what a completed job returned, waiting for it if asked.

The result is printed as JSON on stdout, alone, so that a script can pipe it
(``wg result ID | jq .total``); ``-o json`` wraps it in the versioned document. A job
that ended without completing is exit 7 (dead or cancelled: the JSON error's ``kind``,
``job_dead`` or ``job_cancelled``, says which), one that has not finished yet exit 8
(after ``--wait``, or at once without it), an unknown id exit 4: completed and
cancelled jobs are kept only for their retention period.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from wg_cli.app import app
from wg_cli.commands.common import duration_arg
from wg_cli.errors import CliError, ExitCode
from wg_cli.output import document, emit, emit_line
from wg_cli.session import check_ids, run
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, UrlOpt, resolve
from wg_core import Client, JobNotFoundError

__all__ = ["result"]


@app.command()
def result(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.")],
    wait: Annotated[
        str | None,
        typer.Option(
            "--wait",
            "-w",
            metavar="DURATION",
            help="Wait up to DURATION (30s, 5m, 1h) for the job to finish [default: do not wait].",
            show_default=False,
        ),
    ] = None,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Print a completed job's result (its handler's return value) as JSON.

    Exit 7 if the job is dead or cancelled (it has no result), 8 if it has not
    finished (within --wait), 4 if no job has that id (never stored, or deleted once
    its retention ran out).
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("result prints no ids: use -o table, json or jsonl", ExitCode.USAGE)
    [job_id] = check_ids([job_id.strip()])
    timeout = duration_arg(wait, "--wait") or 0.0

    async def body(client: Client) -> Any:
        try:
            return await client.result(job_id, timeout=timeout)
        except JobNotFoundError:
            raise CliError(
                f"no job {job_id!r} in namespace {settings.namespace!r} (never stored, or "
                "deleted: completed and cancelled jobs are kept for their retention period)",
                ExitCode.NOT_FOUND,
            ) from None
        except TimeoutError:
            job = await client.get_job(job_id)
            state = "gone" if job is None else str(job.state)
            hint = f"after waiting {wait}" if timeout else "give --wait 30s to wait for it"
            raise CliError(
                f"job {job_id} has not finished (it is {state}): no result yet, {hint}",
                ExitCode.TIMED_OUT,
            ) from None

    value = run(settings, body)
    if settings.output is OutputFormat.JSON:
        emit(document(settings, id=job_id, state="completed", result=value))
    elif settings.output is OutputFormat.JSONL:
        emit_line(value)
    else:
        typer.echo(json.dumps(value, indent=2, ensure_ascii=False))
