"""Entry point of the ``wg`` console script (and ``python -m wg_cli``).

The CLI's packages (Typer, Rich) come with the ``cli`` extra, not with the base
install, which stays the dependency-free library: ``pip install wg`` gives a ``wg``
that says which ``pip install`` to run instead of a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    import typer

    app: typer.Typer

__all__ = ["INSTALL_HINT", "app", "main"]

INSTALL_HINT: Final = "pip install 'wg[cli]'  (from a checkout: pip install '.[cli]')"
_CLI_PACKAGES: Final = frozenset({"typer", "click", "rich", "shellingham"})
"""Top-level packages of the ``cli`` extra (and what they import)."""

# Importing a command module registers its commands; this order is the order of
# `wg --help`, most used first.
_COMMAND_MODULES: Final = (
    "status",
    "queues",
    "inspect",
    "result",
    "enqueue",
    "retry",
    "cancel",
    "removal",
    "pause",
    "limits",
    "health",
    "periodic",
    "worker",
    "demo",
    "namespace",
    "upgrade",
    "migrate",
)


def _load() -> typer.Typer:
    from wg_cli.app import app

    for module in _COMMAND_MODULES:
        importlib.import_module(f"wg_cli.commands.{module}")
    return app


def __getattr__(name: str) -> object:
    # `from wg_cli.main import app` (tests, embedding) loads the commands on first use.
    if name == "app":
        return _load()
    raise AttributeError(f"module 'wg_cli.main' has no attribute {name!r}")


def main() -> None:
    """Run ``wg`` with the process's arguments; exits with the documented code."""
    try:
        root = _load()
    except ModuleNotFoundError as exc:
        if (exc.name or "").partition(".")[0] not in _CLI_PACKAGES:
            raise
        print(
            f"wg: the command line needs the {exc.name!r} package, which is not installed. "
            f"Install the CLI with: {INSTALL_HINT}",
            file=sys.stderr,
        )
        sys.exit(1)
    root()
