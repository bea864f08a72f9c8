"""Issue 9's process scenarios, small: real worker processes, real signals, real servers.

Each test runs one scenario on a fresh namespace and asserts its pass criteria: nothing
lost, duplicates only where a fault explains them, no illegal transition, nothing
stuck. ``python -m chaos run --profile large`` runs the same scenarios big.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.harness import BackendMissing
from chaos.profiles import PROFILES
from chaos.runner import run_scenario
from chaos.scenarios import LARGE_ONLY, SCENARIOS
from tests.backends import unreachable

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", [name for name in SCENARIOS if name not in LARGE_ONLY])
async def test_scenario(scenario: str, chaos_backend: str, chaos_seed: int, tmp_path: Path) -> None:
    try:
        verdict = await run_scenario(
            SCENARIOS[scenario], chaos_backend, PROFILES["ci"], seed=chaos_seed, workdir=tmp_path
        )
    except BackendMissing as exc:
        unreachable(chaos_backend, exc)
    print(verdict.summary())
    assert verdict.ok, verdict.summary()
