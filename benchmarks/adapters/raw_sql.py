"""The SQL ceilings: INSERT to enqueue, one atomic take-and-delete to claim, no guarantees.

- PostgreSQL (psycopg 3 async, a pool of ``concurrency`` connections): ``DELETE … WHERE
  id = (SELECT … FOR UPDATE SKIP LOCKED) RETURNING payload``.
- MySQL/MariaDB (PyMySQL on threads via ``asyncio.to_thread``, one connection per slot):
  ``SELECT … FOR UPDATE SKIP LOCKED`` then ``DELETE`` by id, one READ COMMITTED
  transaction.
- SQLite (aiosqlite, one connection, WAL, ``synchronous=FULL`` like wg's default):
  ``DELETE … WHERE id = (SELECT … LIMIT 1) RETURNING payload``.

Each slot polls every 10 ms when the table is empty (no LISTEN): the plain poll loop.
A job taken by a worker that dies is lost: this is the floor of work, not a queue.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from benchmarks.adapters.base import Adapter, Job, Servers
from benchmarks.recorder import run_job

POLL = 0.01
_CHUNK = 1000

PG_CREATE = "CREATE TABLE IF NOT EXISTS raw_jobs (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)"
PG_INSERT = "INSERT INTO raw_jobs (payload) VALUES (%s)"
PG_TAKE = """
DELETE FROM raw_jobs WHERE id = (
    SELECT id FROM raw_jobs ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
) RETURNING payload
"""
MY_CREATE = (
    "CREATE TABLE IF NOT EXISTS raw_jobs "
    "(id BIGINT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL) ENGINE=InnoDB"
)
MY_INSERT = "INSERT INTO raw_jobs (payload) VALUES (%s)"
MY_SELECT = "SELECT id, payload FROM raw_jobs ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
MY_DELETE = "DELETE FROM raw_jobs WHERE id = %s"
LITE_CREATE = "CREATE TABLE IF NOT EXISTS raw_jobs (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)"
LITE_INSERT = "INSERT INTO raw_jobs (payload) VALUES (?)"
LITE_TAKE = (
    "DELETE FROM raw_jobs WHERE id = (SELECT id FROM raw_jobs ORDER BY id LIMIT 1) "
    "RETURNING payload"
)


def _mysql(url: str) -> Any:
    import pymysql

    parts = urlsplit(url)
    return pymysql.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 3306,
        user=parts.username or "root",
        password=parts.password or "",
        database=parts.path.lstrip("/"),
        autocommit=True,
    )


class RawSql(Adapter):
    worker_model = "asyncio, one poll loop per slot"
    conn: Any  # psycopg AsyncConnection, a PyMySQL connection or an aiosqlite one

    @property
    def label(self) -> str:  # type: ignore[override]
        return {
            "postgres": "raw loop (DELETE … SKIP LOCKED RETURNING)",
            "mysql": "raw loop (SELECT … SKIP LOCKED + DELETE)",
            "sqlite": "raw loop (DELETE … RETURNING)",
        }[self.backend]

    # -- schema -------------------------------------------------------------------------

    async def setup(self) -> None:
        if self.backend == "postgres":
            import psycopg

            async with await psycopg.AsyncConnection.connect(
                self.postgres_url, autocommit=True
            ) as conn:
                await conn.execute(PG_CREATE)
        elif self.backend == "mysql":
            conn = _mysql(self.mysql_url)
            with conn.cursor() as cur:
                cur.execute(MY_CREATE)
            conn.close()
        else:
            db = await self._sqlite()
            await db.execute(LITE_CREATE)
            await db.close()

    async def _sqlite(self) -> Any:
        import aiosqlite

        db = await aiosqlite.connect(self.sqlite_path, isolation_level=None)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=FULL")
        await db.execute("PRAGMA busy_timeout=5000")
        return db

    # -- producer -----------------------------------------------------------------------

    async def open(self) -> None:
        if self.backend == "postgres":
            import psycopg

            self.conn = await psycopg.AsyncConnection.connect(self.postgres_url, autocommit=True)
        elif self.backend == "mysql":
            self.conn = await asyncio.to_thread(_mysql, self.mysql_url)
        else:
            self.conn = await self._sqlite()

    async def close(self) -> None:
        if self.backend == "mysql":
            self.conn.close()
        else:
            await self.conn.close()

    async def enqueue(self, job: Job) -> None:
        payload = json.dumps(job)
        if self.backend == "postgres":
            await self.conn.execute(PG_INSERT, (payload,))
        elif self.backend == "mysql":
            await asyncio.to_thread(self._my_insert, [payload])
        else:
            await self.conn.execute(LITE_INSERT, (payload,))

    def _my_insert(self, payloads: list[str]) -> None:
        with self.conn.cursor() as cur:
            if len(payloads) == 1:
                cur.execute(MY_INSERT, (payloads[0],))
            else:
                # PyMySQL rewrites executemany of an INSERT … VALUES into multi-row inserts.
                self.conn.begin()
                cur.executemany(MY_INSERT, [(p,) for p in payloads])
                self.conn.commit()

    async def enqueue_many(self, jobs: list[Job]) -> None:
        payloads = [json.dumps(j) for j in jobs]
        for start in range(0, len(payloads), _CHUNK):
            chunk = payloads[start : start + _CHUNK]
            if self.backend == "postgres":
                async with self.conn.transaction(), self.conn.cursor() as cur:
                    await cur.executemany(PG_INSERT, [(p,) for p in chunk])
            elif self.backend == "mysql":
                await asyncio.to_thread(self._my_insert, chunk)
            else:
                await self.conn.execute("BEGIN IMMEDIATE")
                await self.conn.executemany(LITE_INSERT, [(p,) for p in chunk])
                await self.conn.execute("COMMIT")

    # -- worker -------------------------------------------------------------------------

    def run_worker(self, concurrency: int) -> None:
        work = {"postgres": self._work_pg, "mysql": self._work_my, "sqlite": self._work_lite}
        asyncio.run(work[self.backend](concurrency))

    async def _work_pg(self, concurrency: int) -> None:
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            self.postgres_url, min_size=concurrency, max_size=concurrency, open=False,
            kwargs={"autocommit": True},
        )  # fmt: skip
        await pool.open()

        async def slot() -> None:
            while True:
                async with pool.connection() as conn:
                    row = await (await conn.execute(PG_TAKE)).fetchone()
                if row is None:
                    await asyncio.sleep(POLL)
                else:
                    await run_job(json.loads(row[0])["t"])

        await asyncio.gather(*(slot() for _ in range(concurrency)))

    async def _work_my(self, concurrency: int) -> None:
        def take(conn: Any) -> str | None:
            conn.begin()
            with conn.cursor() as cur:
                cur.execute(MY_SELECT)
                row = cur.fetchone()
                if row is not None:
                    cur.execute(MY_DELETE, (row[0],))
            conn.commit()
            return None if row is None else str(row[1])

        async def slot() -> None:
            conn = await asyncio.to_thread(_mysql, self.mysql_url)
            with conn.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            while True:
                payload = await asyncio.to_thread(take, conn)
                if payload is None:
                    await asyncio.sleep(POLL)
                else:
                    await run_job(json.loads(payload)["t"])

        await asyncio.gather(*(slot() for _ in range(concurrency)))

    async def _work_lite(self, concurrency: int) -> None:
        db = await self._sqlite()

        async def slot() -> None:
            while True:
                async with db.execute(LITE_TAKE) as cur:
                    row = await cur.fetchone()
                if row is None:
                    await asyncio.sleep(POLL)
                else:
                    await run_job(json.loads(row[0])["t"])

        await asyncio.gather(*(slot() for _ in range(concurrency)))

    def version(self) -> str:
        if self.backend == "postgres":
            import psycopg

            return f"psycopg {psycopg.__version__}"
        if self.backend == "mysql":
            import pymysql

            return f"PyMySQL {pymysql.__version__}"
        import aiosqlite

        return f"aiosqlite {aiosqlite.__version__}"


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return RawSql(key, backend, variant, servers)
