"""Turn samples into the table: medians per system and workload, wg vs best peer and raw."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from benchmarks.adapters import BY_KEY

# (workload, value, header, higher is better, format)
COLUMNS: tuple[tuple[str, str, str, bool, str], ...] = (
    ("enqueue", "rate", "enqueue/s", True, "{:,.0f}"),
    ("bulk", "rate", "bulk/s", True, "{:,.0f}"),
    ("drain", "rate", "drain/s", True, "{:,.0f}"),
    ("drain", "cpu_us", "drain CPU µs/job", False, "{:,.0f}"),
    ("drain", "db_cpu_us", "PG server CPU µs/job", False, "{:,.0f}"),
    ("io", "efficiency", "io eff.", True, "{:.0%}"),
    ("latency", "p50", "p50 ms", False, "{:.1f}"),
    ("latency", "p99", "p99 ms", False, "{:.1f}"),
    ("memory", "peak_mb", "peak RSS MB", False, "{:.0f}"),
    ("memory", "growth_mb", "growth MB", False, "{:+.1f}"),
)

Summary = dict[tuple[str, str], dict[str, Any]]


def _cell(summary: Summary, system: str, workload: str, value: str) -> float | None:
    data = summary.get((system, workload))
    if not data or value not in data:
        return None
    result: float = data[value]
    return result


def _best(summary: Summary, systems: Sequence[str], column: tuple[str, str, str, bool, str]
          ) -> tuple[str, float] | None:  # fmt: skip
    workload, value, _, higher, _ = column
    found = [(s, v) for s in systems if (v := _cell(summary, s, workload, value)) is not None]
    if not found:
        return None
    return (max if higher else min)(found, key=lambda item: item[1])


def _notes(summary: Summary, system: str) -> list[str]:
    """Short notes per workload: how many runs were cut at the cap or failed."""
    notes = []
    for workload in dict.fromkeys(c[0] for c in COLUMNS):
        data = summary.get((system, workload))
        if not data:
            continue
        parts = [p for p in data["note"].split("; ") if p]
        cut = sum(1 for p in parts if p.startswith("cut"))
        errors = sum(1 for p in parts if p.startswith("error"))
        if cut:
            notes.append(f"{workload}: cut at the time cap ({cut} run{'s' * (cut > 1)})")
        if errors:
            notes.append(f"{workload}: failed in {errors} run{'s' * (errors > 1)}")
    return notes


def render(summary: Summary, systems: Sequence[str], labels: dict[str, str]) -> str:
    """A Markdown table per backend, with ratio rows for each wg row."""
    out: list[str] = []
    backends = list(dict.fromkeys(BY_KEY[s].backend for s in systems))
    for backend in backends:
        rows = [s for s in systems if BY_KEY[s].backend == backend]
        peers = [s for s in rows if BY_KEY[s].group == "peer"]
        raws = [s for s in rows if BY_KEY[s].group == "raw"]
        out.append(f"### {backend}\n")
        out.append("| system | " + " | ".join(c[2] for c in COLUMNS) + " | notes |")
        out.append("|---|" + "---:|" * len(COLUMNS) + "---|")
        for system in rows:
            cells = []
            for workload, value, _, _, fmt in COLUMNS:
                v = _cell(summary, system, workload, value)
                cells.append("—" if v is None else fmt.format(v))
            notes = _notes(summary, system)
            label = labels.get(system, system)
            out.append(f"| {label} | " + " | ".join(cells) + f" | {'; '.join(notes)} |")
        for system in (s for s in rows if BY_KEY[s].group == "wg"):
            for title, group in (("best peer", peers), ("raw loop", raws)):
                if not group:
                    continue
                cells = []
                for column in COLUMNS:
                    mine = _cell(summary, system, column[0], column[1])
                    best = _best(summary, group, column)
                    if mine is None or best is None or best[1] == 0 or column[1] == "growth_mb":
                        cells.append("—")
                        continue
                    who = "" if title == "raw loop" else f" ({best[0]})"
                    cells.append(f"{mine / best[1]:.2f}×{who}")
                out.append(f"| *{system} / {title}* | " + " | ".join(cells) + " | |")
        out.append("")
    return "\n".join(out)
