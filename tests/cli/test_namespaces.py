"""Readers create nothing; ``wg init`` creates and ``wg drop`` removes a namespace.

``wg status -u sqlite:typo.db`` used to create an empty database and report on it, and
``wg health`` called it healthy. Now every command that only reads or changes existing
jobs opens with ``create=False``: a missing namespace or SQLite file is exit 4 and
nothing is created. The SQLite backend learns ``create=False`` this round: until it
does, these tests are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.backends import fresh_namespace
from tests.cli.conftest import Wg
from wg_cli.main import app
from wg_core import Client, NamespaceNotFoundError


def _sqlite_readers_create_nothing(tmp: Path) -> bool:
    path = tmp / "probe.db"

    async def probe() -> bool:
        try:
            client = await Client.connect(f"sqlite:{path}", "probe", create=False)
        except NamespaceNotFoundError:
            return not path.exists()
        await client.close()
        return False

    return asyncio.run(probe())


@pytest.fixture
def readers(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not _sqlite_readers_create_nothing(tmp_path_factory.mktemp("probe")):
        pytest.skip("the SQLite backend does not implement open(create=False) yet")


def _run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]


READERS = [
    ["status"],
    ["health"],
    ["inspect", "dead"],
    ["inspect", "job", "00000000-0000-4000-8000-000000000001"],
    ["inspect", "workers"],
    ["retry", "--all", "--yes"],
    ["purge", "all", "--yes"],
    ["pause"],
    ["drop", "--yes"],
]


@pytest.mark.usefixtures("readers")
@pytest.mark.parametrize("command", READERS, ids=lambda c: "-".join(c[:2]))
def test_a_missing_sqlite_file_is_exit_4_and_is_not_created(
    tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "typo.db"
    code, stdout, stderr = _run("-u", f"sqlite:{path}", *command)
    assert code == 4, stderr
    assert stdout == ""
    assert stderr.count("\n") == 1
    assert "no namespace 'wg'" in stderr
    assert "wg init" in stderr
    assert not path.exists()


@pytest.mark.usefixtures("readers")
@pytest.mark.parametrize("command", READERS, ids=lambda c: "-".join(c[:2]))
def test_a_missing_namespace_in_an_existing_file_is_exit_4_and_creates_no_table(
    wg: Wg, command: list[str]
) -> None:
    path = Path(wg.url.removeprefix("sqlite:"))
    before = _tables(path)
    never_used = fresh_namespace()
    code, _, stderr = _run("-u", wg.url, "-n", never_used, *command, "--json")
    assert code == 4, stderr
    assert json.loads(stderr)["error"]["kind"] == "not_found"
    assert _tables(path) == before
    assert not [name for name in _tables(path) if name.startswith(never_used)]


@pytest.mark.usefixtures("readers")
def test_init_creates_then_readers_work_and_drop_removes(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'jobs.db'}"
    namespace = fresh_namespace()
    base = ("-u", url, "-n", namespace)
    assert _run(*base, "status")[0] == 4
    code, stdout, _ = _run(*base, "init", "--json")
    assert code == 0
    assert json.loads(stdout)["created"] is True
    assert json.loads(_run(*base, "init", "--json")[1])["created"] is False
    assert _run(*base, "status")[0] == 0
    assert _run(*base, "health")[0] == 0
    assert _run(*base, "enqueue", "x", "{}")[0] == 0

    code, _, stderr = _run(*base, "drop")  # stdin is not a terminal: nobody to ask
    assert code == 5, stderr
    assert _run(*base, "status")[0] == 0
    code, stdout, _ = _run(*base, "drop", "--yes", "--json")
    assert code == 0
    assert json.loads(stdout)["deleted"] == 1
    assert _run(*base, "status")[0] == 4


def test_writers_create_the_namespace(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'new.db'}"
    code, stdout, stderr = _run("-u", url, "enqueue", "x", "{}")
    assert code == 0, stderr
    code, stdout, _ = _run("-u", url, "status", "--json")
    assert code == 0
    assert json.loads(stdout)["counts"]["queued"] == 1


def test_drop_asks_on_a_terminal_and_deletes_everything(
    wg: Wg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wg_cli.session.stdin_is_terminal", lambda: True)
    wg.enqueue("a", {})
    wg.enqueue("b", {}, delay=600)
    refused = wg("drop", input="n\n")
    assert refused.exit_code == 5
    assert f"Drop namespace {wg.namespace!r}" in refused.stderr
    assert sum(wg.counts().values()) == 2
    done = wg("drop", input="y\n")
    assert done.exit_code == 0, done.stderr
    assert "2 job(s) deleted" in done.stdout
