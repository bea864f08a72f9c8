"""The Node peer queues: BullMQ (Redis), graphile-worker and pg-boss (PostgreSQL).

Each is driven by ``benchmarks/node/peer.mjs`` (its own public API: ``Queue.add`` /
``addBulk`` and ``Worker``; ``addJob`` / ``addJobs`` and ``run``; ``send`` / ``insert``
and ``work``), which records every job exactly as ``benchmarks.recorder`` does. The
packages are pinned in ``benchmarks/node/package.json`` + ``package-lock.json`` and
installed with ``npm ci`` into ``benchmarks/.node`` on first use (never a dependency of
wg). The worker is ``exec``-ed in place of the child, so the harness's CPU and RSS
sampling of the worker's process group sees Node itself.

Variants: ``graphile`` runs graphile-worker's defaults (one ``SKIP LOCKED`` fetch per free
slot, one completion query per job); ``graphile-batch`` its documented batching settings
(``localQueue.size = 500``, ``completeJobBatchDelay = 0``, ``failJobBatchDelay = 0``).
``pgboss`` runs ``work`` registered 10 times with pg-boss's defaults (one job per fetch,
then a 2 s wait: ~5 jobs/s); ``pgboss-tuned`` fetches 50 per registration every 0.5 s
(pg-boss's minimum interval).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

from benchmarks.adapters.base import Adapter, Job, NotSupported, Servers

HERE = Path(__file__).resolve().parent.parent / "node"
INSTALL = HERE.parent / ".node"
SCRIPT = HERE / "peer.mjs"
EXIT_NOT_SUPPORTED = 3
PACKAGES = {"bullmq": "bullmq", "graphile": "graphile-worker", "pgboss": "pg-boss"}


def ensure_installed() -> Path:
    """``npm ci`` the pinned packages into ``benchmarks/.node`` when the lock file changed."""
    lock = (HERE / "package-lock.json").read_bytes() + (HERE / "package.json").read_bytes()
    wanted = hashlib.sha256(lock).hexdigest()
    stamp = INSTALL / ".lock-sha"
    if stamp.exists() and stamp.read_text() == wanted:
        return INSTALL / "node_modules"
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise RuntimeError("node and npm are needed for the Node peers (Node >= 20)")
    INSTALL.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copyfile(HERE / name, INSTALL / name)
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
        cwd=INSTALL, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    stamp.write_text(wanted)
    return INSTALL / "node_modules"


class NodeAdapter(Adapter):
    """One Node queue; the verbs run ``peer.mjs`` in a subprocess."""

    @property
    def system(self) -> str:
        base = self.key.split("-")[0]
        return f"{base}-{self.variant}" if self.variant != "default" else base

    @property
    def url(self) -> str:
        return self.redis_url if self.backend == "redis" else self.postgres_url

    def _argv(self, op: str, *args: str) -> list[str]:
        return ["node", str(SCRIPT), self.system, op, self.url, *args]

    def _env(self) -> dict[str, str]:
        return dict(os.environ, BENCH_NODE_MODULES=str(ensure_installed()))

    def _run(self, op: str, *args: str) -> str:
        done = subprocess.run(
            self._argv(op, *args), env=self._env(), capture_output=True, text=True, timeout=600
        )
        if done.returncode == EXIT_NOT_SUPPORTED:
            raise NotSupported
        if done.returncode != 0:
            raise RuntimeError(f"{self.system} {op} failed:\n{done.stderr[-2000:]}")
        return done.stdout

    async def setup(self) -> None:
        self._run("setup")

    def produce_external(self, n: int, mode: str, interval: float) -> float:
        """Enqueue ``n`` jobs in Node; the seconds it took (timed inside Node)."""
        out = self._run("produce", str(n), mode, str(interval))
        seconds: float = json.loads(out.strip().splitlines()[-1])["seconds"]
        return seconds

    async def enqueue(self, job: Job) -> None:  # pragma: no cover - produce_external
        raise NotSupported

    def run_worker(self, concurrency: int) -> None:
        argv = self._argv("work", str(concurrency))
        os.execvpe(argv[0], argv, self._env())

    def version(self) -> str:
        package = PACKAGES[self.key.split("-")[0]]
        meta = json.loads((ensure_installed() / package / "package.json").read_text())
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout
        return f"{package} {meta['version']} (Node {node.strip()})"


LABELS = {
    "bullmq": ("BullMQ (Node)", "Node Worker, concurrency=10"),
    "graphile": ("graphile-worker (Node, defaults)", "Node run(), concurrency=10"),
    "graphile-batch": (
        "graphile-worker (Node, batching: localQueue 500, completeJobBatchDelay 0)",
        "Node run(), concurrency=10, local queue",
    ),
    "pgboss": ("pg-boss (Node, defaults: batchSize 1, polls every 2 s)", "Node, work() x 10"),
    "pgboss-tuned": (
        "pg-boss (Node, tuned: batchSize 50, polls every 0.5 s)",
        "Node, work() x 10",
    ),
}


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    adapter = NodeAdapter(key, backend, variant, servers)
    adapter.label, adapter.worker_model = LABELS[adapter.system]
    return adapter
