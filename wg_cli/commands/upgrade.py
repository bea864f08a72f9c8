"""``wg upgrade``: bring a namespace's storage layout up to this wg's, in place.

Readers (``status``, ``inspect``, the TUI…) never upgrade: on a namespace of an older
layout they stop with exit 6 and name this command. A writer's open (``wg worker``,
``wg enqueue``, ``WorkerPool``) upgrades it too, so running this first is optional; it
exists so that an operator decides when, sees the versions, and can try it on a copy.
The upgrade runs under the backend's own lock, is idempotent, and loses or re-runs no
job (``wg_core.backend``: "Layout versions"). A missing namespace is exit 4 and nothing
is created; a current one is left as it is.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import typer

from wg_cli.app import app
from wg_cli.commands.bulk import DryRunOpt
from wg_cli.errors import CREATE_HINT, CliError, ExitCode
from wg_cli.output import document, emit, emit_line, stdout_console
from wg_cli.settings import JsonOpt, NamespaceOpt, OutputFormat, OutputOpt, UrlOpt, resolve
from wg_core import (
    Client,
    NamespaceNotFoundError,
    SchemaError,
    SchemaOutdatedError,
    backend_from_url,
)
from wg_core.backend import LAYOUT_VERSION

__all__ = ["upgrade"]


@dataclass(frozen=True, slots=True)
class _Outcome:
    before: int | None
    """The recorded version (``None``: older, but the backend would not say which)."""
    after: int
    upgraded: bool


def _recorded_version(refused: SchemaOutdatedError) -> int | None:
    """The layout version the reader's open refused (the error carries it)."""
    return refused.found


async def _upgrade(url: str, namespace: str, *, dry_run: bool) -> _Outcome:
    reader = Client(backend_from_url(url, namespace), create=False)
    try:
        await reader.open()
    except SchemaOutdatedError as refused:
        before = _recorded_version(refused)
    else:
        version = await reader.layout_version()
        return _Outcome(before=version, after=version, upgraded=False)
    finally:
        await reader.close()
    if dry_run:
        return _Outcome(before=before, after=LAYOUT_VERSION, upgraded=False)
    # A writer's open upgrades in place (under the backend's lock: safe beside workers
    # that start at the same time and upgrade it themselves).
    writer = await Client.connect(url, namespace, create=True)
    try:
        after = await writer.layout_version()
    finally:
        await writer.close()
    return _Outcome(before=before, after=after, upgraded=True)


def _version(value: int | None) -> str:
    if value is None:
        return "an older layout"
    if value == 0:
        # The first release recorded no version, like the Rust wg: both read as 0.
        return "layout 0 (no version recorded: the Rust wg's, or wg's first release)"
    return f"layout {value}"


@app.command()
def upgrade(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = None,
    output: OutputOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Upgrade the namespace's storage layout in place to this wg's (prints from → to).

    Needed before readers (status, inspect, the TUI) open a namespace written by an
    older wg; workers and enqueue upgrade it on their own. Nothing is lost or re-run.
    """
    settings = resolve(ctx, url, namespace, output, json_output)
    if settings.output is OutputFormat.ID:
        raise CliError("upgrade prints no ids: use -o table, json or jsonl", ExitCode.USAGE)
    try:
        outcome = asyncio.run(_upgrade(settings.url, settings.namespace, dry_run=dry_run))
    except NamespaceNotFoundError as exc:
        raise CliError(
            f"no namespace {settings.namespace!r} at {settings.display_url}: {exc} "
            f"(nothing to upgrade, nothing was created; {CREATE_HINT})",
            ExitCode.NOT_FOUND,
        ) from None
    except SchemaOutdatedError:
        raise
    except SchemaError as exc:
        raise CliError(
            f"cannot upgrade namespace {settings.namespace!r}: {exc} (this wg writes layout "
            f"{LAYOUT_VERSION}; a newer layout needs a newer wg)",
            ExitCode.FAILURE,
        ) from None
    current = outcome.before == outcome.after and not outcome.upgraded
    if settings.machine:
        doc = document(
            settings,
            dry_run=dry_run,
            upgraded=outcome.upgraded,
            current=current,
            from_version=outcome.before,
            to_version=outcome.after,
        )
        (emit if settings.output is OutputFormat.JSON else emit_line)(doc)
        return
    # One line each, never wrapped inside the URL (soft_wrap): scripts grep them.
    console = stdout_console()
    name = f"Namespace {settings.namespace!r} at {settings.display_url}"
    if current:
        message = f"{name} is current (layout {outcome.after}): nothing to upgrade."
    elif dry_run:
        message = (
            f"{name} would be upgraded from {_version(outcome.before)} to layout "
            f"{outcome.after}; nothing changed (dry run)."
        )
    else:
        message = f"{name} upgraded from {_version(outcome.before)} to layout {outcome.after}."
    console.print(message, soft_wrap=True)
