"""The SQLite file itself: URLs, opening connections, the SQL functions wg registers on
each of them, and what sqlite3's errors mean for wg."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Final

from wg_core.envelope import DEFAULT_JOB_NAME, peek_envelope
from wg_core.errors import (
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    NamespaceNotFoundError,
    WgError,
)

__all__ = ["MEMORY", "connect", "parse_url", "statements", "translate_error"]

MEMORY: Final = ":memory:"


def parse_url(url: str | os.PathLike[str]) -> str:
    """The file path named by ``url``, or ``":memory:"``."""
    if isinstance(url, os.PathLike):
        return os.path.abspath(os.fspath(url))
    if not isinstance(url, str):
        raise ConfigError(f"SQLite URL must be a string or a path, got {type(url).__name__}")
    path = url
    if url.lower().startswith("sqlite:"):
        path = url[len("sqlite:") :]
        if path.startswith("//"):
            # sqlite:///abs/path.db -> /abs/path.db; sqlite://rel.db -> rel.db (as sqlx)
            path = path[2:]
        path, _, query = path.partition("?")
        if query and query not in ("mode=rwc", "mode=rw"):
            raise ConfigError(f"unsupported SQLite URL parameters {query!r} in {url!r}")
    if path == MEMORY:
        return MEMORY
    if not path:
        raise ConfigError(f"SQLite URL {url!r} names no file: use sqlite:PATH or sqlite::memory:")
    return os.path.abspath(os.path.expanduser(path))


def statements(block: str) -> list[str]:
    """The statements of a script block, comment lines dropped."""
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";\n") if part.strip()]


def connect(
    path: str,
    *,
    write: bool,
    create: bool,
    busy_timeout: float,
    pragmas: list[str],
) -> sqlite3.Connection:
    """A connection to ``path`` with wg's functions registered and ``pragmas`` run.

    ``create=False`` opens an existing file only (``mode=rw``): a reader never creates
    the file."""
    in_memory = path == MEMORY
    directory = os.path.dirname(path)
    if not in_memory and not os.path.isdir(directory) and create:
        raise BackendUnavailableError(
            f"cannot open SQLite database {path}: directory {directory} does not exist"
        )
    target, uri = path, False
    if not create and not in_memory:
        if not os.path.exists(path):
            raise NamespaceNotFoundError(f"no SQLite database at {path} (a reader creates nothing)")
        target, uri = f"{Path(path).as_uri()}?mode=rw", True
    connection = sqlite3.connect(
        target,
        timeout=busy_timeout,
        isolation_level=None,  # the driver issues BEGIN/COMMIT itself
        check_same_thread=False,
        uri=uri,
    )
    try:
        _register_functions(connection)
        for pragma in pragmas:
            row = _pragma(connection, pragma, busy_timeout)
            if write and pragma.endswith("WAL") and str(row[0]).lower() != "wal":
                raise BackendError(
                    f"could not put {path} in WAL mode (journal_mode={row[0]}): "
                    "is it on a network filesystem?"
                )
    except BaseException:
        connection.close()
        raise
    return connection


def _pragma(connection: sqlite3.Connection, pragma: str, busy_timeout: float) -> Any:
    """Run ``pragma`` and return its row. Switching a new file to WAL needs the file to
    itself, and SQLite answers "database is locked" at once, without its busy handler,
    while another process is doing the same (several workers starting together): keep
    trying for up to ``busy_timeout``."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            return connection.execute(pragma).fetchone()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)


# -- functions registered on every connection (for rows the Rust wg wrote) ---------------


def _envelope_id(raw: object) -> str | None:
    return peek_envelope(raw).job_id if isinstance(raw, str) else None


def _envelope_job_name(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    peek = peek_envelope(raw)
    if peek.job_name is not None:
        return peek.job_name
    # An envelope without a job_name is the older Rust format's: the default name.
    return DEFAULT_JOB_NAME if peek.job_id is not None else None


def _register_functions(connection: sqlite3.Connection) -> None:
    connection.create_function("wg_envelope_id", 1, _envelope_id, deterministic=True)
    connection.create_function("wg_job_name", 1, _envelope_job_name, deterministic=True)


def translate_error(
    exc: BaseException, where: str, busy_timeout: float, namespace: str
) -> WgError | None:
    """wg's error for a ``sqlite3`` error on the database ``where`` (``None`` for any
    other exception)."""
    if not isinstance(exc, sqlite3.Error):
        return None
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in message:
        return DuplicateJobError(f"job id already stored ({message})")
    if "unable to open database file" in message:
        return BackendUnavailableError(f"cannot open SQLite database {where}: {message}")
    if "database is locked" in message or "database is busy" in message:
        return BackendError(
            f"SQLite database {where} stayed locked by another connection for longer "
            f"than busy_timeout={busy_timeout}s"
        )
    if "no such table" in message:
        return BackendError(
            f"SQLite database {where} has no tables for namespace {namespace!r} "
            f"(call open() first): {message}"
        )
    return BackendError(f"SQLite error on {where}: {message}")
