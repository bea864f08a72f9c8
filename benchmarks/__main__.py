"""``python -m benchmarks run``: build the benchmark venv, run every system, print the table.

Examples::

    python -m benchmarks run                              # every backend, quick profile, 3 runs
    python -m benchmarks run --backend redis --runs 3 --profile full
    python -m benchmarks run --systems wg-redis,raw-redis,saq-redis --workloads drain,latency
    python -m benchmarks table benchmarks/results/<stamp>.jsonl   # re-render a past run
    python -m benchmarks list                             # the systems and their keys
    python -m benchmarks counts --backend postgres --n 1000000   # counts() at 1M jobs
    python -m benchmarks scale --backend redis --n 1000000 --processes 2
    python -m benchmarks enqueue postgres redis --rounds 5   # wg vs the bare driver

Any Python ≥ 3.11 can start it: it creates ``benchmarks/.venv`` (wg from this checkout
with all backend extras, plus ``benchmarks/requirements.txt``) on first use and re-runs
itself inside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.adapters.base import Servers
    from benchmarks.harness import Harness

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / "benchmarks" / ".venv"
REQUIREMENTS = ROOT / "benchmarks" / "requirements.txt"
REQUIREMENTS_NODEPS = ROOT / "benchmarks" / "requirements-nodeps.txt"


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> None:
    """Create or update ``benchmarks/.venv`` when the requirements changed, then re-exec."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    stamp = VENV / ".requirements-sha"
    wanted = hashlib.sha256(
        REQUIREMENTS.read_bytes()
        + REQUIREMENTS_NODEPS.read_bytes()
        + (ROOT / "pyproject.toml").read_bytes()
    ).hexdigest()
    if not _venv_python().exists():
        print(f"creating {VENV} …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if not stamp.exists() or stamp.read_text() != wanted:
        print("installing wg (from this checkout) and the peer queues …", file=sys.stderr)
        subprocess.run(
            [str(_venv_python()), "-m", "pip", "install", "-q",
             "-e", f"{ROOT}[redis,postgres,mysql,sqlite]", "-r", str(REQUIREMENTS)],
            check=True,
        )  # fmt: skip
        subprocess.run(
            [str(_venv_python()), "-m", "pip", "install", "-q", "--no-deps",
             "-r", str(REQUIREMENTS_NODEPS)],
            check=True,
        )  # fmt: skip
        stamp.write_text(wanted)
    os.execv(str(_venv_python()), [str(_venv_python()), "-m", "benchmarks", *sys.argv[1:]])


def _machine(servers: Servers, redis_url: str) -> dict[str, str]:
    """Versions of everything measured, for the report (failures are written, not raised)."""
    info = {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "os": platform.platform(),
    }
    try:
        import redis

        server: Any = redis.Redis.from_url(redis_url).info("server")
        info["redis"] = str(server["redis_version"])
    except Exception as exc:
        info["redis"] = f"? ({exc})"
    try:
        import psycopg

        # "binary"/"c" (the C implementation) or "python": a large difference in speed.
        info["psycopg"] = f"{psycopg.__version__} ({psycopg.pq.__impl__})"
        with psycopg.connect(f"{servers.postgres_url}/postgres") as pg:
            row = pg.execute("SHOW server_version").fetchone()
            info["postgresql"] = str(row[0]) if row else "?"
    except Exception as exc:
        info["postgresql"] = f"? ({exc})"
    try:
        from benchmarks.storage import _mysql_connect

        my = _mysql_connect(servers.mysql_url)
        with my.cursor() as cur:
            cur.execute("SELECT VERSION()")
            info["mysql"] = str(cur.fetchone()[0])
        my.close()
    except Exception as exc:
        info["mysql"] = f"? ({exc})"
    import sqlite3

    info["sqlite"] = sqlite3.sqlite_version
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def cmd_run(args: argparse.Namespace) -> int:
    from benchmarks.adapters import BY_KEY, SYSTEMS
    from benchmarks.adapters.base import Servers
    from benchmarks.harness import PROFILES, RESULTS, WORKLOADS, Harness, private_redis, summarise
    from benchmarks.report import render

    # SIGTERM (and SIGINT, which a background shell job ignores) must unwind through the
    # `finally` blocks that kill worker process groups and the private redis-server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    backends = set(args.backend.split(",")) if args.backend != "all" else None
    if args.systems:
        keys = [k.strip() for k in args.systems.split(",")]
        unknown = [k for k in keys if k not in BY_KEY]
        if unknown:
            print(f"unknown systems: {', '.join(unknown)} (see `list`)", file=sys.stderr)
            return 2
    else:
        keys = [s.key for s in SYSTEMS if backends is None or s.backend in backends]
    workloads = args.workloads.split(",") if args.workloads else list(WORKLOADS)
    profile = PROFILES[args.profile]
    if args.drain is not None:
        profile = dataclasses.replace(profile, drain=args.drain)
    if args.concurrency is not None:
        profile = dataclasses.replace(profile, concurrency=args.concurrency)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"{stamp}.jsonl"
    work_dir = Path(tempfile.mkdtemp(prefix="wg-bench-", dir=RESULTS))

    with private_redis(work_dir) if args.redis_url is None else _given(args.redis_url) as rurl:
        servers = Servers(
            redis_url=rurl, postgres_url=args.postgres_url, mysql_url=args.mysql_url,
            work_dir=str(work_dir),
        )  # fmt: skip
        harness = Harness(servers, profile, out, args.verbose)
        machine = _machine(servers, f"{rurl}/0")
        labels: dict[str, str] = {}
        versions: dict[str, str] = {}
        usable: list[str] = []
        for key in keys:
            try:
                info = harness.info(key)
            except RuntimeError as exc:
                print(f"skipping {key}: {str(exc).splitlines()[-1]}", file=sys.stderr)
                continue
            labels[key] = info["label"] or key
            versions[key] = info["version"]
            usable.append(key)
        meta = {"machine": machine, "profile": args.profile, "runs": args.runs,
                "argv": sys.argv[1:], "labels": labels, "versions": versions}  # fmt: skip
        out.with_suffix(".meta.json").write_text(json.dumps(meta, indent=2))
        print(f"machine: {json.dumps(machine)}", file=sys.stderr)
        started = time.monotonic()
        # Runs outermost, systems inside: noise from the shared machine spreads over
        # every system instead of landing on one.
        for run in range(1, args.runs + 1):
            for key in usable:
                for workload in workloads:
                    t0 = time.monotonic()
                    sample = harness.measure(key, workload, run)
                    shown = ", ".join(f"{k}={v:,.2f}" for k, v in sample.values.items())
                    print(
                        f"[run {run}/{args.runs} {time.monotonic() - started:6.0f}s] "
                        f"{key:20} {workload:8} {shown} {sample.note} "
                        f"({time.monotonic() - t0:.1f}s)",
                        file=sys.stderr, flush=True,
                    )  # fmt: skip
            for key in usable:  # leave nothing behind
                _cleanup(harness, key)
    shutil.rmtree(work_dir, ignore_errors=True)  # SQLite files and redis-server's dir
    table = render(summarise(harness.samples), usable, labels)
    out.with_suffix(".md").write_text(table)
    print(table)
    print(f"raw samples: {out}", file=sys.stderr)
    return 0


def _cleanup(harness: Harness, key: str) -> None:
    """Leave nothing behind: empty the system's storage and drop its database."""
    from benchmarks.adapters import BY_KEY
    from benchmarks.adapters.base import database_name
    from benchmarks.storage import drop_mysql, drop_postgres

    try:
        harness.reset(key)
        backend = BY_KEY[key].backend
        servers = harness.servers
        name = database_name(key)
        if backend == "postgres":
            drop_postgres(servers.postgres_url, name)
        elif backend == "mysql":
            drop_mysql(servers.mysql_url, name)
    except Exception as exc:
        print(f"cleanup of {key} failed: {exc}", file=sys.stderr)


class _given:
    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self) -> str:
        return self.url

    def __exit__(self, *exc: object) -> None:
        return None


def cmd_table(args: argparse.Namespace) -> int:
    from benchmarks.harness import Sample, summarise
    from benchmarks.report import render

    path = Path(args.file)
    samples = [Sample(**json.loads(line)) for line in path.read_text().splitlines() if line]
    meta_path = path.with_suffix(".meta.json")
    labels = json.loads(meta_path.read_text())["labels"] if meta_path.exists() else {}
    systems = list(dict.fromkeys(s.system for s in samples))
    print(render(summarise(samples), systems, labels))
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from benchmarks.adapters.base import Servers
    from benchmarks.harness import PROFILES, RESULTS, Harness, private_redis
    from benchmarks.profiling import profile

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"profile-{stamp}.jsonl"
    work_dir = Path(tempfile.mkdtemp(prefix="wg-bench-", dir=RESULTS))
    with private_redis(work_dir) if args.redis_url is None else _given(args.redis_url) as rurl:
        servers = Servers(
            redis_url=rurl, postgres_url=args.postgres_url, mysql_url=args.mysql_url,
            work_dir=str(work_dir),
        )  # fmt: skip
        harness = Harness(servers, PROFILES["quick"], out, args.verbose)
        for key in args.systems.split(","):
            text = profile(harness, key, args.n, args.concurrency, args.top)
            (RESULTS / f"profile-{stamp}-{key}.txt").write_text(text)
            print(text)
            _cleanup(harness, key)
    shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from benchmarks.adapters import SYSTEMS

    for spec in SYSTEMS:
        print(f"{spec.key:22} {spec.backend:9} {spec.group}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmarks and print the table")
    run.add_argument(
        "--backend", default="all", help="redis, postgres, sqlite, mysql, comma-separated, or all"
    )
    run.add_argument("--systems", help="comma-separated system keys (see `list`)")
    run.add_argument("--workloads", help="comma-separated: enqueue,bulk,drain,io,latency,memory")
    run.add_argument("--runs", type=int, default=3)
    run.add_argument("--profile", choices=["quick", "full"], default="quick")
    run.add_argument("--drain", type=int, help="jobs per drain (instead of the profile's)")
    run.add_argument(
        "--concurrency", type=int, help="worker concurrency for drain and latency (default 10)"
    )
    run.add_argument(
        "--redis-url",
        help="use this Redis (DBs 1-21 are FLUSHed!) instead of a private redis-server",
    )
    run.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432")
    run.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306")
    run.add_argument("--no-venv", action="store_true", help="run in the current interpreter")
    run.add_argument("-v", "--verbose", action="store_true")
    table = sub.add_parser("table", help="re-render the table of a results file")
    table.add_argument("file")
    sub.add_parser("list", help="list the systems")
    prof = sub.add_parser("profile", help="cProfile a worker draining N jobs")
    prof.add_argument("systems", help="comma-separated system keys")
    prof.add_argument("--n", type=int, default=20_000)
    prof.add_argument("--concurrency", type=int, default=10)
    prof.add_argument("--top", type=int, default=30)
    prof.add_argument("--redis-url")
    prof.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432")
    prof.add_argument("--mysql-url", default="mysql://root@127.0.0.1:3306")
    prof.add_argument("--no-venv", action="store_true")
    prof.add_argument("-v", "--verbose", action="store_true")
    sub.add_parser("counts", help="counts() at N queued jobs (see benchmarks/scale.py)")
    sub.add_parser("scale", help="N jobs streamed in, drained by P processes (scale.py)")
    sub.add_parser("enqueue", help="wg's enqueue vs the bare driver path (enqueue.py)")
    if len(sys.argv) > 1 and sys.argv[1] == "enqueue":
        from benchmarks.enqueue import main as enqueue_main

        enqueue_main(sys.argv[2:])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] in ("counts", "scale"):
        from benchmarks.scale import main as scale_main

        return scale_main(sys.argv[1:])
    args = parser.parse_args()
    if args.command in ("run", "profile") and not args.no_venv:
        ensure_venv()
    handler = {"run": cmd_run, "table": cmd_table, "list": cmd_list, "profile": cmd_profile}[
        args.command
    ]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
