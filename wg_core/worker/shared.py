"""What every part of one pool shares, handed to each part as one value."""

from __future__ import annotations

from dataclasses import dataclass, field

from wg_core.backend import Backend
from wg_core.options import WorkerConfig
from wg_core.worker.backoff import Recovery
from wg_core.worker.ledger import Ledger

__all__ = ["Shared"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Shared:
    """The pool's backend (behind the checked-dispatch layer), its settings, its id in
    the worker registry, its books and its retry loops' recovery signal. The pool
    builds one; its claimer, runner, acknowledger, outcomes, lease keeper and
    maintenance loops all read it, so none of them keeps copies of its own (and none
    can be handed a different backend or ledger than the others)."""

    backend: Backend
    config: WorkerConfig
    worker_id: str
    ledger: Ledger
    recovery: Recovery = field(default_factory=Recovery)
    """Wakes the retry loops when the backend answers again after an outage."""
