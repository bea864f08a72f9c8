"""``wg-tui``: parse the command line, connect, run the dashboard.

Options mirror the ``wg`` CLI: ``--url``/``WG_URL`` (default: the embedded SQLite file
``wg.db``), ``--namespace``/``WG_NAMESPACE`` (default ``wg``), plus ``--read-only`` and
``--refresh SECONDS``. argparse, not Typer: Typer belongs to the ``cli`` extra, and
``pip install 'wg[tui]'`` must be enough to run this.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from wg_core import DEFAULT_URL, Client, WgError, backend_from_url, redact_url

__all__ = ["build_parser", "main"]


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``wg-tui`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="wg-tui",
        description="Live dashboard and controls for a wg namespace.",
    )
    parser.add_argument(
        "-u",
        "--url",
        default=os.environ.get("WG_URL", DEFAULT_URL),
        help=f"backend URL (env WG_URL; default {DEFAULT_URL}, an embedded SQLite file)",
    )
    parser.add_argument(
        "-n",
        "--namespace",
        default=os.environ.get("WG_NAMESPACE", "wg"),
        help="namespace (env WG_NAMESPACE; default wg)",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="look, never change anything (every action that writes is disabled)",
    )
    parser.add_argument(
        "--refresh",
        type=_positive_seconds,
        default=2.0,
        metavar="SECONDS",
        help="seconds between refreshes (default 2)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``wg-tui``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        # Importing Textual costs a moment: do it after the arguments are known good.
        from wg_tui.app import WgApp

        backend = backend_from_url(args.url, args.namespace)
    except ModuleNotFoundError as exc:
        # Textual comes with the tui extra, not with the base install.
        if (exc.name or "").partition(".")[0] not in ("textual", "rich"):
            raise
        print(
            f"wg-tui: the dashboard needs the {exc.name!r} package, which is not installed. "
            "Install it with: pip install 'wg[tui]'  (from a checkout: pip install '.[tui]')",
            file=sys.stderr,
        )
        return 1
    except WgError as exc:
        print(f"wg-tui: {exc}", file=sys.stderr)
        return 2
    app = WgApp(
        Client(backend),
        read_only=args.read_only,
        refresh_every=args.refresh,
        url=redact_url(args.url),
        close_client=True,
    )
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
