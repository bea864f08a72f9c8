"""CPU time the PostgreSQL server spends on one system's database, for ``drain``.

On two cores the server and the worker share the machine: a job queue that costs the
server less per job leaves the worker more CPU. The server's backends of the system's
own database (``bench_<system>``, see ``adapters.base``) are found through
``pg_stat_activity`` (with ``psql``) and their CPU read from ``/proc/PID/stat``, which
works when the server runs on this machine. Shared work (the WAL writer, checkpoints,
other databases) is not counted: this is the per-connection share only.
"""

from __future__ import annotations

import os
import shutil
import subprocess

__all__ = ["backend_cpu", "spent"]

_TICKS = os.sysconf("SC_CLK_TCK")


def backend_cpu(server_url: str, database: str) -> dict[int, float] | None:
    """CPU seconds of each server process serving ``database`` now, by pid; ``None``
    when they cannot be read (no ``psql``, a remote server, no access)."""
    if shutil.which("psql") is None:
        return None
    try:
        done = subprocess.run(
            ["psql", f"{server_url}/{database}", "-Atc",
             "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
             " AND pid <> pg_backend_pid()"],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    cpu: dict[int, float] = {}
    for line in done.stdout.split():
        try:
            with open(f"/proc/{int(line)}/stat", "rb") as fh:
                stat = fh.read()
        except (OSError, ValueError):
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        cpu[int(line)] = (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    return cpu or None


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two readings (a process new since ``before`` counts
    from its start)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())
