"""An operator's own connection to the test MariaDB/MySQL server (PyMySQL), for the
MySQL tests: to look at the server's side of wg's connections, lock, kill, and write
as a Rust producer would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from tests.backends import URLS, unreachable

URL = URLS["mysql"]


def connect(**overrides: Any) -> Any:
    """A new PyMySQL connection to the test server (``overrides`` go to ``connect``)."""
    import pymysql

    parts = urlsplit(URL)
    options: dict[str, Any] = {
        "host": parts.hostname,
        "port": parts.port or 3306,
        "user": parts.username or "root",
        "password": parts.password or "",
        "database": parts.path.lstrip("/"),
        "charset": "utf8mb4",
    }
    return pymysql.connect(**{**options, **overrides})


@contextmanager
def admin_connection() -> Iterator[Any]:
    """A plain autocommit connection; the test is skipped (or fails in CI) without a
    server."""
    import pymysql

    try:
        connection = connect()
    except pymysql.err.OperationalError as exc:
        unreachable("mysql", exc)
    connection.autocommit(True)
    try:
        yield connection
    finally:
        connection.close()


def sql(connection: Any, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows of ``query`` with ``args`` bound."""
    with connection.cursor() as cursor:
        cursor.execute(query, args or None)
        return list(cursor.fetchall())
