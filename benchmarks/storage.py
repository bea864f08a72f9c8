"""Create and wipe each system's private database (sync drivers; runs in children)."""

from __future__ import annotations

import contextlib
import os
from typing import Any
from urllib.parse import urlsplit


def flush_redis(url: str) -> None:
    """FLUSHDB on the system's own DB of the private redis-server."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


def recreate_postgres(server_url: str, database: str) -> None:
    """Drop (forcing out leftover sessions) and create the system's database."""
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{database}"')


def drop_postgres(server_url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def _mysql_connect(server_url: str) -> Any:
    import pymysql

    parts = urlsplit(server_url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        autocommit=True,
    )


def recreate_mysql(server_url: str, database: str) -> None:
    conn = _mysql_connect(server_url)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        cur.execute(f"CREATE DATABASE `{database}`")
    conn.close()


def drop_mysql(server_url: str, database: str) -> None:
    conn = _mysql_connect(server_url)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    conn.close()


def remove_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(path + suffix)
