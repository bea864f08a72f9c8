"""The adapter contract: what the harness asks of every measured system.

An adapter is built in a child process (never in the harness process) and does four
things through the system's own public API: reset its private storage, enqueue jobs one
at a time, enqueue jobs in bulk (if the system has a bulk API), and run a worker at a
given concurrency until killed. Every job's payload is ``{"i": int, "t": float}`` and
every handler ends in ``benchmarks.recorder``, so the harness measures all systems the
same way.
"""

from __future__ import annotations

import abc
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Job = dict[str, Any]

#: Databases are named ``<prefix>_<system>``. Sessions benchmarking side by side on one
#: server set ``BENCH_DB_PREFIX`` each, or one drops the other's database mid-run.
DB_PREFIX = os.environ.get("BENCH_DB_PREFIX") or "bench"
if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", DB_PREFIX):
    raise SystemExit(f"BENCH_DB_PREFIX must be lowercase letters, digits and _: {DB_PREFIX!r}")


def database_name(key: str) -> str:
    """The PostgreSQL / MySQL database of system ``key``."""
    return f"{DB_PREFIX}_" + re.sub(r"[^a-z0-9]+", "_", key.lower())


class NotSupported(Exception):
    """The system has no public API for this (e.g. no bulk enqueue)."""


@dataclass(frozen=True, slots=True)
class Servers:
    """Where the servers are; each system gets its own database inside them."""

    redis_url: str  # base URL without a DB number, e.g. redis://127.0.0.1:6390
    # Server URL without a database, e.g. postgresql://postgres@127.0.0.1:5432
    postgres_url: str
    mysql_url: str  # e.g. mysql://root@127.0.0.1:3306
    work_dir: str  # SQLite files and scratch


# Redis systems, in DB-number order: each gets its own DB of the private redis-server.
_ORDER = [
    "wg-redis",
    "raw-redis",
    "arq",
    "arq-tuned",
    "saq-redis",
    "rq",
    "rq-tuned",
    "streaq",
    "dramatiq",
    "huey-redis",
    "celery",
    "celery-prefork",
    "bullmq",
    "taskiq-redis",
]


class Adapter(abc.ABC):
    """One system under test; subclasses fill in the four verbs."""

    #: The label printed in the table (say what was tuned, and which worker model).
    label: str = ""
    #: One-line description of the worker model, for the report.
    worker_model: str = ""

    def __init__(self, key: str, backend: str, variant: str, servers: Servers) -> None:
        self.key = key
        self.backend = backend
        self.variant = variant
        self.servers = servers

    # -- isolation: one Redis DB / PostgreSQL or MySQL database / SQLite file per system --

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "_", self.key.lower())

    @property
    def redis_db(self) -> int:
        # Private redis-server started with 32 databases; DB 0 is left empty.
        return 1 + (_ORDER.index(self.key) if self.key in _ORDER else 20)

    @property
    def redis_url(self) -> str:
        return f"{self.servers.redis_url}/{self.redis_db}"

    @property
    def database(self) -> str:
        return database_name(self.key)

    @property
    def postgres_url(self) -> str:
        return f"{self.servers.postgres_url}/{self.database}"

    @property
    def mysql_url(self) -> str:
        return f"{self.servers.mysql_url}/{self.database}"

    @property
    def sqlite_path(self) -> str:
        return str(Path(self.servers.work_dir) / f"{self.slug}.db")

    def reset_storage(self) -> None:
        """Wipe this system's private storage (default: by backend)."""
        from benchmarks import storage

        if self.backend == "redis":
            storage.flush_redis(self.redis_url)
        elif self.backend == "postgres":
            storage.recreate_postgres(self.servers.postgres_url, self.database)
        elif self.backend == "mysql":
            storage.recreate_mysql(self.servers.mysql_url, self.database)
        elif self.backend == "sqlite":
            storage.remove_sqlite(self.sqlite_path)

    # -- the verbs ----------------------------------------------------------------------

    async def setup(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Create schema after a reset (systems that need an explicit install step)."""

    async def open(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Open the producer's connection."""

    async def close(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Close the producer's connection."""

    @abc.abstractmethod
    async def enqueue(self, job: Job) -> None:
        """Enqueue one job through the system's one-at-a-time API."""

    async def enqueue_many(self, jobs: list[Job]) -> None:
        """Enqueue all ``jobs`` through the system's bulk API."""
        raise NotSupported

    @abc.abstractmethod
    def run_worker(self, concurrency: int) -> None:
        """Run one worker at ``concurrency`` until the process is killed."""

    def version(self) -> str:
        """The system's version, for the report."""
        return ""
