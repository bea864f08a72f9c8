"""Run scenarios on backends: what ``python -m chaos run`` and the CI tests call."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from chaos.checker import Verdict
from chaos.harness import Harness
from chaos.profiles import Profile
from chaos.scenarios import Scenario

__all__ = ["new_seed", "run_scenario"]


def new_seed() -> int:
    """A fresh seed (printed with every verdict so the run can be replayed)."""
    return random.SystemRandom().randrange(2**32)


async def run_scenario(
    scenario: Scenario,
    backend_name: str,
    profile: Profile,
    *,
    seed: int,
    workdir: Path | None = None,
) -> Verdict:
    """Run one scenario on a fresh namespace of ``backend_name`` and check it."""
    with tempfile.TemporaryDirectory(prefix="wg-chaos-") as scratch:
        harness = Harness(backend_name, workdir or Path(scratch), seed)
        await harness.open()
        try:
            return await scenario(harness, profile)
        finally:
            await harness.close()
