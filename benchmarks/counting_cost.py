"""``python -m benchmarks.counting_cost``: what the trigger-kept state counts (layout 5,
``wg_core/backends/sql/counting.py``) cost the writes, A/B in one process.

Two fresh namespaces of the same backend: ``counted`` as wg creates it, and ``bare``
with the counting triggers dropped (the layout 4 write path, with layout 5's code). Each
round runs, on each namespace in turn (alternating which goes first): ``--single``
one-at-a-time ``Client.enqueue``, ``--bulk`` jobs through ``Client.enqueue_many`` in
batches of ``--batch``, then a drain of everything through the backend's own
``claim(limit=100)`` + ``complete`` (the worker's path without the handler). Prints
per round the jobs/s of each, then the medians and the ratio counted/bare. On
PostgreSQL also the server's CPU per job: user + system time of the backend processes
serving each namespace's pool (wg names them ``wg:<namespace>``), read from ``/proc``
(the server runs on this machine), which other tenants of a busy machine disturb far
less than the wall clock.

    python -m benchmarks.counting_cost postgres mysql sqlite --rounds 5

Servers are the test suite's (127.0.0.1, database ``test``).
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
            for function in (
                "count_added",
                "count_removed",
                "count_finished_added",
                "count_finished_removed",
                "count_moved",
                "count_finished_moved",
                "count_truncated",
            ):
                connection.execute(f'DROP FUNCTION "{namespace}_{function}"() CASCADE')
    elif name == "mysql":
        import pymysql

        connection = pymysql.connect(host="127.0.0.1", user="root", database="test")
        with connection.cursor() as cursor:
            for table in TABLES:
                for event in ("added", "removed", "moved"):
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
    if name == "sqlite":
        return backend_from_url(f"sqlite:{scratch / f'{namespace}.db'}", namespace)
    return backend_from_url(URLS[name], namespace)


def _server_cpu(name: str, namespace: str) -> float:
    """Seconds of CPU the server processes of ``namespace``'s connections used so far
    (PostgreSQL only; 0 elsewhere)."""
    if name != "postgres":
        return 0.0
    import psycopg

    with psycopg.connect(URLS["postgres"], autocommit=True) as connection:
        pids = [
            int(pid)
            for (pid,) in connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [f"wg:{namespace}"]
            ).fetchall()
        ]
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (clock ticks)
    return total / os.sysconf("SC_CLK_TCK")


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
    cpu: dict[str, dict[str, list[float]]] = {
        kind: {"single": [], "bulk": [], "drain": []} for kind in backends
    }
    try:
        for round_ in range(args.rounds):
            order = list(backends) if round_ % 2 == 0 else list(reversed(backends))
            for kind in order:
                client = Client(backends[kind])
                ns = namespaces[kind]
                for workload, n in (("single", args.single), ("bulk", args.bulk),
                                    ("drain", args.single + args.bulk)):  # fmt: skip
                    before = _server_cpu(name, ns)
                    if workload == "single":
                        rate = await _single(client, n)
                    elif workload == "bulk":
                        rate = await _bulk(client, n, args.batch)
                    else:
                        rate = await _drain(backends[kind])
                    rates[kind][workload].append(rate)
                    cpu[kind][workload].append((_server_cpu(name, ns) - before) / n * 1e6)
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
    cpu_medians = {k: {w: statistics.median(c) for w, c in per.items()} for k, per in cpu.items()}
    return {
        "backend": name,
        "median_jobs_per_s": {k: {w: round(v) for w, v in m.items()} for k, m in medians.items()},
        "counted_over_bare": {
            w: round(medians["counted"][w] / medians["bare"][w], 3) for w in medians["bare"]
        },
        "server_cpu_us_per_job": {
            k: {w: round(v, 1) for w, v in m.items()} for k, m in cpu_medians.items()
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
