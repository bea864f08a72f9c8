"""The installed ``wg`` console script, run as a real process against each server backend:
enqueue → inspect → retry (the pipe idiom) → purge."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.backends import backend_url, fresh_namespace, make_backend, unreachable
from tests.cli.processes import wg_command
from wg_core import Backend, BackendUnavailableError, Envelope

pytestmark = pytest.mark.slow


def _bury_queued(backend: Backend, count: int) -> list[str]:
    async def body() -> list[str]:
        await backend.open()
        try:
            attempts = await backend.claim(limit=count, lease=30, worker_id="cli-test")
            ids = []
            for attempt in attempts:
                envelope = Envelope.decode(attempt.raw)
                dead = envelope.evolve(status="Dead", last_error="smtp refused")
                assert await backend.bury(attempt, raw=dead.encode(), error=dead.last_error)
                ids.append(envelope.id)
            return ids
        finally:
            await backend.close()

    return asyncio.run(body())


def _destroy(backend: Backend) -> None:
    async def body() -> None:
        try:
            await backend.open()
            await backend.destroy()
        except BackendUnavailableError:
            pass
        finally:
            await backend.close()

    asyncio.run(body())


@pytest.mark.parametrize("name", ["redis", "postgres", "mysql"])
def test_round_trip(name: str, tmp_path: Path) -> None:
    namespace = fresh_namespace()
    backend = make_backend(name, namespace, tmp_path)  # skips while not implemented
    url = backend_url(name, tmp_path)

    def wg(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*wg_command(), "-u", url, "-n", namespace, *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def doc(*args: str) -> Any:
        done = wg(*args, "-o", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    lines = "".join(json.dumps({"to": f"u{n}@example.com"}) + "\n" for n in range(4))
    enqueued = wg("enqueue", "send_email", "--jsonl", input=lines)
    if enqueued.returncode == 69:
        unreachable(name, RuntimeError(enqueued.stderr))
    try:
        assert enqueued.returncode == 0, enqueued.stderr
        ids = enqueued.stdout.split()
        assert len(ids) == 4

        queued = doc("inspect", "queued")
        assert queued["namespace"] == namespace
        assert [job["id"] for job in queued["jobs"]] == ids
        assert queued["jobs"][0]["payload"] == {"to": "u0@example.com"}
        assert queued["jobs"][0]["job_name"] == "send_email"

        dead = _bury_queued(backend, 2)
        assert dead == ids[:2]
        listed = wg("inspect", "dead", "-o", "id")
        assert listed.stdout.split() == dead
        retried = wg("retry", "-", "--yes", "-o", "json", input=listed.stdout)
        assert retried.returncode == 0, retried.stderr
        assert json.loads(retried.stdout)["retried"] == 2

        purged = doc("purge", "all", "--yes")
        assert purged["matched"] == {
            "queued": 4,
            "scheduled": 0,
            "retry": 0,
            "dead": 0,
            "completed": 0,
            "cancelled": 0,
        }
        assert purged["total"] == 4
    finally:
        _destroy(backend)
