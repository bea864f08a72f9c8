"""``wg worker MODULE:APP``, ``--burst`` and ``--processes`` (issue 21): the console
script in real processes, the supervisor's restart policy in-process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import tests.workers.task_app as task_app
from tests.cli.conftest import Wg
from tests.cli.processes import wait_for, wg_command
from wg_cli.main import app as wg_app
from wg_cli.supervisor import GaveUpError, Supervisor
from wg_core import App, Client

ROOT = Path(__file__).resolve().parents[2]
FAST = ("--fetch-timeout", "0.2", "--heartbeat-interval", "0.2", "--scheduler-interval", "0.1")


def enqueue(wg: Wg, task: Any, *calls: tuple[Any, ...]) -> list[str]:
    """Enqueue ``task(*args)`` for each of ``calls`` into the test's namespace."""

    async def body(client: Client) -> list[str]:
        app = App(backend=client.backend)
        bound = app.task(name=task.name, queue=task.queue)(task.func)
        return [await bound.enqueue(*args) for args in calls]

    return wg.core(body)


def results(wg: Wg, job_ids: list[str]) -> list[Any]:
    async def body(client: Client) -> list[Any]:
        return [await client.result(job_id, timeout=30) for job_id in job_ids]

    return wg.core(body)


def run_wg(wg: Wg, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wg_command(), "-u", wg.url, "-n", wg.namespace, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_burst_serves_every_task_of_the_app_and_exits(wg: Wg) -> None:
    sums = enqueue(wg, task_app.add, (1, 2), (3, 4))
    naps = enqueue(wg, task_app.sleepy, (0.01,))
    doc = wg.json("worker", "tests.workers.task_app:app", "--burst", *FAST)
    assert doc["stats"]["processed"] == 3  # both queues: default and the task's "slow"
    assert results(wg, sums) == [3, 7]
    assert results(wg, naps)[0]["worker_id"] == doc["worker_id"]
    # --queue limits it to the tasks of that queue.
    later = enqueue(wg, task_app.sleepy, (0.01,))
    enqueue(wg, task_app.add, (5, 6))
    doc = wg.json("worker", "tests.workers.task_app:app", "--burst", "--queue", "slow", *FAST)
    assert doc["stats"]["processed"] == 1
    assert results(wg, later)[0]["pid"] == os.getpid()  # in-process (CliRunner)
    assert wg.counts()["queued"] == 1


def test_the_apps_own_url_and_namespace_unless_given(
    wg: Wg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = App(f"sqlite:{tmp_path / 'own.db'}", namespace="own_app")
    task = own.task(name=task_app.add.name)(task_app.add.func)
    monkeypatch.setattr(task_app, "own", own, raising=False)

    async def produce() -> str:
        async with own:
            return await task.enqueue(20, 22)

    job_id = asyncio.run(produce())
    own_target = ["worker", "tests.workers.task_app:own", "--burst", "-o", "json", *FAST]
    # --namespace on the command line wins over the app's: nothing to do there.
    elsewhere = wg.runner.invoke(wg_app, [*own_target, "-n", "another_app"])
    assert elsewhere.exit_code == 0, elsewhere.output
    assert json.loads(elsewhere.stdout)["stats"]["processed"] == 0
    result = wg.runner.invoke(wg_app, own_target)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["namespace"], doc["stats"]["processed"]) == ("own_app", 1)

    async def read() -> Any:
        async with own:
            return await own.result(job_id, timeout=5)

    assert asyncio.run(read()) == 42


def test_a_wrong_app_target_is_a_usage_error(wg: Wg) -> None:
    result = wg("worker", "tests.workers.task_app:app", "--job-name", "nope", "--burst")
    assert result.exit_code == 2
    assert "has no handler for nope" in result.stderr
    result = wg("worker", "tests.workers.task_app:app", "--processes", "0")
    assert result.exit_code == 2
    assert "--processes must be at least 1" in result.stderr


@pytest.mark.slow
def test_burst_with_processes_drains_and_reports_every_child(wg: Wg) -> None:
    ids = enqueue(wg, task_app.sleepy, *[(0.05,)] * 12)
    done = run_wg(
        wg, "worker", "tests.workers.task_app:app", "--processes", "2", "--burst", "-o", "json",
        *FAST,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["processes"] == 2
    assert doc["restarts"] == 0
    assert len(doc["workers"]) == 2
    assert sum(w["stats"]["processed"] for w in doc["workers"]) == 12
    ran_in = {r["pid"] for r in results(wg, ids)}
    assert os.getpid() not in ran_in  # in the children, not the supervisor's process
    assert ran_in <= {int(w["worker_id"].split("-")[-2]) for w in doc["workers"]}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def supervise(wg: Wg, processes: int, stderr: int) -> subprocess.Popen[str]:
    """``wg worker tests.workers.task_app:app --processes N``, started in the background."""
    return subprocess.Popen(
        [*wg_command(), "-u", wg.url, "-n", wg.namespace, "worker", "tests.workers.task_app:app",
         "--processes", str(processes), *FAST],
        cwd=ROOT,
        stderr=stderr,
        text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_processes_restart_a_dead_child_and_drain_on_sigterm(wg: Wg) -> None:
    supervisor = supervise(wg, 2, subprocess.PIPE)

    def worker_pids() -> set[int]:
        infos = wg.core(lambda client: client.workers())
        return {info.pid for info in infos if alive(info.pid)}

    try:
        wait_for(lambda: len(worker_pids()) == 2, what="two registered workers")
        first = worker_pids()
        assert supervisor.pid not in first
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: len(worker_pids() - {victim}) == 2, what="the dead child to be replaced")
        children = worker_pids()
        [slow] = enqueue(wg, task_app.sleepy, (0.5,))
        wait_for(lambda: wg.counts()["running"] == 1, what="the slow job to start")
        supervisor.send_signal(signal.SIGTERM)
        _, stderr = supervisor.communicate(timeout=60)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()
    assert supervisor.returncode == 0, stderr
    assert "restarting it in" in stderr
    assert results(wg, [slow])[0]["pid"] in children  # drained: it finished, not released
    wait_for(lambda: not any(alive(pid) for pid in children), what="no child left")


@pytest.mark.slow
def test_children_stop_when_the_supervisor_is_killed(wg: Wg) -> None:
    supervisor = supervise(wg, 1, subprocess.DEVNULL)
    try:
        wait_for(lambda: any(alive(i.pid) for i in wg.core(lambda c: c.workers())), what="a worker")
        [child] = [i.pid for i in wg.core(lambda c: c.workers())]
    finally:
        supervisor.kill()  # SIGKILL: no chance to forward anything
        supervisor.wait()
    wait_for(lambda: not alive(child), what="the orphaned child to stop by itself")
    assert wg.core(lambda c: c.workers()) == []  # it drained and unregistered


def test_supervisor_gives_up_when_children_keep_dying() -> None:
    supervisor = Supervisor(
        [sys.executable, "-c", "import sys; sys.exit(3)"],
        2,
        initial_backoff=0.01,
        max_backoff=0.02,
        give_up_after=3,
    )
    with pytest.raises(GaveUpError, match="exited with code 3, 3 times in a row"):
        supervisor.run()
    assert supervisor.restarts >= 2
    assert supervisor.pids() == []


def test_supervisor_is_done_when_children_exit_zero() -> None:
    supervisor = Supervisor(
        [sys.executable, "-c", "import sys; print(sys.stdin.read())"],
        3,
        stdin=b"hello",
        capture=True,
    )
    assert supervisor.run() == 0
    assert supervisor.restarts == 0
    assert supervisor.outputs == ["hello"] * 3
