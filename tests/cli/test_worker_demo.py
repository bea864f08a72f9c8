"""``wg worker`` (a real subprocess that drains on SIGTERM) and ``wg demo``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.cli.conftest import Wg
from tests.cli.processes import wait_for, wg_command

HANDLERS = textwrap.dedent(
    """
    import asyncio
    from pathlib import Path

    async def slow(job: dict) -> None:
        Path(job["dir"], job["name"] + ".started").touch()
        await asyncio.sleep(job["seconds"])
        Path(job["dir"], job["name"] + ".done").touch()
    """
)


@pytest.mark.slow
def test_worker_subprocess_drains_on_sigterm(wg: Wg, tmp_path: Path) -> None:
    (tmp_path / "cli_test_jobs.py").write_text(HANDLERS)
    marks = tmp_path / "marks"
    marks.mkdir()
    wg.enqueue("slow", {"dir": str(marks), "name": "first", "seconds": 0.5})
    process = subprocess.Popen(
        [*wg_command(), "-u", wg.url, "-n", wg.namespace, "worker", "cli_test_jobs:slow"],
        cwd=tmp_path,  # the module is found in the current directory
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        wait_for(lambda: (marks / "first.started").exists(), what="the job to start")
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert (marks / "first.done").exists()  # the running job was allowed to finish
    assert sum(wg.counts().values()) == 0
    assert "stopped:" in stderr
    assert wg.json("inspect", "workers")["workers"] == []  # unregistered on the way out


def test_worker_json_summary(wg: Wg, tmp_path: Path) -> None:
    (tmp_path / "cli_test_jobs.py").write_text(HANDLERS)
    process = subprocess.Popen(
        [
            *wg_command(),
            *("-u", wg.url, "-n", wg.namespace),
            *("worker", "cli_test_jobs:slow", "--json", "--log-level", "warning"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: bool(wg.json("inspect", "workers")["workers"]), what="registration")
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    doc = json.loads(stdout)
    assert doc["version"] == 3
    assert doc["namespace"] == wg.namespace
    assert doc["stats"]["processed"] == 0
    assert doc["worker_id"]


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("wg_cli.demo_jobs", [], "expected MODULE:HANDLER"),
        ("no_such_module_here:f", [], "cannot import 'no_such_module_here'"),
        ("wg_cli.demo_jobs:nope", [], "has no attribute 'nope'"),
        ("wg_cli.demo_jobs:handlers", ["--job-name", "fax"], "no handler for fax"),
        ("wg_cli.demo_jobs:__doc__", [], "neither a function nor a mapping"),
        ("wg_cli.demo_jobs:handlers", ["--shutdown-timeout", "later"], "--shutdown-timeout"),
        ("wg_cli.demo_jobs:handlers", ["--prefetch", "-1"], "--prefetch"),
    ],
)
def test_worker_bad_target_is_a_usage_error(
    wg: Wg, target: str, extra: list[str], message: str
) -> None:
    result = wg("worker", target, *extra)
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert message in result.stderr


@pytest.mark.slow
def test_demo(wg: Wg) -> None:
    doc = wg.json("demo", "--seed", "1")
    assert doc["version"] == 3
    assert doc["namespace"] == wg.namespace
    assert doc["enqueued"] == 59
    assert doc["processed"] == 54
    assert doc["dead"] == 5
    assert doc["retried"] >= 9 + 4  # charge_card: 9 timeouts; sync_inventory: 2 × 2
    assert doc["elapsed_seconds"] < 60
    names = sorted(job["job_name"] for job in doc["dead_jobs"])
    assert names == ["send_email"] * 3 + ["sync_inventory"] * 2
    assert all(job["last_error"] for job in doc["dead_jobs"])
    # The dead jobs stay, for `wg inspect dead`.
    dead = wg.json("inspect", "dead")
    assert sorted(job["id"] for job in dead["jobs"]) == sorted(j["id"] for j in doc["dead_jobs"])
    assert wg.counts() == {"queued": 0, "scheduled": 0, "retry": 0, "running": 0, "dead": 5}


def test_demo_table_ends_with_hints(wg: Wg) -> None:
    result = wg("demo")
    assert result.exit_code == 0, result.stderr
    for text in ("processed", "retried", "dead", "wg-tui", "inspect dead"):
        assert text in result.stdout


def test_demo_refuses_a_namespace_with_unfinished_jobs(wg: Wg) -> None:
    wg.enqueue("mine", {})
    result = wg("demo")
    assert result.exit_code == 1
    assert "1 unfinished job(s)" in result.stderr
    assert wg.counts()["queued"] == 1


@pytest.mark.slow
def test_demo_output_in_a_pipe_keeps_the_progress_and_the_summary_apart(wg: Wg) -> None:
    """`make demo | tee log`: stdout and stderr in one pipe, no terminal. The live
    display's last frame used to run into the summary's title (`… 5 deadwg demo — 4s`)."""
    done = subprocess.run(
        [*wg_command(), "-u", wg.url, "-n", wg.namespace, "demo", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert any(line.startswith("wg demo — ") for line in lines), done.stdout
    assert not any("deadwg" in line for line in lines)
    progress = [line for line in lines if line.startswith("wg demo: ")]
    assert len(progress) == 1, done.stdout
    assert progress[0].endswith("5 dead")
