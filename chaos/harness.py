"""Starting, killing, stopping and respawning worker processes; waiting for quiescence.

A ``Harness`` owns one scenario run: a fresh namespace on one backend, a work directory
with the effects log and the workers' stats files, the seeded random generator that
picks victims and timings, and a ``Client`` for enqueueing and for the final state.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from chaos.effects import EffectsLog
from chaos.placement import Placement
from wg_core import Backend, Client, JobState, backend_from_url
from wg_core.backend import JobQuery
from wg_core.errors import BackendUnavailableError

__all__ = [
    "BACKENDS",
    "DEFAULT_URLS",
    "BackendMissing",
    "Harness",
    "Worker",
    "available_backends",
    "backend_url",
]

BACKENDS: Final = ("sqlite", "redis", "postgres", "mysql")
"""Backends a worker *process* can share with the harness (memory cannot)."""

DEFAULT_URLS: Final = {
    "redis": "redis://127.0.0.1:6379/0",
    "postgres": "postgresql://postgres@127.0.0.1:5432/test",
    "mysql": "mysql://root@127.0.0.1:3306/test",
}
_MODULES: Final = {
    "memory": "wg_core.backends.memory",
    "sqlite": "wg_core.backends.sqlite",
    "redis": "wg_core.backends.redis",
    "postgres": "wg_core.backends.postgres",
    "mysql": "wg_core.backends.mysql",
}
ROOT: Final = Path(__file__).resolve().parent.parent


class BackendMissing(Exception):
    """The backend's module is not there yet, or its server cannot be reached."""


def available_backends(names: Sequence[str] = BACKENDS) -> list[str]:
    """The backends among ``names`` whose module exists."""
    return [name for name in names if importlib.util.find_spec(_MODULES[name]) is not None]


def backend_url(name: str, workdir: Path) -> str:
    """The URL for backend ``name``: ``WG_TEST_<NAME>_URL`` or the local server."""
    if name == "sqlite":
        return f"sqlite:{workdir / 'wg.db'}"
    if name == "memory":
        return "memory:"
    return os.environ.get(f"WG_TEST_{name.upper()}_URL", DEFAULT_URLS[name])


@dataclass
class Worker:
    """One worker process and what was done to it."""

    process: subprocess.Popen[bytes]
    started: float
    fate: str = "running"
    """``running``, ``killed`` (SIGKILL), ``terminated`` (SIGTERM as a fault),
    ``crashed``, ``stopped`` (the clean SIGTERM at the end of a run)."""
    replaced: bool = False
    """A crashed worker the harness has started a replacement for."""

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Harness:
    """One scenario run on one backend under a fresh namespace."""

    backend_name: str
    workdir: Path
    seed: int
    url: str = ""
    namespace: str = field(default_factory=lambda: "chaos" + uuid.uuid4().hex[:10])
    workers: list[Worker] = field(default_factory=list)
    worker_args: tuple[str, ...] = ()
    killed: set[int] = field(default_factory=set)
    stopped: set[int] = field(default_factory=set)
    terminated: set[int] = field(default_factory=set)
    disturbed: set[int] = field(default_factory=set)
    """Workers whose backend connections the harness dropped."""
    exits: dict[int, int] = field(default_factory=dict)
    """Exit code of every worker that has ended, by pid."""
    placement: dict[str, Placement] = field(default_factory=dict)
    """The queue and priority each job was enqueued with, by id (where known)."""

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.url = self.url or backend_url(self.backend_name, self.workdir)
        self.rng = random.Random(self.seed)
        self.log_path = self.workdir / "effects.log"
        self.stats_dir = self.workdir / "stats"
        self.stats_dir.mkdir(exist_ok=True)
        self.backend: Backend = backend_from_url(self.url, self.namespace)
        self.client = Client(self.backend)

    async def open(self) -> None:
        """Open the backend (skip-worthy ``BackendMissing`` if it cannot be reached)."""
        try:
            await self.client.open()
        except BackendUnavailableError as exc:
            raise BackendMissing(f"{self.backend_name} unreachable: {exc}") from exc

    async def close(self) -> None:
        """Stop every worker still running, delete the namespace, close the backend."""
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.kill()
            worker.process.wait()
        try:
            await self.backend.destroy()
        finally:
            await self.backend.close()

    # -- workers -------------------------------------------------------------------------

    def spawn(self, *args: str) -> Worker:
        """Start a worker process (``args`` on top of the harness's ``worker_args``)."""
        command = [
            sys.executable,
            "-m",
            "chaos.worker",
            self.url,
            self.namespace,
            str(self.log_path),
            str(self.stats_dir),
            *self.worker_args,
            *args,
        ]
        process = subprocess.Popen(command, cwd=ROOT, env=_child_env())
        worker = Worker(process, time.time())
        self.workers.append(worker)
        return worker

    def reap_exits(self) -> None:
        """Record the exit code (and fate ``crashed``) of workers that have ended."""
        for worker in self.workers:
            code = worker.process.poll()
            if code is not None and worker.pid not in self.exits:
                self.exits[worker.pid] = code
                if worker.fate == "running":
                    worker.fate = "crashed"

    @property
    def live(self) -> list[Worker]:
        """Workers still running."""
        self.reap_exits()
        return [worker for worker in self.workers if worker.process.poll() is None]

    def kill(self, worker: Worker) -> None:
        """SIGKILL ``worker`` and wait for it."""
        worker.process.send_signal(signal.SIGKILL)
        worker.process.wait()
        worker.fate = "killed"
        self.killed.add(worker.pid)
        self.exits[worker.pid] = worker.process.returncode

    async def held_by(self, worker: Worker) -> int:
        """How many RUNNING jobs the backend shows leased to ``worker``'s pool."""
        running = await self.backend.list_jobs(JobQuery(state=JobState.RUNNING, limit=100_000))
        marker = f"-{worker.pid}-"
        return sum(1 for job in running if job.worker_id and marker in job.worker_id)

    async def terminate(
        self, worker: Worker, timeout: float = 60.0, *, fault: bool = True
    ) -> float:
        """SIGTERM ``worker``; returns how long it took to exit.

        ``fault=False`` for the clean stop at the end of a run: its runs are then not
        excused as victims of a fault.
        """
        begun = time.monotonic()
        worker.fate = "terminated" if fault else "stopped"
        if fault:
            self.terminated.add(worker.pid)
        worker.process.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(worker.process.wait, timeout)
        self.exits[worker.pid] = code
        return time.monotonic() - begun

    async def stop_all(self) -> None:
        """SIGTERM every live worker and wait for all of them."""
        await asyncio.gather(*(self.terminate(worker, fault=False) for worker in self.live))

    def stats(self) -> dict[str, int]:
        """The sum of the stats files written by workers that exited gracefully."""
        total: dict[str, int] = {}
        for path in self.stats_dir.glob("*.json"):
            for key, value in json.loads(path.read_text()).items():
                total[key] = total.get(key, 0) + int(value)
        return total

    def effects(self) -> EffectsLog:
        """The effects log as it stands."""
        return EffectsLog.read(self.log_path)

    async def wait_for_starts(self, count: int, timeout: float = 60.0) -> None:
        """Wait until the log shows at least ``count`` handler starts."""
        deadline = time.monotonic() + timeout
        while self.effects().starts < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"fewer than {count} handler starts after {timeout}s")
            await asyncio.sleep(0.05)

    # -- quiescence ----------------------------------------------------------------------

    def respawn_crashed(self, *args: str) -> int:
        """Replace every worker that died on its own; returns how many."""
        self.reap_exits()
        crashed = [w for w in self.workers if w.fate == "crashed" and not w.replaced]
        for worker in crashed:
            worker.replaced = True
            self.spawn(*args)
        return len(crashed)

    async def settle(
        self, *, quiet_for: float, limit: float = 600.0, respawn: bool = False
    ) -> bool:
        """Wait until no job is queued, scheduled, retrying or running.

        Gives up (returns False: the rest are *stuck*) when nothing has changed for
        ``quiet_for`` seconds (the lease, reaper interval and a drain margin) or after
        ``limit`` seconds in all.
        """
        deadline = time.monotonic() + limit
        last_change = time.monotonic()
        last: tuple[int, ...] = ()
        while time.monotonic() < deadline:
            if respawn:
                self.respawn_crashed()
            counts = await self.client.counts()
            pending = counts.queued + counts.scheduled + counts.retry + counts.running
            if pending == 0:
                return True
            counters = await self.client.counters()
            now_state = (pending, counts.dead, counters.processed, counters.failed)
            if now_state != last:
                last, last_change = now_state, time.monotonic()
            elif time.monotonic() - last_change > quiet_for:
                return False
            await asyncio.sleep(0.05)
        return False


def _child_env() -> dict[str, str]:
    """The environment for child processes: this checkout first on the import path."""
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
