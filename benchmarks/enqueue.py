"""``python -m benchmarks enqueue``: wg's enqueue against the bare driver writing the same
envelope into the same table or key (issue 24, item 5).

Per backend, two fresh namespaces made by wg (so the same tables, indexes and triggers,
or the same Redis keys): one written through ``Client.enqueue`` / ``Client.enqueue_many``,
the other by hand with the driver wg itself uses, the way a user would write it:

- PostgreSQL (psycopg 3, async): one autocommit ``INSERT`` per job; a bulk chunk is one
  ``COPY … FROM STDIN`` in a transaction (faster here than ``executemany`` or a
  multi-row ``INSERT``).
- MySQL / MariaDB (PyMySQL in a thread, as wg): one autocommit ``INSERT``; a chunk is
  ``executemany`` of the ``INSERT … VALUES`` (PyMySQL sends multi-row INSERTs) in a
  transaction.
- SQLite (the stdlib ``sqlite3`` in a thread, WAL, ``synchronous=FULL`` as wg): one
  ``INSERT``; a chunk is ``executemany`` inside ``BEGIN IMMEDIATE``.
- Redis (redis-py asyncio): ``LPUSH {ns}:jobs``; a chunk is one ``LPUSH`` of all its
  envelopes (a pipeline of one command).

Both sides do the same per-job work before the write: a fresh UUID and the envelope JSON
of the payload (the bare side ``json.dumps`` a dict with the envelope's fields). Rounds
alternate which side goes first; per round and side the script prints jobs/s and the
producer's CPU µs per job (``time.process_time``: other tenants of a busy machine
disturb it little), then the medians and the ratio wg / bare.

    python -m benchmarks enqueue postgres mysql sqlite redis --rounds 5
    python -m benchmarks enqueue --million redis    # 1 000 000 through one call: RSS

``--million``: one ``Client.enqueue_stream`` call of a generator of 1 000 000 payloads
(``--n`` to change it; chunks of 5 000, each one atomic ``enqueue_many``), with the
process's RSS sampled every 50 ms; prints the rate and the peak RSS above the start.
``--call many`` makes it one ``enqueue_many`` call instead: one atomic batch, which
holds every job and returns every id, so its memory grows with ``--n`` by design.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from wg_core import Client
from wg_core.backend import Backend
from wg_core.urls import backend_from_url

URLS = {
    "redis": "redis://127.0.0.1:6379/15",
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
NAME = "bench"


def _payload(i: int) -> dict[str, Any]:
    return {"i": i, "t": 1.0}


def _envelope(i: int) -> tuple[str, str]:
    """What a user writing by hand does per job: an id and the envelope's JSON."""
    job_id = str(uuid.uuid4())
    return job_id, json.dumps(
        {
            "id": job_id,
            "job_name": NAME,
            "payload": _payload(i),
            "options": {"max_retries": 3, "retry_count": 0, "timeout": 300000,
                        "retry_delay": 10000},
            "status": "Pending",
            "created_at": int(time.time()),
            "scheduled_at": None,
            "last_error": None,
        },
        separators=(",", ":"),
    )  # fmt: skip


class Bare:
    """The hand-written producer of one backend, writing into namespace ``ns``."""

    def __init__(self, backend: str, ns: str, scratch: Path) -> None:
        self.backend, self.ns, self.scratch = backend, ns, scratch
        self.conn: Any = None

    async def open(self) -> None:
        if self.backend == "postgres":
            import psycopg

            self.conn = await psycopg.AsyncConnection.connect(URLS["postgres"], autocommit=True)
        elif self.backend == "redis":
            import redis.asyncio as aioredis

            self.conn = aioredis.Redis.from_url(URLS["redis"])
        elif self.backend == "mysql":
            import pymysql

            self.conn = await asyncio.to_thread(
                pymysql.connect, host="127.0.0.1", user="root", database="test", autocommit=True
            )
        else:
            import sqlite3

            def connect() -> Any:
                db = sqlite3.connect(
                    self.scratch / f"{self.ns}.db", isolation_level=None, check_same_thread=False
                )
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                return db

            self.conn = await asyncio.to_thread(connect)

    async def close(self) -> None:
        if self.backend == "postgres":
            await self.conn.close()
        elif self.backend == "redis":
            await self.conn.aclose()
        else:
            await asyncio.to_thread(self.conn.close)

    def _insert(self, placeholder: str) -> str:
        q = '"' if self.backend != "mysql" else "`"
        marks = ", ".join([placeholder] * 5)
        return (
            f"INSERT INTO {q}{self.ns}_jobs{q} (job_json, job_id, job_name, queue, priority) "
            f"VALUES ({marks})"
        )

    async def one(self, i: int) -> None:
        job_id, raw = _envelope(i)
        if self.backend == "redis":
            await self.conn.lpush(f"{self.ns}:jobs", raw)
        elif self.backend == "postgres":
            await self.conn.execute(self._insert("%s"), (raw, job_id, NAME, "default", 0))
        elif self.backend == "mysql":
            sql = self._insert("%s")
            await asyncio.to_thread(self._cursor_run, sql, (raw, job_id, NAME, "default", 0))
        else:
            sql = self._insert("?")
            await asyncio.to_thread(self.conn.execute, sql, (raw, job_id, NAME, "default", 0))

    def _cursor_run(self, sql: str, row: tuple[Any, ...]) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql, row)

    async def many(self, first: int, n: int) -> None:
        envelopes = map(_envelope, range(first, first + n))
        rows = [(raw, job_id, NAME, "default", 0) for job_id, raw in envelopes]
        if self.backend == "redis":
            await self.conn.lpush(f"{self.ns}:jobs", *(row[0] for row in rows))
        elif self.backend == "postgres":
            copy = f'COPY "{self.ns}_jobs" (job_json, job_id, job_name, queue, priority) FROM STDIN'
            async with (
                self.conn.transaction(),
                self.conn.cursor() as cur,
                cur.copy(copy) as writer,
            ):
                for row in rows:
                    await writer.write_row(row)
        elif self.backend == "mysql":
            await asyncio.to_thread(self._my_many, rows)
        else:
            await asyncio.to_thread(self._lite_many, rows)

    def _my_many(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.begin()
        with self.conn.cursor() as cur:
            cur.executemany(self._insert("%s"), rows)
        self.conn.commit()

    def _lite_many(self, rows: list[tuple[Any, ...]]) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        self.conn.executemany(self._insert("?"), rows)
        self.conn.execute("COMMIT")


def _backend(name: str, namespace: str, scratch: Path) -> Backend:
    if name == "sqlite":
        return backend_from_url(f"sqlite:{scratch / f'{namespace}.db'}", namespace)
    return backend_from_url(URLS[name], namespace)


async def _timed(body: Callable[[], Awaitable[None]], n: int) -> tuple[float, float]:
    """(jobs/s, producer CPU µs per job) of ``body``."""
    wall, cpu = time.perf_counter(), time.process_time()
    await body()
    return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6


async def _compare(name: str, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    namespaces = {"wg": "w" + uuid.uuid4().hex[:12], "bare": "b" + uuid.uuid4().hex[:12]}
    backends = {kind: _backend(name, ns, scratch) for kind, ns in namespaces.items()}
    for backend in backends.values():
        await backend.open()  # both namespaces made by wg: the same tables and keys
    client = Client(backends["wg"])
    bare = Bare(name, namespaces["bare"], scratch)
    await bare.open()

    async def wg_single() -> None:
        for i in range(args.single):
            await client.enqueue(_payload(i), job_name=NAME)

    async def wg_bulk() -> None:
        for first in range(0, args.bulk, args.batch):
            await client.enqueue_many(
                [_payload(i) for i in range(first, min(args.bulk, first + args.batch))],
                job_name=NAME,
            )

    async def bare_single() -> None:
        for i in range(args.single):
            await bare.one(i)

    async def bare_bulk() -> None:
        for first in range(0, args.bulk, args.batch):
            await bare.many(first, min(args.batch, args.bulk - first))

    bodies = {"wg": {"single": wg_single, "bulk": wg_bulk},
              "bare": {"single": bare_single, "bulk": bare_bulk}}  # fmt: skip
    sizes = {"single": args.single, "bulk": args.bulk}
    rates: dict[str, dict[str, list[float]]] = {k: {"single": [], "bulk": []} for k in bodies}
    cpu: dict[str, dict[str, list[float]]] = {k: {"single": [], "bulk": []} for k in bodies}
    try:
        for round_ in range(args.rounds):
            for workload in ("single", "bulk"):
                order = ["wg", "bare"] if round_ % 2 == 0 else ["bare", "wg"]
                for kind in order:
                    rate, us = await _timed(bodies[kind][workload], sizes[workload])
                    rates[kind][workload].append(rate)
                    cpu[kind][workload].append(us)
            print(json.dumps({"backend": name, "round": round_, **{
                kind: {w: [round(rates[kind][w][-1]), round(cpu[kind][w][-1], 1)]
                       for w in sizes} for kind in bodies
            }}), flush=True)  # fmt: skip
    finally:
        await bare.close()
        for backend in backends.values():
            await backend.destroy()
            await backend.close()
    med = {k: {w: statistics.median(r) for w, r in per.items()} for k, per in rates.items()}
    cpu_med = {k: {w: statistics.median(c) for w, c in per.items()} for k, per in cpu.items()}
    return {
        "backend": name,
        "jobs_per_s": {k: {w: round(v) for w, v in m.items()} for k, m in med.items()},
        "wg_over_bare": {w: round(med["wg"][w] / med["bare"][w], 2) for w in sizes},
        "cpu_us_per_job": {k: {w: round(v, 1) for w, v in m.items()} for k, m in cpu_med.items()},
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def _million(name: str, n: int, call: str, scratch: Path) -> dict[str, Any]:
    """One ``enqueue_stream`` (or ``enqueue_many``) call of a generator of ``n``
    payloads; RSS sampled meanwhile."""
    backend = _backend(name, "m" + uuid.uuid4().hex[:12], scratch)
    client = Client(backend)
    await client.open()
    start_rss, peak = _rss_mb(), 0.0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb())
            await asyncio.sleep(0.05)

    def payloads() -> Iterator[dict[str, Any]]:
        return (_payload(i) for i in range(n))

    sampler = asyncio.create_task(sample())
    try:
        started = time.perf_counter()
        if call == "many":
            stored = len(await client.enqueue_many(payloads(), job_name=NAME))
        else:
            stored = await client.enqueue_stream(payloads(), job_name=NAME)
        elapsed = time.perf_counter() - started
        done.set()
        await sampler
        counts = await client.counts()
        return {
            "backend": name,
            "call": call,
            "stored": stored,
            "queued": counts.queued,
            "jobs_per_s": round(n / elapsed),
            "rss_start_mb": round(start_rss, 1),
            "rss_peak_above_start_mb": round(peak - start_rss, 1),
        }
    finally:
        done.set()
        await backend.destroy()
        await client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks enqueue")
    parser.add_argument("backends", nargs="*", default=["postgres", "mysql", "sqlite", "redis"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single", type=int, default=1000)
    parser.add_argument("--bulk", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--million", action="store_true", help="one call of --n jobs: RSS")
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--call", choices=["stream", "many"], default="stream")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.backends:
            if args.million:
                result = asyncio.run(_million(name, args.n, args.call, Path(scratch)))
            else:
                result = asyncio.run(_compare(name, args, Path(scratch)))
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
