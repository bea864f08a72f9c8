"""Test backends: one factory per backend name, a fresh namespace per test.

Server URLs come from ``WG_TEST_REDIS_URL``, ``WG_TEST_POSTGRES_URL`` and
``WG_TEST_MYSQL_URL`` (defaults: the local servers of this project's machines).
The tests taking the ``backend`` fixture (the conformance suite) also run on
``redis-slots`` (``RedisQueueSlots``: a slot per queue, the cluster URL's default
layout, on the single server); ``WG_TEST_SLOTS=1`` adds it to every other backend-wide
test too (CLI, TUI, the model), ``WG_TEST_SLOTS=0`` leaves it out.
``WG_TEST_CLUSTER`` adds the backend ``redis-cluster`` (off by default: it starts six
servers): ``1`` for a private 6-node Redis Cluster started once per test process
(chaos/clusters.py, stopped by pid at exit), or a ``redis+cluster://`` URL. It runs the
cluster URL's default, a slot per queue (``RedisQueueSlots``);
``WG_TEST_CLUSTER_SLOTS=namespace`` runs it with one slot (``RedisBackend``). A
backend whose server is unreachable is skipped with the reason on a laptop, and fails
the run when ``CI=true``. A backend whose module does not exist yet is skipped.
"""

from __future__ import annotations

import atexit
import importlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from wg_core.backend import Backend
from wg_core.errors import BackendUnavailableError

_CLUSTER = os.environ.get("WG_TEST_CLUSTER", "")
_SLOTS_SETTING = os.environ.get("WG_TEST_SLOTS", "")
_SLOTS = _SLOTS_SETTING not in ("", "0")
# The cluster's layout: its URL's default (a slot per queue) or ``namespace`` (one slot).
_CLUSTER_ONE_SLOT = os.environ.get("WG_TEST_CLUSTER_SLOTS", "queue") == "namespace"

ALL_BACKENDS: tuple[str, ...] = ("memory", "sqlite", "redis", "postgres", "mysql")
if _SLOTS:
    ALL_BACKENDS += ("redis-slots",)
if _CLUSTER:
    ALL_BACKENDS += ("redis-cluster",)

CONTRACT_BACKENDS: tuple[str, ...] = ALL_BACKENDS
"""The backends of the ``backend`` fixture: a slot per queue is a layout of its own
(``RedisQueueSlots`` routes every verb), so the contract runs on it by default."""
if _SLOTS_SETTING == "":
    CONTRACT_BACKENDS += ("redis-slots",)

URLS = {
    "redis": os.environ.get("WG_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "postgres": os.environ.get("WG_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("WG_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test"),
}

_MODULES = {
    "memory": ("wg_core.backends.memory", "MemoryBackend"),
    "sqlite": ("wg_core.backends.sqlite", "SqliteBackend"),
    "redis": ("wg_core.backends.redis", "RedisBackend"),
    "redis-slots": ("wg_core.backends.redis", "RedisQueueSlots"),
    "redis-cluster": (
        "wg_core.backends.redis",
        "RedisBackend" if _CLUSTER_ONE_SLOT else "RedisQueueSlots",
    ),
    "postgres": ("wg_core.backends.postgres", "PostgresBackend"),
    "mysql": ("wg_core.backends.mysql", "MySqlBackend"),
}


def ids_per_queue(name: str) -> bool:
    """Whether backend ``name`` keeps job ids unique within a queue only (Redis with a
    slot per queue: docs/redis.md)."""
    return name == "redis-slots" or (name == "redis-cluster" and not _CLUSTER_ONE_SLOT)


def fresh_namespace() -> str:
    """A namespace no other test uses."""
    return "t" + uuid.uuid4().hex[:12]


_started_cluster: list[str] = []


@contextmanager
def use_cluster(url: str) -> Iterator[None]:
    """Make ``url`` the cluster of the backend ``redis-cluster`` in this process while
    in the block (a test module's own cluster), then the one before again."""
    before = list(_started_cluster)
    _started_cluster[:] = [url]
    try:
        yield
    finally:
        _started_cluster[:] = before


def cluster_url() -> str:
    """The ``redis+cluster://`` URL of the backend ``redis-cluster``: ``WG_TEST_CLUSTER``'s,
    or the private cluster of this process, started on first use."""
    if _CLUSTER not in ("", "1"):
        return _CLUSTER
    if not _started_cluster:
        from chaos.clusters import RedisClusterSet

        directory = tempfile.TemporaryDirectory(prefix="wg-cluster-")
        deployment = RedisClusterSet(Path(directory.name))
        atexit.register(directory.cleanup)
        atexit.register(deployment.stop)  # runs first: the nodes, by pid
        deployment.start()
        _started_cluster.append(deployment.url())
    return _started_cluster[0]


def backend_url(name: str, tmp_path: Path) -> str:
    """The URL a test process (e.g. a worker subprocess) uses for backend ``name``."""
    if name == "redis-cluster":
        # No slots option by default: what the cluster URL gives a new namespace.
        return cluster_url() + ("?slots=namespace" if _CLUSTER_ONE_SLOT else "")
    if name == "redis-slots":
        return URLS["redis"] + "?slots=queue"
    if name == "sqlite":
        return f"sqlite:{tmp_path / 'wg.db'}"
    if name == "memory":
        return "memory:"
    return URLS[name]


def _backend_class(name: str) -> Any:
    module_name, class_name = _MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            pytest.skip(f"the {name} backend is not implemented yet")
        raise
    return getattr(module, class_name)


def make_backend(name: str, namespace: str, tmp_path: Path, **options: Any) -> Backend:
    """An unopened backend of kind ``name``."""
    cls = _backend_class(name)
    if name == "memory":
        backend: Backend = cls(namespace, **options)
    else:
        backend = cls(backend_url(name, tmp_path), namespace, **options)
    return backend


def unreachable(name: str, exc: BaseException) -> None:
    """Skip (laptop) or fail (CI) a test whose backend server cannot be reached."""
    message = f"{name} server unreachable: {exc}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@asynccontextmanager
async def open_backend(
    name: str, tmp_path: Path, *, namespace: str | None = None, **options: Any
) -> AsyncIterator[Backend]:
    """An opened backend under a fresh namespace, destroyed afterwards."""
    backend = make_backend(name, namespace or fresh_namespace(), tmp_path, **options)
    try:
        await backend.open()
    except BackendUnavailableError as exc:
        unreachable(name, exc)
    try:
        yield backend
    finally:
        try:
            await backend.destroy()
        finally:
            await backend.close()
