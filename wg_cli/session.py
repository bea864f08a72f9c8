"""Running a command's async body against the backend, and asking before destroying.

Each command is a sync Typer function that resolves its options and calls ``run``
with an async body taking a connected ``Client``; the client is closed whatever
happens. Failures propagate to ``WgGroup.main``, the one place that prints them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import typer

from wg_cli.errors import CliError, ExitCode
from wg_cli.settings import Settings
from wg_core import Client

__all__ = ["confirm_destructive", "connect", "read_ids", "run", "stdin_is_terminal"]

T = TypeVar("T")


async def connect(settings: Settings) -> Client:
    """A client connected to ``settings``' backend and namespace."""
    return await Client.connect(settings.url, settings.namespace)


def run(settings: Settings, body: Callable[[Client], Coroutine[Any, Any, T]]) -> T:
    """Run ``body(client)`` on a fresh event loop and return its result."""

    async def main() -> T:
        client = await connect(settings)
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
        return list(dict.fromkeys(i for i in ids if i and not i.startswith("#"))), True
    return list(dict.fromkeys(a.strip() for a in arguments if a.strip())), False
