"""Running a command's async body against the backend, and asking before destroying.

Each command is a sync Typer function that resolves its options and calls ``run``
with an async body taking a connected ``Client``; the client is closed whatever
happens. Failures propagate to ``WgGroup.main``, the one place that prints them.

Commands open as readers unless they write jobs: ``create=False`` connects and creates
nothing, so ``wg status -u sqlite:typo.db`` says the file does not exist (exit 4)
instead of creating an empty database and reporting on it. Only writers create a
namespace: ``wg enqueue``, ``wg worker``, ``wg demo`` and ``wg init``. Readers upgrade
nothing either: a namespace of an older storage layout is exit 6, naming ``wg upgrade``
(writers upgrade it when they open it).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

import typer

from wg_cli.errors import CREATE_HINT, UPGRADE_HINT, CliError, ExitCode
from wg_cli.settings import Settings
from wg_core import Client, NamespaceNotFoundError, SchemaOutdatedError
from wg_core.client import is_job_id

__all__ = [
    "check_ids",
    "confirm_destructive",
    "connect",
    "read_ids",
    "run",
    "stdin_is_terminal",
]

T = TypeVar("T")


async def connect(settings: Settings, *, create: bool = False) -> Client:
    """A client connected to ``settings``' backend and namespace; ``create``: create the
    namespace if missing and upgrade an older layout (writers only), else a missing one
    is exit 4 and an outdated one exit 6."""
    try:
        return await Client.connect(settings.url, settings.namespace, create=create)
    except NamespaceNotFoundError as exc:
        raise CliError(
            f"no namespace {settings.namespace!r} at {settings.display_url}: {exc} ({CREATE_HINT})",
            ExitCode.NOT_FOUND,
        ) from None
    except SchemaOutdatedError as exc:
        detail = str(exc).strip()
        raise CliError(
            f"namespace {settings.namespace!r} at {settings.display_url} has an older storage "
            f"layout{': ' + detail if detail else ''} ({UPGRADE_HINT})",
            ExitCode.OUTDATED,
        ) from None


def run(
    settings: Settings,
    body: Callable[[Client], Coroutine[Any, Any, T]],
    *,
    create: bool = False,
) -> T:
    """Run ``body(client)`` on a fresh event loop and return its result. The client is
    a reader unless ``create`` (see the module docstring)."""

    async def main() -> T:
        client = await connect(settings, create=create)
        try:
            return await body(client)
        finally:
            await client.close()

    return asyncio.run(main())


def stdin_is_terminal() -> bool:
    """Whether a person can answer a question on stdin."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced stdin
        return False


def confirm_destructive(question: str, *, yes: bool, stdin_used: bool = False) -> None:
    """Ask ``question`` on a terminal; refuse (exit 5) when nobody can answer.

    ``stdin_used``: stdin carries data (ids read with ``-``), so it cannot carry an
    answer either, even from a terminal.
    """
    if yes:
        return
    if stdin_used or not stdin_is_terminal():
        raise CliError(
            f"refused: {question.rstrip('?')} — pass --yes to confirm "
            "(stdin is not a terminal, so nobody can be asked)",
            ExitCode.REFUSED,
        )
    if not typer.confirm(question, default=False, err=True):
        raise CliError("not confirmed: nothing was changed", ExitCode.REFUSED)


def read_ids(arguments: Sequence[str]) -> tuple[list[str], bool]:
    """Job ids from the arguments, or from stdin (one per line) when the only argument
    is ``-``. Returns ``(ids, read_from_stdin)``; duplicates are dropped, order kept.

    Stdin is read to the end before anything is changed, so a pipeline such as
    ``wg inspect dead -o id | wg retry - --yes`` sees a stable list.
    """
    if not arguments:
        raise CliError("give one or more job ids, or - to read them from stdin", ExitCode.USAGE)
    if "-" in arguments:
        if len(arguments) != 1:
            raise CliError("'-' reads ids from stdin: give it alone", ExitCode.USAGE)
        lines = sys.stdin.read().splitlines()
        ids = [line.strip() for line in lines]
        return check_ids(i for i in ids if i and not i.startswith("#")), True
    return check_ids(a.strip() for a in arguments if a.strip()), False


def check_ids(ids: Iterable[str]) -> list[str]:
    """``ids`` without duplicates (order kept), all job ids (UUIDs, lowercased), or a
    usage error naming the ones that are not — before anything is changed."""
    unique = list(dict.fromkeys(ids))
    bad = [i for i in unique if not is_job_id(i)]
    if bad:
        shown = ", ".join(repr(i) for i in bad[:3]) + (" …" if len(bad) > 3 else "")
        raise CliError(
            f"not a job id: {shown} (job ids are UUIDs, like 6f1c2d0e-8a4b-4c1e-9f3a-2b7d5e6a9c01)",
            ExitCode.USAGE,
        )
    return list(dict.fromkeys(i.lower() for i in unique))
