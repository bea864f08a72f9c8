"""The examples in ``examples/`` as importable packages (``fastapi_shop``, ``django_shop``)."""

from __future__ import annotations

import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))

FAST = {"fetch_timeout": 0.2, "heartbeat_interval": 0.2, "scheduler_interval": 0.1}
"""Worker settings for the examples' tests (never a timing assertion)."""
