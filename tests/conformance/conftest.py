"""The conformance suite: every backend, the same behaviour (docs/architecture.md, "Tests").

The ``backend`` fixture (tests/conftest.py) yields each backend in turn under a fresh
namespace; ``twin`` is a second, independent instance on the same namespace (another
process's view, as far as one process can have one), for races between claimers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import make_backend
from wg_core.backend import Backend


@pytest.fixture
async def twin(backend: Backend, backend_name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """Another backend instance on the same storage and namespace."""
    if backend_name == "memory":
        yield backend  # in-process only: the same instance is the only view there is
        return
    other = make_backend(backend_name, backend.namespace, tmp_path)
    await other.open()
    try:
        yield other
    finally:
        await other.close()
