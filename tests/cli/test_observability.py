"""``wg worker --log-format json --metrics-port PORT`` as a real process: JSON lines on
stderr naming their job, Prometheus metrics over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import urllib.request
from pathlib import Path

from tests.cli.conftest import Wg
from tests.cli.processes import wait_for, wg_command

HANDLERS = textwrap.dedent(
    """
    import logging

    def shout(job: dict) -> None:
        logging.getLogger("app").warning("shouting %s", job["word"])
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            return str(response.read().decode())
    except OSError:
        return ""


def test_worker_json_logs_and_metrics(wg: Wg, tmp_path: Path) -> None:
    (tmp_path / "cli_obs_jobs.py").write_text(HANDLERS)
    job_id = wg.enqueue("shout", {"word": "hello"})
    port = free_port()
    process = subprocess.Popen(
        [
            *wg_command(),
            *("-u", wg.url, "-n", wg.namespace, "worker", "cli_obs_jobs:shout"),
            *("--log-format", "json", "--metrics-port", str(port), "--log-level", "debug"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    completed = (
        f'wg_jobs_total{{job_name="shout",namespace="{wg.namespace}",'
        'outcome="completed",queue="default"} 1.0'
    )
    try:
        wait_for(lambda: completed in scrape(port), what="the job's metric")
        text = scrape(port)
        assert f'wg_worker_slots{{namespace="{wg.namespace}"}}' in text
        assert "wg_job_duration_seconds_bucket" in text
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert len(lines) == len(stderr.splitlines()), stderr  # every line is one JSON object
    [shout] = [line for line in lines if line["logger"] == "app"]
    assert shout["message"] == "shouting hello"
    assert shout["level"] == "WARNING"
    assert (shout["job_id"], shout["job_name"], shout["queue"], shout["attempt"]) == (
        job_id,
        "shout",
        "default",
        1,
    )
    assert shout["time"].endswith("+00:00")
    started = [line for line in lines if "started:" in line["message"]]
    assert started
    assert "job_id" not in started[0]  # logged outside any job


def test_a_taken_metrics_port_is_a_configuration_error(wg: Wg, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = wg("worker", "wg_cli.demo_jobs:handlers", "--metrics-port", str(port))
    assert result.exit_code == 78, (result.stdout, result.stderr)
    assert f"--metrics-port {port}" in result.stderr


def test_supervised_processes_serve_the_sum_of_their_metrics(wg: Wg, tmp_path: Path) -> None:
    (tmp_path / "cli_obs_jobs.py").write_text(HANDLERS)
    for word in ("a", "b", "c", "d"):
        wg.enqueue("shout", {"word": word})
    port = free_port()
    process = subprocess.Popen(
        [
            *wg_command(),
            *("-u", wg.url, "-n", wg.namespace, "worker", "cli_obs_jobs:shout"),
            *("--processes", "2", "--log-format", "json", "--metrics-port", str(port)),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    completed = (
        f'wg_jobs_total{{job_name="shout",namespace="{wg.namespace}",'
        'outcome="completed",queue="default"} 4.0'
    )
    try:
        # Served by the supervisor: the children's counts, summed (whichever ran them).
        wait_for(lambda: completed in scrape(port), what="the summed metric")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert len(lines) == len(stderr.splitlines()), stderr  # children's lines are JSON too
    shouts = [line for line in lines if line["logger"] == "app"]
    assert sorted(line["message"] for line in shouts) == [f"shouting {w}" for w in "abcd"]
    assert all(line["job_name"] == "shout" for line in shouts)
