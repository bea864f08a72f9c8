"""Entry point of the ``wg`` console script (and ``python -m wg_cli``)."""

from __future__ import annotations

import importlib

from wg_cli.app import app

__all__ = ["app", "main"]

# Importing a command module registers its commands; this order is the order of
# `wg --help`, most used first.
_COMMAND_MODULES = (
    "status",
    "inspect",
    "enqueue",
    "retry",
    "removal",
    "pause",
    "health",
    "worker",
    "demo",
)
for _module in _COMMAND_MODULES:
    try:
        importlib.import_module(f"wg_cli.commands.{_module}")
    except ModuleNotFoundError as exc:  # worker and demo land with the WorkerPool
        if exc.name != f"wg_cli.commands.{_module}":
            raise


def main() -> None:
    """Run ``wg`` with the process's arguments; exits with the documented code."""
    app()
