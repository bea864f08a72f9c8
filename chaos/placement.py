"""Where chaos puts its jobs: three queues × three priorities, served by every worker.

Scenarios spread their work over ``QUEUES`` at ``PRIORITIES`` (seeded, so a run can be
replayed), and every worker process serves all the queues in that order, so queue order
and priority change which job runs when but never whether it runs: the checker still
proves nothing lost and nothing run twice, and that each job kept its queue and
priority and was counted in its own queue's counters.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = ["PRIORITIES", "QUEUES", "Placement", "place", "placement_of"]

QUEUES: Final = ("critical", "default", "bulk")
"""The queues chaos jobs go to, in the order every chaos worker serves them."""
PRIORITIES: Final = (5, 0, -5)

Placement = tuple[str, int]
"""A job's queue and priority."""


def place(rng: random.Random) -> Placement:
    """A random queue and priority."""
    return rng.choice(QUEUES), rng.choice(PRIORITIES)


def placement_of(n: int) -> Placement:
    """The ``n``-th job's queue and priority, cycling through all nine (for producers
    without a shared random generator)."""
    return QUEUES[n % len(QUEUES)], PRIORITIES[(n // len(QUEUES)) % len(PRIORITIES)]
