"""Exit codes, and the one place where failures become a message and an exit code.

Every command raises; nothing prints its own error. ``WgGroup.main`` (``wg_cli.app``)
catches what escapes a command and calls ``report_failure``, which prints one line on
stderr (one JSON line in JSON mode) with credentials redacted and returns the code:

====  ==========================================================================
code  meaning
====  ==========================================================================
0     success, including "nothing matched"
1     failure (the backend failed, a health check failed, an unexpected error)
2     usage error: unknown option or state, malformed JSON, bad duration or time
3     partial failure in a bulk operation (some ids done, some not)
4     not found: no job with that id, or no such namespace or SQLite file (readers
      create nothing)
5     refused: a destructive command was not confirmed (no ``--yes`` and stdin is
      not a terminal, or the answer was no)
6     outdated: the namespace's storage layout is older than this wg reads; readers
      upgrade nothing: run ``wg upgrade`` (or start a writer, which upgrades it)
7     no result: the job ended without completing, dead (failed for good) or
      cancelled (``wg result``; the JSON error's ``kind`` says which)
8     timed out: the job had not finished when ``wg result --wait`` gave up (or, with
      no ``--wait``, has not finished yet)
69    the backend is unreachable (connection refused, timeout, DNS): worth retrying
      later (sysexits ``EX_UNAVAILABLE``)
78    the backend answers but refuses the configuration (wrong password, unknown
      database, access denied): retrying will not help, fix the URL (sysexits
      ``EX_CONFIG``)
====  ==========================================================================

Set ``WG_DEBUG=1`` to get the traceback of an unexpected error (exit 1, "unexpected …").
"""

from __future__ import annotations

import enum
import json
import os
import re
from typing import Final
from urllib.parse import unquote, urlsplit

import typer

from wg_cli.output import DOCUMENT_VERSION
from wg_core import (
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    ConfigError,
    JobNotFoundError,
    MissingDependencyError,
    NamespaceNotFoundError,
    PayloadError,
    SchemaOutdatedError,
    WgError,
    redact_url,
)
from wg_core.errors import JobFailedError

__all__ = [
    "CREATE_HINT",
    "EXIT_CODES_HELP",
    "UPGRADE_HINT",
    "CliError",
    "ExitCode",
    "outdated_message",
    "redact_text",
    "report_failure",
]


class ExitCode(enum.IntEnum):
    """The documented exit codes of ``wg``."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    PARTIAL = 3
    NOT_FOUND = 4
    REFUSED = 5
    OUTDATED = 6
    NO_RESULT = 7
    TIMED_OUT = 8
    UNAVAILABLE = 69  # sysexits.h EX_UNAVAILABLE: try again later
    CONFIG = 78  # sysexits.h EX_CONFIG: retrying will not help


EXIT_CODES_HELP: Final = (
    "Exit codes: 0 ok (also when nothing matched) · 1 failure · 2 usage error "
    "(bad option, state, JSON, duration or time) · 3 partial failure in a bulk operation · "
    "4 not found (job, namespace or SQLite file) · 5 refused (destructive command not "
    "confirmed: no --yes and stdin is not a terminal) · 6 storage layout outdated (run wg "
    "upgrade) · 7 no result: the job is dead or cancelled · 8 timed out waiting for a "
    "result (wg result) · 69 backend unreachable (retry later) · "
    "78 backend refuses the configuration (password, database, access: fix the URL). "
    "WG_DEBUG=1 prints the traceback of an unexpected error."
)


CREATE_HINT: Final = "writers create it: wg enqueue, wg worker, or wg init"

UPGRADE_HINT: Final = (
    "readers upgrade nothing: run wg upgrade (or start a worker, which upgrades it on open)"
)


class CliError(Exception):
    """A failure the CLI explains itself: ``message`` and the exit code to end with."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


_URL_WITH_USERINFO: Final = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"/@]*@[^\s'\"]*", re.I)


def redact_text(text: str, *secrets_in: str) -> str:
    """``text`` with every URL's password replaced by ``***``, and any password found
    in ``secrets_in`` (URLs) removed even where it appears outside a URL."""
    text = _URL_WITH_USERINFO.sub(lambda m: redact_url(m.group(0)), text)
    for url in secrets_in:
        redacted = redact_url(url)
        if redacted != url:
            text = text.replace(url, redacted)
            password = _password_of(url)
            if password and len(password) >= 3:
                # Drivers sometimes echo the password alone ("password 'x' rejected").
                text = text.replace(password, "***")
    return text


def _password_of(url: str) -> str | None:
    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None


def _classify(exc: BaseException) -> tuple[ExitCode, str, str]:
    """(exit code, kind, message) for an exception that escaped a command."""
    if isinstance(exc, CliError):
        return exc.code, _kind(exc.code), exc.message
    if isinstance(exc, typer.TyperException):  # click's usage errors and friends
        code = ExitCode.USAGE if exc.exit_code == 2 else ExitCode.FAILURE
        message = exc.format_message()
        command = getattr(getattr(exc, "ctx", None), "command_path", None)
        if code is ExitCode.USAGE and command and message:
            message = f"{message} (see '{command} --help')"
        return code, _kind(code), message
    if isinstance(exc, SchemaOutdatedError):
        return ExitCode.OUTDATED, "outdated", outdated_message(exc)
    if isinstance(exc, BackendUnavailableError):
        return ExitCode.UNAVAILABLE, "unavailable", f"backend unreachable: {exc}"
    if isinstance(exc, BackendConfigError):
        return ExitCode.CONFIG, "config", f"backend refused the configuration: {exc}"
    if isinstance(exc, NamespaceNotFoundError):
        hint = "nothing was created; a writer creates it (wg enqueue, wg worker) or: wg init"
        return ExitCode.NOT_FOUND, "not_found", f"{exc} ({hint})"
    if isinstance(exc, JobNotFoundError):
        return ExitCode.NOT_FOUND, "not_found", str(exc)
    if isinstance(exc, JobFailedError):
        return ExitCode.NO_RESULT, f"job_{exc.state}", str(exc)
    if isinstance(exc, ConfigError | PayloadError):
        return ExitCode.USAGE, "usage", str(exc)
    if isinstance(exc, MissingDependencyError):
        return ExitCode.FAILURE, "missing_dependency", str(exc)
    if isinstance(exc, BackendError):
        return ExitCode.FAILURE, "backend", f"backend error: {exc}"
    if isinstance(exc, WgError):
        return ExitCode.FAILURE, "failure", str(exc)
    if isinstance(exc, ImportError):
        return ExitCode.FAILURE, "missing_dependency", f"cannot load the backend: {exc}"
    return ExitCode.FAILURE, "internal", f"unexpected {type(exc).__name__}: {exc}"


def outdated_message(exc: BaseException) -> str:
    """The one line for a namespace whose storage layout is older than this wg reads."""
    detail = str(exc).strip()
    return f"outdated storage layout{': ' + detail if detail else ''} ({UPGRADE_HINT})"


def _kind(code: ExitCode) -> str:
    return {
        ExitCode.USAGE: "usage",
        ExitCode.PARTIAL: "partial",
        ExitCode.NOT_FOUND: "not_found",
        ExitCode.REFUSED: "refused",
        ExitCode.OUTDATED: "outdated",
        ExitCode.TIMED_OUT: "timed_out",
        ExitCode.UNAVAILABLE: "unavailable",
        ExitCode.CONFIG: "config",
    }.get(code, "failure")


def report_failure(exc: BaseException, *, json_mode: bool, urls: tuple[str, ...] = ()) -> int:
    """Print ``exc`` as one line on stderr and return the exit code it means.

    ``urls`` are the backend URLs in play, whose passwords must never be printed.
    Set ``WG_DEBUG=1`` to get the traceback of unexpected errors.
    """
    code, kind, message = _classify(exc)
    message = redact_text(" ".join(str(message).split()), *urls)
    if not message:
        return int(code)  # e.g. `wg` alone: the help was shown, there is nothing to add
    if kind == "internal" and os.environ.get("WG_DEBUG"):
        raise exc
    if json_mode:
        line = json.dumps(
            {
                "version": DOCUMENT_VERSION,
                "error": {"code": int(code), "kind": kind, "message": message},
            }
        )
        typer.echo(line, err=True)
    else:
        typer.secho(f"error: {message}", fg="red", err=True)
    return int(code)
