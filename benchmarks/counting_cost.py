"""``python -m benchmarks.counting_cost``: what the trigger-kept state counts (layout 5,
``wg_core/backends/sql/counting.py``) cost the writes, A/B in one process.

Two fresh namespaces of the same backend: ``counted`` as wg creates it, and ``bare``
with the counting triggers dropped (the layout 4 write path, with layout 5's code). Each
round runs, on each namespace in turn (alternating which goes first): ``--single``
one-at-a-time ``Client.enqueue``, ``--bulk`` jobs through ``Client.enqueue_many`` in
batches of ``--batch``, then a drain of everything through the backend's own
``claim(limit=100)`` + ``complete`` (the worker's path without the handler). Prints
per round the jobs/s of each, then the medians and the ratio counted/bare.

    python -m benchmarks.counting_cost postgres mysql sqlite --rounds 5

Servers are the test suite's (127.0.0.1, database ``test``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from wg_core import Client
from wg_core.backend import Backend
from wg_core.urls import backend_from_url

URLS = {
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
TABLES = ("jobs", "scheduled", "retry", "dead", "finished")


def _drop_triggers(name: str, namespace: str, scratch: Path) -> None:
    """The namespace without its counting triggers (a layout 4 write path)."""
    if name == "postgres":
        import psycopg

        with psycopg.connect(URLS["postgres"], autocommit=True) as connection:
            for function in ("count_jobs", "count_state", "count_finished", "count_truncate"):
                connection.execute(f'DROP FUNCTION "{namespace}_{function}"() CASCADE')
    elif name == "mysql":
        import pymysql

        connection = pymysql.connect(host="127.0.0.1", user="root", database="test")
        with connection.cursor() as cursor:
            for table in TABLES:
                for event in ("added", "removed", "changed"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS `{namespace}_{table}_{event}`")
        connection.close()
    else:
        import sqlite3

        connection = sqlite3.connect(scratch / f"{namespace}.db")
        for (trigger,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall():
            connection.execute(f'DROP TRIGGER "{trigger}"')
        connection.commit()
        connection.close()


def _backend(name: str, namespace: str, scratch: Path) -> Backend:
    url = f"sqlite:{scratch / f'{namespace}.db'}" if name == "sqlite" else URLS[name]
    return backend_from_url(url, namespace)


async def _single(client: Client, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        await client.enqueue({"i": i}, job_name="bench")
    return n / (time.perf_counter() - started)


async def _bulk(client: Client, n: int, batch: int) -> float:
    started = time.perf_counter()
    for first in range(0, n, batch):
        await client.enqueue_many(
            [{"i": i} for i in range(first, min(n, first + batch))], job_name="bench"
        )
    return n / (time.perf_counter() - started)


async def _drain(backend: Backend) -> float:
    done = 0
    started = time.perf_counter()
    while attempts := await backend.claim(limit=100, lease=60, worker_id="bench"):
        done += await backend.complete(attempts)
    return done / (time.perf_counter() - started)


async def _compare(name: str, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    namespaces = {"counted": "c" + uuid.uuid4().hex[:12], "bare": "b" + uuid.uuid4().hex[:12]}
    backends = {kind: _backend(name, ns, scratch) for kind, ns in namespaces.items()}
    for backend in backends.values():
        await backend.open()
    _drop_triggers(name, namespaces["bare"], scratch)
    rates: dict[str, dict[str, list[float]]] = {
        kind: {"single": [], "bulk": [], "drain": []} for kind in backends
    }
    try:
        for round_ in range(args.rounds):
            order = list(backends) if round_ % 2 == 0 else list(reversed(backends))
            for kind in order:
                client = Client(backends[kind])
                rates[kind]["single"].append(await _single(client, args.single))
                rates[kind]["bulk"].append(await _bulk(client, args.bulk, args.batch))
                rates[kind]["drain"].append(await _drain(backends[kind]))
            print(json.dumps({"backend": name, "round": round_, **{
                kind: {w: round(r[-1]) for w, r in per.items()} for kind, per in rates.items()
            }}), flush=True)  # fmt: skip
        counts = await backends["counted"].counts()
        assert counts.queued == counts.running == 0, counts
    finally:
        for backend in backends.values():
            await backend.destroy()
            await backend.close()
    medians = {
        kind: {w: statistics.median(r) for w, r in per.items()} for kind, per in rates.items()
    }
    return {
        "backend": name,
        "median_jobs_per_s": {k: {w: round(v) for w, v in m.items()} for k, m in medians.items()},
        "counted_over_bare": {
            w: round(medians["counted"][w] / medians["bare"][w], 3) for w in medians["bare"]
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.counting_cost")
    parser.add_argument("backends", nargs="*", default=["postgres", "mysql", "sqlite"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--single", type=int, default=1000)
    parser.add_argument("--bulk", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.backends:
            print(json.dumps(asyncio.run(_compare(name, args, Path(scratch)))), flush=True)


if __name__ == "__main__":
    main()
