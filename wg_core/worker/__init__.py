"""The worker pool, one module per concern (the pool's composition is in ``pool``)."""

from wg_core.worker.ledger import PoolStats
from wg_core.worker.pool import WorkerPool

__all__ = ["PoolStats", "WorkerPool"]
