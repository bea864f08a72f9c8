"""The root ``wg`` command: global options and the one place failures become exit codes.

Commands register themselves on ``app`` from ``wg_cli.commands``; ``wg_cli.main``
imports them all. See ``wg_cli.errors`` for the exit codes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from wg_cli.errors import EXIT_CODES_HELP, CliError, ExitCode, report_failure
from wg_cli.settings import (
    JsonOpt,
    LogLevelOpt,
    OutputFormat,
    OutputOpt,
    Settings,
    configure_logging,
)
from wg_core import DEFAULT_URL, __version__

__all__ = ["WgGroup", "app"]


def _wants_json(args: Sequence[str]) -> bool:
    # Errors are reported after parsing may have failed, so the output format is read
    # from the raw arguments: --json, -o json|jsonl, --output json|jsonl, -ojson, --output=json.
    for index, arg in enumerate(args):
        if arg == "--json":
            return True
        value: str | None = None
        if arg in ("-o", "--output") and index + 1 < len(args):
            value = args[index + 1]
        elif arg.startswith("--output="):
            value = arg.split("=", 1)[1]
        elif arg.startswith("-o") and len(arg) > 2 and not arg.startswith("--"):
            value = arg[2:].lstrip("=")
        if value is not None and value.lower() in ("json", "jsonl"):
            return True
    return False


def _urls_in(args: Sequence[str]) -> tuple[str, ...]:
    candidates = [a for a in args if "://" in a]
    env = os.environ.get("WG_URL")
    return (*candidates, env) if env else tuple(candidates)


class WgGroup(TyperGroup):
    """Typer's group, with every failure turned into one line and a documented code."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        arguments = list(sys.argv[1:] if args is None else args)
        try:
            result = super().main(
                arguments,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
            code = result if isinstance(result, int) else 0
        except KeyboardInterrupt:
            code = 130
        except typer.Abort:
            # Only prompts abort (Ctrl-C or end of input at "[y/N]"): nobody said yes.
            refused = CliError("not confirmed: nothing was changed", ExitCode.REFUSED)
            code = report_failure(refused, json_mode=_wants_json(arguments))
        except BrokenPipeError:
            # The reader went away (`wg inspect dead -o id | head`): say nothing more.
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
            code = 1
        except Exception as exc:
            code = report_failure(exc, json_mode=_wants_json(arguments), urls=_urls_in(arguments))
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(
    cls=WgGroup,
    name="wg",
    help=(
        "Inspect and operate wg job queues on Redis, PostgreSQL, MySQL/MariaDB or SQLite.\n\n"
        "With no --url, wg uses the SQLite file wg.db in the current directory."
    ),
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"wg {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[
        str,
        typer.Option(
            "--url",
            "-u",
            envvar="WG_URL",
            help=(
                "Backend URL: redis://, redis+sentinel://, redis+cluster:// (a slot per "
                "queue; ?slots=namespace for one), postgresql://, mysql://, sqlite:PATH."
            ),
            rich_help_panel="Connection and output",
        ),
    ] = DEFAULT_URL,
    namespace: Annotated[
        str,
        typer.Option(
            "--namespace",
            "-n",
            envvar="WG_NAMESPACE",
            help="Namespace of the queue.",
            rich_help_panel="Connection and output",
        ),
    ] = "wg",
    output: OutputOpt = None,
    json_output: JsonOpt = False,
    log_level: LogLevelOpt = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Global options; they may also be given after the command."""
    chosen = OutputFormat.JSON if json_output else (output or OutputFormat.TABLE)
    if log_level is not None:
        configure_logging(log_level)
    ctx.obj = Settings(url=url, namespace=namespace, output=chosen, log_level=log_level)
