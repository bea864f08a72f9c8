"""One module per measured system; ``SYSTEMS`` maps a row key to its adapter.

Adapters are imported lazily by key, so the harness process never imports a peer queue:
each system runs in its own child processes (see ``benchmarks.child``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from benchmarks.adapters.base import Adapter, Servers


@dataclass(frozen=True, slots=True)
class SystemSpec:
    """A row of the table: which adapter, with which variant, on which backend."""

    key: str
    backend: str
    module: str
    variant: str = "default"
    group: str = "peer"  # "wg", "peer" or "raw"


SYSTEMS: tuple[SystemSpec, ...] = (
    # Redis
    SystemSpec("wg-redis", "redis", "wg_adapter", group="wg"),
    SystemSpec("wg-redis-queues", "redis", "wg_adapter", "queues", group="wg"),
    SystemSpec("wg-redis-nokeep", "redis", "wg_adapter", "nokeep", group="wg"),
    SystemSpec("wg-redis-unique", "redis", "wg_adapter", "unique", group="wg"),
    SystemSpec("wg-redis-observed", "redis", "wg_adapter", "observed", group="wg"),
    SystemSpec("raw-redis", "redis", "raw_redis", group="raw"),
    SystemSpec("arq", "redis", "arq_adapter"),
    SystemSpec("arq-tuned", "redis", "arq_adapter", "tuned"),
    SystemSpec("saq-redis", "redis", "saq_adapter"),
    SystemSpec("rq", "redis", "rq_adapter"),
    SystemSpec("rq-tuned", "redis", "rq_adapter", "tuned"),
    SystemSpec("streaq", "redis", "streaq_adapter"),
    SystemSpec("dramatiq", "redis", "dramatiq_adapter"),
    SystemSpec("huey-redis", "redis", "huey_adapter"),
    SystemSpec("celery", "redis", "celery_adapter"),
    SystemSpec("celery-prefork", "redis", "celery_adapter", "prefork"),
    SystemSpec("bullmq", "redis", "node_adapter"),
    SystemSpec("taskiq-redis", "redis", "taskiq_adapter"),
    # PostgreSQL
    SystemSpec("wg-postgres", "postgres", "wg_adapter", group="wg"),
    SystemSpec("wg-postgres-queues", "postgres", "wg_adapter", "queues", group="wg"),
    SystemSpec("wg-postgres-nokeep", "postgres", "wg_adapter", "nokeep", group="wg"),
    SystemSpec("wg-postgres-unique", "postgres", "wg_adapter", "unique", group="wg"),
    SystemSpec("wg-postgres-observed", "postgres", "wg_adapter", "observed", group="wg"),
    SystemSpec("raw-postgres", "postgres", "raw_sql", group="raw"),
    SystemSpec("procrastinate", "postgres", "procrastinate_adapter"),
    SystemSpec("pgqueuer", "postgres", "pgqueuer_adapter"),
    SystemSpec("saq-postgres", "postgres", "saq_adapter"),
    SystemSpec("graphile", "postgres", "node_adapter"),
    SystemSpec("graphile-batch", "postgres", "node_adapter", "batch"),
    SystemSpec("pgboss", "postgres", "node_adapter"),
    SystemSpec("pgboss-tuned", "postgres", "node_adapter", "tuned"),
    SystemSpec("chancy", "postgres", "chancy_adapter"),
    SystemSpec("oban", "postgres", "oban_adapter"),
    # SQLite
    SystemSpec("wg-sqlite", "sqlite", "wg_adapter", group="wg"),
    SystemSpec("wg-sqlite-queues", "sqlite", "wg_adapter", "queues", group="wg"),
    SystemSpec("wg-sqlite-nokeep", "sqlite", "wg_adapter", "nokeep", group="wg"),
    SystemSpec("wg-sqlite-unique", "sqlite", "wg_adapter", "unique", group="wg"),
    SystemSpec("wg-sqlite-observed", "sqlite", "wg_adapter", "observed", group="wg"),
    SystemSpec("raw-sqlite", "sqlite", "raw_sql", group="raw"),
    SystemSpec("huey-sqlite", "sqlite", "huey_adapter"),
    SystemSpec("huey-sqlite-tuned", "sqlite", "huey_adapter", "tuned"),
    # MySQL / MariaDB: no Python peer queue supports it
    SystemSpec("wg-mysql", "mysql", "wg_adapter", group="wg"),
    SystemSpec("wg-mysql-queues", "mysql", "wg_adapter", "queues", group="wg"),
    SystemSpec("wg-mysql-nokeep", "mysql", "wg_adapter", "nokeep", group="wg"),
    SystemSpec("wg-mysql-unique", "mysql", "wg_adapter", "unique", group="wg"),
    SystemSpec("wg-mysql-observed", "mysql", "wg_adapter", "observed", group="wg"),
    SystemSpec("raw-mysql", "mysql", "raw_sql", group="raw"),
)

BY_KEY = {spec.key: spec for spec in SYSTEMS}


def load(key: str, servers: Servers) -> Adapter:
    """Import the adapter module for ``key`` and build it."""
    spec = BY_KEY[key]
    module = importlib.import_module(f"benchmarks.adapters.{spec.module}")
    adapter: Adapter = module.make(spec.key, spec.backend, spec.variant, servers)
    return adapter
