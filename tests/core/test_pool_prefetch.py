"""The claiming-ahead settings (the behaviour is in tests/conformance/test_pool.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from wg_core import ConfigError, WorkerConfig, WorkerPool
from wg_core.backends.memory import MemoryBackend


async def handle(job: Any) -> None:
    pass


@pytest.mark.parametrize("prefetch", [-1, 1.5, True, "2"])
def test_prefetch_must_be_an_int_at_least_0(prefetch: Any) -> None:
    with pytest.raises(ConfigError, match="prefetch"):
        WorkerPool(handle, backend=MemoryBackend(), prefetch=prefetch)


@pytest.mark.parametrize("hold", [0, -1.0])
def test_prefetch_hold_must_be_positive(hold: float) -> None:
    with pytest.raises(ConfigError, match="prefetch_hold"):
        WorkerPool(handle, backend=MemoryBackend(), prefetch_hold=hold)


def test_prefetch_settings_are_worker_config_fields() -> None:
    pool = WorkerPool(handle, backend=MemoryBackend(), workers=3, prefetch=0, prefetch_hold=0.5)
    assert (pool.config.workers, pool.config.prefetch, pool.config.prefetch_hold) == (3, 0, 0.5)
    config = WorkerConfig(prefetch_hold=timedelta(milliseconds=250))
    assert (config.prefetch, config.prefetch_hold) == (None, 0.25)
