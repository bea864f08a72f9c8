"""Failures: one clear line (one JSON line in JSON mode), the documented exit code, no
traceback, no password, nothing changed."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import uuid

import pytest
from typer.testing import CliRunner

from tests.backends import URLS
from tests.cli.conftest import Wg
from wg_cli.main import app
from wg_core import __version__

SECRET = "s3cretpw"


def _has_backend(module: str) -> bool:
    return importlib.util.find_spec(f"wg_core.backends.{module}") is not None


def _needs(module: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(
        not _has_backend(module), reason=f"the {module} backend is not implemented yet"
    )


UNREACHABLE = [
    pytest.param("redis://127.0.0.1:1/0", marks=_needs("redis"), id="redis-refused"),
    pytest.param("postgresql://nobody@127.0.0.1:1/x", marks=_needs("postgres"), id="pg-refused"),
    pytest.param("mysql://root@127.0.0.1:1/test", marks=_needs("mysql"), id="mysql-refused"),
]
REFUSED_CONFIG = [
    pytest.param(
        f"redis://nobody:{SECRET}@127.0.0.1:6379/0", marks=_needs("redis"), id="redis-wrongpass"
    ),
    pytest.param(
        f"postgresql://nobody:{SECRET}@127.0.0.1:5432/test",
        marks=_needs("postgres"),
        id="pg-unknown-role",
    ),
    pytest.param(
        f"postgresql://postgres:{SECRET}@127.0.0.1:5432/wg_no_such_database",
        marks=_needs("postgres"),
        id="pg-unknown-database",
    ),
    pytest.param(
        f"mysql://root:{SECRET}@127.0.0.1:3306/test", marks=_needs("mysql"), id="mysql-wrongpass"
    ),
    pytest.param(
        "mysql://root@127.0.0.1:3306/wg_no_such_database",
        marks=_needs("mysql"),
        id="mysql-unknown-database",
    ),
]
COMMANDS = pytest.mark.parametrize(
    "command",
    [
        ["status"],
        ["inspect", "dead"],
        ["enqueue", "x", "{}"],
        ["retry", "--all", "--yes"],
        ["purge", "dead", "--yes"],
        ["worker", "wg_cli.demo_jobs:handlers"],
    ],
    ids=lambda c: c[0],
)


def _run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("url", UNREACHABLE)
@COMMANDS
def test_unreachable_backend_is_exit_69(url: str, command: list[str]) -> None:
    code, stdout, stderr = _run("-u", url, *command)
    assert code == 69, stderr
    assert stdout == ""
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("error: backend unreachable: ")
    assert "Traceback" not in stderr
    assert SECRET not in stderr


@pytest.mark.parametrize("url", REFUSED_CONFIG)
@COMMANDS
def test_a_refused_configuration_is_exit_78_not_unreachable(url: str, command: list[str]) -> None:
    # Supervisors retry 69 (EX_UNAVAILABLE); a wrong password or an unknown database
    # will not fix itself: 78 (EX_CONFIG).
    code, stdout, stderr = _run("-u", url, *command)
    assert code == 78, stderr
    assert stdout == ""
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("error: backend refused the configuration: ")
    assert "Traceback" not in stderr
    assert SECRET not in stderr


@pytest.mark.parametrize("url", UNREACHABLE[:2])
def test_unreachable_backend_in_json_mode(url: str) -> None:
    code, stdout, stderr = _run("-u", url, "inspect", "dead", "-o", "json")
    assert code == 69
    assert stdout == ""
    error = json.loads(stderr)  # exactly one JSON document
    assert error == {
        "version": 3,
        "error": {"code": 69, "kind": "unavailable", "message": error["error"]["message"]},
    }
    assert error["error"]["message"].startswith("backend unreachable: ")


@pytest.mark.skipif(not _has_backend("postgres"), reason="the postgres backend is not implemented")
def test_passwords_are_redacted_in_output() -> None:
    # The local PostgreSQL trusts every password: this one connects.
    url = URLS["postgres"].replace("postgres@", f"postgres:{SECRET}@")
    assert SECRET in url
    # A namespace of its own, created and dropped here: `status` is a reader and needs
    # one that exists (it passed only where an earlier run had left one behind).
    namespace = "wgclisecret" + uuid.uuid4().hex[:8]
    code, stdout, stderr = _run("-u", url, "-n", namespace, "init")
    if code == 69:
        pytest.skip(f"postgres unreachable: {stderr}")
    assert code == 0, stderr
    try:
        assert SECRET not in stdout + stderr
        code, stdout, stderr = _run("-u", url, "-n", namespace, "status")
        assert code == 0, stderr
        assert SECRET not in stdout + stderr
        assert "postgres:***@" in stdout
        code, stdout, _ = _run("-u", url, "-n", namespace, "status", "--json")
        assert json.loads(stdout)["backend"].startswith("postgresql://postgres:***@")
    finally:
        code, stdout, stderr = _run("-u", url, "-n", namespace, "drop", "--yes")
        assert code == 0, stderr
        assert SECRET not in stdout + stderr


def test_error_messages_never_show_a_password() -> None:
    code, _, stderr = _run("-u", f"ftp://user:{SECRET}@host/x", "status")
    assert code == 2
    assert SECRET not in stderr
    assert "ftp://user:***@host/x" in stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-n", "Bad-NS", "status"], "invalid namespace 'Bad-NS'"),
        (["-u", "ftp://x", "status"], "unsupported backend URL"),
        (["status", "--nope"], "No such option: --nope"),
        (["frobnicate"], "No such command 'frobnicate'"),
        (["-o", "yaml", "status"], "'yaml' is not one of"),
        (["status", "-o", "id"], "status has no ids"),
    ],
)
def test_usage_errors_are_exit_2(args: list[str], message: str) -> None:
    code, stdout, stderr = _run(*args)
    assert code == 2, stderr
    assert stdout == ""
    assert stderr.count("\n") == 1, stderr
    assert message in stderr


def test_usage_errors_in_json_mode_are_json() -> None:
    code, _, stderr = _run("--json", "status", "--nope")
    assert code == 2
    assert json.loads(stderr)["error"]["kind"] == "usage"


def test_help_documents_the_exit_codes() -> None:
    code, stdout, _ = _run("--help")
    assert code == 0
    text = " ".join(stdout.split())
    for fragment in (
        "0 ok",
        "1 failure",
        "2 usage error",
        "3 partial failure",
        "4 not found",
        "5 refused",
        "69 backend unreachable",
        "78 backend refuses the configuration",
        "WG_DEBUG=1",
    ):
        assert fragment in text


def test_every_command_has_help() -> None:
    for command in (
        "status",
        "inspect",
        "enqueue",
        "retry",
        "delete",
        "purge",
        "pause",
        "health",
        "init",
        "drop",
        "worker",
    ):
        code, stdout, _ = _run(command, "--help")
        assert code == 0
        assert "Usage" in stdout


def test_version() -> None:
    assert _run("--version")[:2] == (0, f"wg {__version__}\n")


def test_no_arguments_shows_help() -> None:
    code, stdout, stderr = _run()
    assert "Usage" in stdout + stderr
    assert code in (0, 2)


def test_python_dash_m(wg: Wg) -> None:
    """`python -m wg_cli` works where another `wg` (WireGuard) comes first on PATH."""
    wg.enqueue("x", {})
    done = subprocess.run(
        [sys.executable, "-m", "wg_cli", "-u", wg.url, "-n", wg.namespace, "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["counts"]["queued"] == 1
