"""``python -m chaos run --backend sqlite --profile large --seed N [--scenario NAME]``;
``python -m chaos failover [--jobs N --failovers K]`` (Redis Sentinel, chaos/failover.py);
``python -m chaos cluster-failover [--jobs N --failovers K]`` (Redis Cluster, same module).

Prints one verdict line per scenario and backend (seed included), then a Markdown
table for docs/reliability.md; exits 1 if any pass criterion was violated.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from chaos import failover
from chaos.checker import Verdict
from chaos.harness import BACKENDS, BackendMissing, available_backends
from chaos.profiles import PROFILES
from chaos.runner import new_seed, run_scenario
from chaos.scenarios import LARGE_ONLY, SCENARIOS


def markdown_table(verdicts: list[Verdict]) -> str:
    """The results table: scenario × backend."""
    lines = [
        "| scenario | backend | jobs | faults | lost | duplicates | illegal | stuck | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in verdicts:
        notes = ", ".join(f"{k}={val}" for k, val in v.details.items())
        if not v.ok:
            notes = "**FAIL** " + notes
        lines.append(
            f"| {v.scenario} | {v.backend} | {v.jobs} | {v.faults} | {v.lost} | "
            f"{v.duplicates} | {v.illegal} | {v.stuck} | {notes} |"
        )
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> int:
    profile = PROFILES[args.profile]
    seed = args.seed if args.seed is not None else new_seed()
    names = available_backends() if args.backend == "all" else [args.backend]
    chosen = [s for s in SCENARIOS if s in (args.scenario or SCENARIOS)]
    if profile.name == "ci" and not args.scenario:
        chosen = [name for name in chosen if name not in LARGE_ONLY]
    print(f"chaos: profile={profile.name} seed={seed} backends={names}", flush=True)
    verdicts: list[Verdict] = []
    for name in names:
        for scenario_name in chosen:
            try:
                verdict = await run_scenario(SCENARIOS[scenario_name], name, profile, seed=seed)
            except BackendMissing as exc:
                print(f"SKIP {scenario_name} [{name}]: {exc}", flush=True)
                continue
            verdicts.append(verdict)
            print(verdict.summary(), flush=True)
    print()
    print(markdown_table(verdicts))
    return 0 if all(v.ok for v in verdicts) else 1


def main() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="python -m chaos")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run scenarios and print the verdicts")
    run.add_argument("--backend", choices=[*BACKENDS, "all"], default="all")
    run.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    run.add_argument("--seed", type=int, default=None)
    run.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    failover.add_parser(commands)
    args = parser.parse_args()
    if args.command in ("failover", "cluster-failover"):
        sys.exit(asyncio.run(failover.run(args)))
    sys.exit(asyncio.run(_run(args)))


if __name__ == "__main__":
    main()
