"""``wg upgrade``, and what every reader says about a namespace of an older layout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import wg_cli.commands.upgrade
import wg_core.client
from tests.backends import fresh_namespace
from tests.cli.conftest import Wg
from wg_core import Backend, Client, MemoryBackend, SchemaOutdatedError
from wg_core.backend import LAYOUT_VERSION

ROOT = Path(__file__).resolve().parents[2]
V1_COMMIT = "1f76d15"
"""The last commit of storage layout 1 (before named queues)."""

SOME_ID = "6f1c2d0e-8a4b-4c1e-9f3a-2b7d5e6a9c01"


class _V1Memory(MemoryBackend):
    """A memory backend that reports layout 1 until a writer opens it, as a namespace
    written by the previous release does (readers refuse it; writers upgrade it)."""

    version = 1

    async def open(self, *, create: bool = True) -> None:
        if self.version < LAYOUT_VERSION:
            if not create:
                raise SchemaOutdatedError(
                    f"layout {self.version}, this wg reads layout {LAYOUT_VERSION}",
                    found=self.version,
                )
            self.version = LAYOUT_VERSION
        await super().open(create=create)

    async def layout_version(self) -> int:
        return self.version


@pytest.fixture
def outdated(monkeypatch: pytest.MonkeyPatch) -> Wg:
    """``wg`` on a ``memory:`` namespace of layout 1 holding one queued job."""
    namespace = fresh_namespace()
    shared = _V1Memory(namespace)
    real = wg_core.client.backend_from_url

    def backend_from_url(url: str, name: str = "wg", **options: Any) -> Backend:
        return shared if url == "memory:" and name == namespace else real(url, name, **options)

    monkeypatch.setattr(wg_core.client, "backend_from_url", backend_from_url)
    monkeypatch.setattr(wg_cli.commands.upgrade, "backend_from_url", backend_from_url)

    async def connect() -> Client:
        return Client(shared)

    wg = Wg("memory:", namespace, connect, CliRunner())
    wg.enqueue("report", {})
    shared.version = 1  # as the previous release leaves it
    return wg


READERS = [
    ["status"],
    ["queues"],
    ["inspect", "queued"],
    ["inspect", "job", SOME_ID],
    ["inspect", "workers"],
    ["health"],
    ["pause"],
    ["resume", "--queue", "emails"],
    ["retry", "--all", "--yes"],
    ["purge", "dead", "--yes"],
    ["delete", SOME_ID, "--yes"],
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(a[:2]))
def test_every_reader_names_wg_upgrade(outdated: Wg, args: list[str]) -> None:
    result = outdated(*args)
    assert result.exit_code == 6, (result.stdout, result.stderr)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert "run wg upgrade" in line
    assert "layout 1" in line
    as_json = outdated(*args, "-o", "json")
    error = json.loads(as_json.stderr)["error"]
    assert (error["code"], error["kind"]) == (6, "outdated")


def test_upgrade_prints_the_versions_then_readers_read(outdated: Wg) -> None:
    dry = outdated.json("upgrade", "--dry-run")
    assert (dry["from_version"], dry["to_version"], dry["upgraded"]) == (1, LAYOUT_VERSION, False)
    assert outdated("status").exit_code == 6  # a dry run changes nothing
    said = outdated("upgrade")
    assert said.exit_code == 0, said.stderr
    assert f"from layout 1 to layout {LAYOUT_VERSION}" in said.stdout
    status = outdated.json("status")
    assert status["layout_version"] == LAYOUT_VERSION
    assert status["counts"]["queued"] == 1  # nothing lost
    again = outdated.json("upgrade")
    assert (again["current"], again["upgraded"], again["from_version"]) == (
        True,
        False,
        LAYOUT_VERSION,
    )


def test_upgrade_of_a_current_namespace_says_so(wgq: Wg) -> None:
    said = wgq("upgrade")
    assert said.exit_code == 0, said.stderr
    assert f"is current (layout {LAYOUT_VERSION})" in said.stdout
    doc = wgq.json("upgrade")
    assert (doc["current"], doc["upgraded"]) == (True, False)
    assert doc["from_version"] == doc["to_version"] == LAYOUT_VERSION


def test_upgrade_of_a_missing_namespace_exits_4_and_creates_nothing(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "absent.db"
    result = runner.invoke(wg_cli_app(), ["upgrade", "-u", f"sqlite:{path}"])
    assert result.exit_code == 4, result.stderr
    assert "nothing was created" in result.stderr
    assert not path.exists()


def test_init_says_an_outdated_namespace_exists(outdated: Wg) -> None:
    doc = outdated.json("init")
    assert (doc["created"], doc["outdated"]) == (False, True)
    assert outdated("status").exit_code == 6  # init does not upgrade behind one's back


def test_drop_needs_no_upgrade_first(outdated: Wg) -> None:
    doc = outdated.json("drop", "--yes")
    assert (doc["dropped"], doc["deleted"]) == (True, 1)


def wg_cli_app() -> Any:
    from wg_cli.main import app

    return app


# -- a namespace really written by the previous release --------------------------------------


def write_v1_namespace(tmp_path: Path, url: str, namespace: str) -> None:
    """Enqueue two jobs and bury one with the code of ``V1_COMMIT`` (layout 1)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git history of this repository")
    old = tmp_path / "v1"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", V1_COMMIT, "wg_core"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    script = textwrap.dedent(
        f"""
        import asyncio
        from wg_core import Client, Envelope

        async def main():
            client = await Client.connect({url!r}, {namespace!r})
            await client.enqueue({{"n": 1}}, job_name="report")
            await client.enqueue({{"n": 2}}, job_name="report")
            [attempt] = await client.backend.claim(limit=1, lease=30, worker_id="v1")
            dead = Envelope.decode(attempt.raw).evolve(status="Dead", last_error="boom")
            await client.backend.bury(attempt, raw=dead.encode(), error="boom")
            await client.close()

        asyncio.run(main())
        """
    )
    subprocess.run(
        [sys.executable, "-c", script], check=True, cwd=old, env={"PYTHONPATH": str(old)}
    )


def test_a_v1_sqlite_namespace_is_refused_then_upgraded(tmp_path: Path) -> None:
    url, namespace = f"sqlite:{tmp_path / 'old.db'}", fresh_namespace()
    write_v1_namespace(tmp_path, url, namespace)
    runner, app = CliRunner(), wg_cli_app()
    base = ["-u", url, "-n", namespace]
    refused = runner.invoke(app, [*base, "status"])
    assert refused.exit_code == 6, (refused.stdout, refused.stderr)
    assert "wg upgrade" in refused.stderr
    upgraded = runner.invoke(app, [*base, "upgrade", "-o", "json"])
    assert upgraded.exit_code == 0, upgraded.stderr
    doc = json.loads(upgraded.stdout)
    # The first release recorded no version: it reads as 0, as the Rust wg's does.
    assert (doc["from_version"], doc["to_version"]) == (0, LAYOUT_VERSION)
    status = json.loads(runner.invoke(app, [*base, "status", "-o", "json"]).stdout)
    assert (status["counts"]["queued"], status["counts"]["dead"]) == (1, 1)
    assert [(q["name"], q["counts"]["total"]) for q in status["queues"]] == [("default", 2)]
