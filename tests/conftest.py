from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.backends import CONTRACT_BACKENDS, open_backend
from wg_core.backend import Backend


@pytest.fixture(params=CONTRACT_BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    """Each backend in turn."""
    name: str = request.param
    return name


@pytest.fixture
async def backend(backend_name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    """An opened backend of each kind, under a fresh namespace."""
    async with open_backend(backend_name, tmp_path) as opened:
        yield opened
