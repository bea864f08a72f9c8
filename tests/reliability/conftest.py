"""The reliability suite's CI profile: every scenario on every backend that exists.

The seed comes from ``WG_CHAOS_SEED`` (to replay a failure) or is drawn fresh and
printed; every failure message carries it.
"""

from __future__ import annotations

import os

import pytest

from chaos.harness import BACKENDS, available_backends
from chaos.runner import new_seed


@pytest.fixture(scope="session")
def chaos_seed() -> int:
    """The seed for this session's runs."""
    seed = int(os.environ.get("WG_CHAOS_SEED") or new_seed())
    print(f"WG_CHAOS_SEED={seed}")
    return seed


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``chaos_backend``: each durable backend (a missing module is skipped, by name)."""
    if "chaos_backend" in metafunc.fixturenames:
        present = set(available_backends())
        params = [
            pytest.param(
                name,
                marks=()
                if name in present
                else pytest.mark.skip(reason=f"the {name} backend is not implemented yet"),
            )
            for name in BACKENDS
        ]
        metafunc.parametrize("chaos_backend", params)
