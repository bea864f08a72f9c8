"""Where to connect and how to print: the options every command shares.

The global options live on the root callback (``wg -n myapp inspect dead``) and are
accepted again after the command (``wg inspect dead -n myapp -o id``), because that is
where people type them; a value given after the command wins.
"""

from __future__ import annotations

import enum
import logging
import sys
from dataclasses import dataclass, replace
from typing import Annotated

import typer

from wg_core import DEFAULT_URL, redact_url

__all__ = [
    "JsonOpt",
    "LogLevelOpt",
    "NamespaceOpt",
    "OutputFormat",
    "OutputOpt",
    "Settings",
    "UrlOpt",
    "configure_logging",
    "resolve",
]

PANEL = "Connection and output"


class OutputFormat(enum.StrEnum):
    """``table`` for people; ``json`` (one versioned document), ``jsonl`` (one object per
    line) and ``id`` (one job id per line) for scripts."""

    TABLE = "table"
    JSON = "json"
    JSONL = "jsonl"
    ID = "id"


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved global options of one invocation."""

    url: str
    namespace: str
    output: OutputFormat = OutputFormat.TABLE
    log_level: str | None = None

    @property
    def display_url(self) -> str:
        """The URL with any password replaced by ``***``: the only form ever printed."""
        return redact_url(self.url)

    @property
    def machine(self) -> bool:
        """Whether output is for scripts (anything but a table)."""
        return self.output is not OutputFormat.TABLE


UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        "-u",
        help="Backend URL (redis://, postgresql://, mysql://, sqlite:PATH). \\[env: WG_URL]",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace",
        "-n",
        help="Namespace of the queue. \\[env: WG_NAMESPACE]",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
OutputOpt = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="table (for people), json, jsonl or id (for scripts).",
        rich_help_panel=PANEL,
        show_default=False,
        case_sensitive=False,
    ),
]
LogLevelOpt = Annotated[
    str | None,
    typer.Option(
        "--log-level",
        envvar="WG_LOG_LEVEL",
        metavar="LEVEL",
        help="Log wg's messages at this level (DEBUG, INFO, WARNING, ERROR) on stderr "
        "\\[default: WARNING; INFO for worker].",
        rich_help_panel=PANEL,
        show_default=False,
    ),
]
JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Shorthand for --output json.", rich_help_panel=PANEL),
]


def configure_logging(level_name: str, *, json_lines: bool = False) -> None:
    """Send the ``wg`` loggers' records at ``level_name`` and above to stderr (never
    stdout: it carries the JSON documents); ``json_lines``: as one JSON object per
    line (``wg_core.logs.JsonFormatter``), replacing any plain handler set before."""
    level = logging.getLevelName(level_name.strip().upper())
    if not isinstance(level, int):
        from wg_cli.errors import CliError, ExitCode

        raise CliError(
            f"invalid --log-level {level_name!r}: use DEBUG, INFO, WARNING or ERROR",
            ExitCode.USAGE,
        )
    if json_lines:
        from wg_core.logs import JsonFormatter

        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(
            level=level,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    logging.getLogger("wg").setLevel(level)


def resolve(
    ctx: typer.Context,
    url: str | None = None,
    namespace: str | None = None,
    output: OutputFormat | None = None,
    json_output: bool = False,
) -> Settings:
    """The settings for this command: the root's, overridden by options given after it."""
    root = ctx.find_root().obj
    base = root if isinstance(root, Settings) else Settings(url=DEFAULT_URL, namespace="wg")
    if json_output:
        output = OutputFormat.JSON
    return replace(
        base,
        url=url if url is not None else base.url,
        namespace=namespace if namespace is not None else base.namespace,
        output=output if output is not None else base.output,
    )
