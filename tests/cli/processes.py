"""Running the installed ``wg`` as a real process."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["wait_for", "wg_command"]


def wg_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m wg_cli``."""
    script = Path(sys.executable).parent / "wg"
    return [str(script)] if script.exists() else [sys.executable, "-m", "wg_cli"]


def wait_for(predicate: Callable[[], bool], timeout: float = 60.0, what: str = "it") -> None:
    """Poll ``predicate`` until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)
