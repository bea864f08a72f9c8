"""``wg-tui``: parse the command line, connect, run the dashboard.

Options mirror the ``wg`` CLI: ``--url``/``WG_URL`` (default: the embedded SQLite file
``wg.db``), ``--namespace``/``WG_NAMESPACE`` (default ``wg``), plus ``--read-only`` and
``--refresh SECONDS``. It only reads unless told to act: the namespace (or SQLite
file) must exist already, else it says so and exits with status 4, creating nothing
(as ``wg status`` does). argparse, not Typer: Typer belongs to the ``cli`` extra, and
``pip install 'wg[tui]'`` must be enough to run this.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from wg_core import (
    DEFAULT_URL,
    BackendConfigError,
    BackendUnavailableError,
    Client,
    ConfigError,
    NamespaceNotFoundError,
    SchemaOutdatedError,
    WgError,
    backend_from_url,
    redact_url,
)

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


async def _check_namespace(url: str, namespace: str) -> None:
    """Open the namespace as a reader once and close it again: raises
    ``NamespaceNotFoundError`` (and creates nothing) if it does not exist.

    The app's own client is opened inside the app's event loop, where a failure only
    reaches the status line; this check runs first so that a typo in ``--url`` or
    ``--namespace`` is one line and exit status 4, not an empty dashboard.
    """
    client = Client(backend_from_url(url, namespace), create=False)
    try:
        await client.open()
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``wg-tui``; returns the exit status (as ``wg``'s: 2 bad arguments, 4 no such
    namespace or SQLite file, 6 storage layout older than this wg reads, 69 backend
    unreachable, 78 configuration refused, 1 any other failure)."""
    args = build_parser().parse_args(argv)
    shown_url = redact_url(args.url)
    try:
        # Importing Textual costs a moment: do it after the arguments are known good.
        from wg_tui.app import WgApp

        backend = backend_from_url(args.url, args.namespace)
        asyncio.run(_check_namespace(args.url, args.namespace))
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
    except NamespaceNotFoundError as exc:
        print(
            f"wg-tui: {exc} (namespace {args.namespace!r} at {shown_url} does not exist; "
            "nothing was created: check --url and --namespace)",
            file=sys.stderr,
        )
        return 4
    except SchemaOutdatedError as exc:
        # A dashboard reads: it upgrades nothing, as `wg status` does (same exit code).
        print(
            f"wg-tui: {exc} (the dashboard upgrades nothing: run wg upgrade, or start a "
            "worker, which upgrades it on open)",
            file=sys.stderr,
        )
        return 6
    except ConfigError as exc:
        print(f"wg-tui: {exc}", file=sys.stderr)
        return 2
    except BackendUnavailableError as exc:
        print(f"wg-tui: backend unreachable: {exc}", file=sys.stderr)
        return 69
    except BackendConfigError as exc:
        print(f"wg-tui: backend refused the configuration: {exc}", file=sys.stderr)
        return 78
    except WgError as exc:
        print(f"wg-tui: {exc}", file=sys.stderr)
        return 1
    app = WgApp(
        # A dashboard reads: it never creates the namespace or the SQLite file.
        Client(backend, create=False),
        read_only=args.read_only,
        refresh_every=args.refresh,
        url=shown_url,
        close_client=True,
    )
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
