"""WorkerPool (being written: this placeholder keeps the package importable)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PoolStats:
    processed: int = 0
    failed: int = 0


class WorkerPool:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError
