"""The SQLite backend's tables, queries, URL and the SQL functions it registers."""

from __future__ import annotations

import json
import os
import sqlite3
from typing import Any, Final

from wg_core.backends.common import error_matches
from wg_core.backends.resources import load_blocks
from wg_core.envelope import DEFAULT_JOB_NAME
from wg_core.errors import ConfigError, SchemaError

__all__ = [
    "COLUMNS",
    "MEMORY",
    "RUST_COLUMNS",
    "ensure_schema",
    "envelope_id",
    "parse_url",
    "queries",
    "register_functions",
    "statements",
]

MEMORY: Final = ":memory:"

# Columns wg needs in each table (a table the Rust wg created is upgraded to this shape).
COLUMNS: Final = {
    "jobs": (
        "id",
        "job_json",
        "job_id",
        "job_name",
        "enqueued_at",
        "lease_token",
        "lease_until",
        "worker_id",
        "claimed_at",
    ),
    "scheduled": ("id", "job_json", "run_at", "run_at_ms", "job_id", "job_name", "enqueued_at"),
    "retry": (
        "id",
        "job_json",
        "retry_at",
        "retry_at_ms",
        "job_id",
        "job_name",
        "last_error",
        "enqueued_at",
    ),
    "dead": ("id", "job_json", "job_id", "job_name", "last_error", "died_at"),
    "workers": (
        "worker_id",
        "host",
        "pid",
        "concurrency",
        "running",
        "started_at",
        "last_seen",
        "state",
        "stop_requested",
        "job_names",
    ),
    "meta": ("id", "paused", "processed", "failed"),
}
# Columns the Rust wg's tables have: without them a table is not a wg table at all.
RUST_COLUMNS: Final = {
    "jobs": ("id", "job_json"),
    "scheduled": ("id", "job_json", "run_at"),
    "retry": ("id", "job_json", "retry_at"),
    "dead": ("id", "job_json"),
}


def ensure_schema(
    connection: sqlite3.Connection, q: dict[str, list[str]], namespace: str, path: str
) -> None:
    """Create the namespace's tables and indexes, upgrading tables the Rust wg made."""
    for statement in q["create_schema"]:
        connection.execute(statement)
    for table, columns in COLUMNS.items():
        name = f"{namespace}_{table}"
        present = {row[0] for row in connection.execute(q["table_columns"][0], (name,))}
        missing = [column for column in columns if column not in present]
        rust = RUST_COLUMNS.get(table)
        if missing and rust is not None and all(c in present for c in rust):
            # A table the Rust wg created: add wg's columns (all nullable).
            for statement in q[f"upgrade_{table}"]:
                try:
                    connection.execute(statement)
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):
                        raise
            present = {row[0] for row in connection.execute(q["table_columns"][0], (name,))}
            missing = [column for column in columns if column not in present]
        if missing:
            raise SchemaError(
                f"table {name!r} in {path} exists but is not a wg table: it lacks "
                f"the columns {', '.join(missing)}. Use another namespace, or drop it."
            )
    for statement in q["create_indexes"]:
        connection.execute(statement)


def statements(block: str, namespace: str) -> list[str]:
    """The statements of a block: comment lines dropped, ``{ns}`` substituted."""
    lines = [line for line in block.splitlines() if not line.lstrip().startswith("--")]
    text = "\n".join(lines).replace("{ns}", namespace)
    return [part.strip() for part in text.split(";\n") if part.strip()]


def queries(namespace: str) -> dict[str, list[str]]:
    blocks = load_blocks("wg_core.backends", "sqlite.sql")
    return {name: statements(block, namespace) for name, block in blocks.items()}


# -- functions registered on every connection (for rows the Rust wg wrote) ---------------


def _document(raw: object) -> dict[str, Any] | None:
    if not isinstance(raw, str):
        return None
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict) else None


def envelope_id(raw: object) -> str | None:
    document = _document(raw)
    value = document.get("id") if document else None
    return value if isinstance(value, str) else None


def _envelope_job_name(raw: object) -> str | None:
    document = _document(raw)
    if document is None:
        return None
    value = document.get("job_name", DEFAULT_JOB_NAME)
    return value if isinstance(value, str) else None


def _error_matches(raw: object, needle: object) -> bool:
    return isinstance(raw, str) and isinstance(needle, str) and error_matches(raw, needle)


def register_functions(connection: sqlite3.Connection) -> None:
    connection.create_function("wg_envelope_id", 1, envelope_id, deterministic=True)
    connection.create_function("wg_job_name", 1, _envelope_job_name, deterministic=True)
    connection.create_function("wg_error_matches", 2, _error_matches, deterministic=True)


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
