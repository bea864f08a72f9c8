"""``wg status`` and ``wg health``."""

from __future__ import annotations

import json
import time
from datetime import datetime

from tests.cli.conftest import Wg
from wg_core import Client, WorkerInfo


def test_status_document(wg: Wg) -> None:
    wg.enqueue("a", {})
    wg.enqueue("b", {})
    wg.enqueue("c", {}, delay=600)
    wg.kill(1, "boom")
    doc = wg.json("status")
    assert doc["version"] == 3
    assert doc["namespace"] == wg.namespace
    assert doc["backend"] == wg.url
    assert doc["paused"] is False
    assert doc["counts"] == {
        "queued": 1,
        "scheduled": 1,
        "retry": 0,
        "running": 0,
        "dead": 1,
        "completed": 0,
        "cancelled": 0,
        "total": 3,
    }
    assert doc["oldest_queued_at"].endswith("Z")
    assert 0 <= doc["oldest_queued_age_seconds"] < 60
    assert (doc["workers"], doc["busy"], doc["concurrency"]) == (0, 0, 0)
    assert (doc["processed"], doc["failed"]) == (0, 1)
    generated = datetime.fromisoformat(doc["generated_at"])
    assert abs(generated.timestamp() - time.time()) < 60


def test_status_table(wg: Wg) -> None:
    wg.enqueue("a", {})
    result = wg("status")
    assert result.exit_code == 0
    for word in ("queued", "scheduled", "retry", "running", "dead", wg.namespace, "processed"):
        assert word in result.stdout


def test_empty_namespace(wg: Wg) -> None:
    doc = wg.json("status")
    assert doc["counts"]["total"] == 0
    assert doc["oldest_queued_at"] is None
    assert doc["oldest_queued_age_seconds"] is None


def test_status_watch_prints_one_document_per_refresh(wg: Wg) -> None:
    result = wg("status", "--watch", "0.01", "--count", "3", "-o", "json")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(json.loads(line)["namespace"] == wg.namespace for line in lines)
    table = wg("status", "--watch", "10ms", "--count", "2")
    assert table.exit_code == 0


def test_status_bad_watch_interval(wg: Wg) -> None:
    for value in ("soon", "0"):
        result = wg("status", "--watch", value)
        assert result.exit_code == 2
        assert "--watch" in result.stderr


def _register_worker(wg: Wg, *, seen_ago: float = 0.0) -> None:
    async def register(client: Client) -> None:
        info = WorkerInfo(
            worker_id="w1", host="h", pid=1, concurrency=1, started_at=time.time() - seen_ago
        )
        await client.backend.heartbeat(info, attempts=[], lease=30)

    wg.core(register)


def test_an_empty_namespace_is_healthy_under_the_default_checks(wg: Wg) -> None:
    result = wg("health")
    assert result.exit_code == 0, result.stderr
    assert "healthy" in result.stdout
    doc = wg.json("health")
    assert [check["check"] for check in doc["checks"]] == ["dead", "queued_age", "heartbeat_age"]
    assert [check["limit"] for check in doc["checks"]] == [0, 300.0, 60.0]


def test_dead_jobs_are_unhealthy_by_default(wg: Wg) -> None:
    wg.enqueue("a", {})
    wg.kill(1, "boom")
    result = wg("health")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: unhealthy: 1 dead jobs (limit 0)"


def test_ready_jobs_with_no_live_worker_are_unhealthy_by_default(wg: Wg) -> None:
    wg.enqueue("a", {})
    result = wg("health")
    assert result.exit_code == 1
    assert "1 job(s) queued or running and no worker registered" in result.stderr
    _register_worker(wg)
    assert wg("health").exit_code == 0


def test_health_max_dead(wg: Wg) -> None:
    wg.enqueue("a", {})
    wg.enqueue("b", {})
    wg.kill(2, "boom")
    assert wg("health", "--max-dead", "2").exit_code == 0
    assert wg("health", "--max-dead", "none").exit_code == 0
    result = wg("health", "--max-dead", "1")
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: unhealthy: 2 dead jobs (limit 1)"
    doc = json.loads(wg("health", "--max-dead", "1", "--json").stdout)
    assert doc["healthy"] is False
    assert doc["reasons"] == ["2 dead jobs (limit 1)"]
    assert doc["checks"][0] == {
        "check": "dead",
        "ok": False,
        "value": 2,
        "limit": 1,
        "reason": "2 dead jobs (limit 1)",
    }


def test_health_queued_age(wg: Wg) -> None:
    assert wg("health", "--max-queued-age", "0s").exit_code == 0  # nothing queued
    wg.enqueue("a", {})
    _register_worker(wg)
    time.sleep(0.05)
    result = wg("health", "--max-queued-age", "10ms")
    assert result.exit_code == 1
    assert "oldest queued job waited" in result.stderr
    assert wg("health", "--max-queued-age", "1h").exit_code == 0
    assert wg("health", "--max-queued-age", "none").exit_code == 0


def test_health_heartbeat_age(wg: Wg) -> None:
    assert wg("health", "--max-heartbeat-age", "60s").exit_code == 0  # nothing waiting
    result = wg("health", "--require-worker")
    assert result.exit_code == 1
    assert "no worker registered" in result.stderr
    _register_worker(wg)
    doc = json.loads(wg("health", "--require-worker", "-o", "json").stdout)
    assert doc["healthy"] is True
    assert doc["checks"][2]["check"] == "heartbeat_age"
    assert doc["checks"][2]["ok"] is True
    wg.enqueue("a", {})
    assert wg("health", "--max-heartbeat-age", "none").exit_code == 0


def test_health_bad_duration(wg: Wg) -> None:
    result = wg("health", "--max-queued-age", "five minutes")
    assert result.exit_code == 2
    assert "invalid --max-queued-age" in result.stderr


def test_health_bad_limits(wg: Wg) -> None:
    for args in (["--max-dead", "many"], ["--max-dead", "-1"]):
        result = wg("health", *args)
        assert result.exit_code == 2
        assert "--max-dead" in result.stderr
    result = wg("health", "--require-worker", "--max-heartbeat-age", "none")
    assert result.exit_code == 2
