"""``wg migrate``: the summary, the JSON document, running twice, --move, --dry-run,
what it refuses (active workers: exit 5; the same URL or a bad queue: exit 2; an
unknown scheme: exit 2) and that no password reaches the output (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Wg
from wg_core import Client, WorkerInfo


def seeded(wg: Wg) -> list[str]:
    """Two queued jobs (one in queue mail), one scheduled, one dead, one running."""
    ids = [wg.enqueue(), wg.enqueue(queue="mail"), wg.enqueue(delay=3600)]
    wg.enqueue()
    ids += wg.kill(1)  # buries the oldest queued job of default
    wg.enqueue()
    wg.claim(1)
    return ids


def target_of(tmp_path: Path) -> str:
    return f"sqlite:{tmp_path / 'target.db'}"


def test_copies_then_copies_nothing(wg: Wg, tmp_path: Path) -> None:
    seeded(wg)
    to = target_of(tmp_path)
    first = wg("migrate", "--from", wg.url, "--to", to)
    assert first.exit_code == 0, first.stderr
    assert f"Namespace {wg.namespace!r}: copied 4 job(s)." in first.stdout
    assert "1 running job(s) not copied" in first.stdout
    doc = wg.json("migrate", "--from", wg.url, "--to", to)
    assert doc["namespace"] == wg.namespace
    assert sum(doc["copied"].values()) == 0
    assert doc["skipped"] == {
        "queued": 2,
        "scheduled": 1,
        "retry": 0,
        "dead": 1,
        "completed": 0,
        "cancelled": 0,
    }
    assert doc["running_not_copied"] == 1


def test_move_and_a_queue_alone(wg: Wg, tmp_path: Path) -> None:
    seeded(wg)
    doc = wg.json(
        "migrate", "--from", wg.url, "--to", target_of(tmp_path), "--queue", "mail", "--move"
    )
    assert doc["copied"]["queued"] == 1
    assert doc["deleted"] == 1
    assert wg.counts()["queued"] == 1  # default's one left


def test_dry_run_changes_nothing(wg: Wg, tmp_path: Path) -> None:
    seeded(wg)
    result = wg("migrate", "--from", wg.url, "--to", target_of(tmp_path), "--dry-run", "--move")
    assert result.exit_code == 0, result.stderr
    assert "would copy 4 job(s)" in result.stdout
    assert "Nothing changed (dry run)." in result.stdout
    assert not (tmp_path / "target.db").exists()
    assert wg.counts()["queued"] == 2


def test_active_workers_refuse_unless_forced(wg: Wg, tmp_path: Path) -> None:
    wg.enqueue()

    async def register(client: Client) -> None:
        worker = WorkerInfo(worker_id="w-7", host="box", pid=7, concurrency=1)
        await client.backend.heartbeat(worker, attempts=[], lease=30)

    wg.core(register)
    refused = wg("migrate", "--from", wg.url, "--to", target_of(tmp_path))
    assert refused.exit_code == 5
    assert "active worker" in refused.stderr
    assert "w-7 on box" in refused.stderr
    assert "--force" in refused.stderr
    forced = wg.json("migrate", "--from", wg.url, "--to", target_of(tmp_path), "--force")
    assert forced["copied"]["queued"] == 1
    assert forced["active_workers"] == 1


def test_bad_input_is_a_usage_error(wg: Wg, tmp_path: Path) -> None:
    same = wg("migrate", "--from", wg.url, "--to", wg.url)
    assert same.exit_code == 2
    assert "same URL" in same.stderr
    unknown = wg("migrate", "--from", wg.url, "--to", "ftp://host/x")
    assert unknown.exit_code == 2
    assert "unsupported backend URL" in unknown.stderr
    queue = wg("migrate", "--from", wg.url, "--to", target_of(tmp_path), "--queue", "Bad Name")
    assert queue.exit_code == 2
    missing = wg("migrate", "--to", target_of(tmp_path))
    assert missing.exit_code == 2


def test_no_password_in_the_output(wg: Wg) -> None:
    wg.enqueue()
    url = "postgresql://wg:s3cr3t-pw@127.0.0.1:1/nowhere"
    result = wg("migrate", "--from", wg.url, "--to", url, "--json")
    assert result.exit_code == 69
    assert "s3cr3t-pw" not in result.stderr + result.stdout
    error = json.loads(result.stderr)["error"]
    assert error["kind"] == "unavailable"
