"""Scenario 9: the Hypothesis state machine over the backend contract, on every backend.

Also the retry backoff's shape: monotone in the attempt number, never above its cap.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import run_state_machine_as_test

from chaos.model import machine_for
from tests.backends import ALL_BACKENDS, ids_per_queue, make_backend, unreachable
from wg_core import Backend, Envelope
from wg_core.errors import BackendUnavailableError
from wg_core.failures import backoff_delay

MACHINE_SETTINGS = settings(
    max_examples=int(os.environ.get("WG_CHAOS_MODEL_EXAMPLES", "8")),
    stateful_step_count=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


MEMORY_FACTOR: Final = 6
CLOCKED: Final = frozenset({"memory", "sqlite"})
"""Backends that take an injected clock: the model steps it instead of sleeping."""


# A server backend's example costs a few seconds (every step checks every job against
# the model): its own time bound, above the suite's 120 s, so a loaded machine does not
# turn a slow pass into a failure.
@pytest.mark.timeout(360)
@pytest.mark.parametrize("name", ALL_BACKENDS)
def test_backend_contract_state_machine(name: str, tmp_path: Path) -> None:
    def factory(namespace: str, clock: Callable[[], float]) -> Backend:
        options: dict[str, Any] = {"clock": clock} if name in CLOCKED else {}
        return make_backend(name, namespace, Path(tempfile.mkdtemp(dir=tmp_path)), **options)

    machine = machine_for(
        factory, name, steps_clock=name in CLOCKED, ids_per_queue=ids_per_queue(name)
    )
    # Memory runs cost next to nothing: many more of them find rarer sequences.
    examples = MACHINE_SETTINGS.max_examples * (MEMORY_FACTOR if name == "memory" else 1)
    try:
        run_state_machine_as_test(
            machine, settings=settings(MACHINE_SETTINGS, max_examples=examples)
        )
    except BackendUnavailableError as exc:
        unreachable(name, exc)


@given(
    base=st.floats(0.001, 1000),
    cap=st.floats(0, 100_000),
    counts=st.lists(st.integers(0, 200), min_size=2, max_size=10),
)
def test_backoff_is_monotone_up_to_its_cap(base: float, cap: float, counts: list[int]) -> None:
    envelope = Envelope(
        id="j", job_name="j", payload=None, max_retries=300, retry_count=0, timeout=None,
        retry_delay=base, status="Retry", created_at=0,
    )  # fmt: skip
    delays = [
        backoff_delay(
            envelope.evolve(retry_count=count), default_delay=10, max_delay=cap, jitter=0.0
        )
        for count in sorted(counts)
    ]
    assert delays == sorted(delays)
    assert all(0 <= delay <= cap for delay in delays)
