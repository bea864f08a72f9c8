"""6. Poison: malformed jobs written straight into storage, and handlers that kill workers.

Bad jobs go through ``Backend.enqueue`` with raw text no ``Client`` would write, one
kind after another, interleaved with good jobs: text that is not JSON, bytes that are
not UTF-8 (where the backend can store them), an unknown job name, a payload of the
wrong shape, 10 000 levels of nesting, and an envelope over the enqueue size cap. A few
``crash`` jobs ``os._exit()`` their worker on every attempt.

Issue 16 adds two families:

* **the handler-exception zoo**: handlers that raise ``SystemExit(3)`` (in the event
  loop and in a thread), ``KeyboardInterrupt``, ``BaseException("boom")``,
  ``asyncio.CancelledError`` and ``GeneratorExit``. The pool must record each as a
  failure naming the class (retried, then dead) and keep running;
* **unencodable envelopes**, as a Rust producer could store them: ``NaN`` and
  ``-Infinity`` in the payload, ``"timeout": 1e999``, ``"retry_delay": 1e999`` (JSON
  numbers Python reads as infinity). Their handlers fail, so the failure path must
  write an envelope for them: dead with a reason, never RUNNING forever.

Pass: every bad job dead with its reason (a non-empty ``last_error``, containing the
kind's fragment); every good one completed; crash jobs dead after ``max_retries``; no
worker exit other than the crash jobs' own.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from typing import Final

from chaos.checker import Verdict, check
from chaos.harness import Harness
from chaos.profiles import Profile
from chaos.scenarios import LEASE, MAX_RETRIES, QUIET, REAPER, enqueue_work
from chaos.worker import CRASH_EXIT_CODE, ZOO
from wg_core import JobOptions, JobSpec
from wg_core.backend import NewJob
from wg_core.client import DEFAULT_MAX_PAYLOAD_BYTES
from wg_core.errors import BackendError

__all__ = ["BAD_KINDS", "OVER_CAP", "UNENCODABLE_KINDS", "ZOO_KINDS", "poison"]

CRASH_RETRIES: Final = 1
OVER_CAP: Final = "over-cap"


def _envelope(job_id: str, job_name: str, payload: object, **extra: object) -> str:
    document = {
        "id": job_id,
        "job_name": job_name,
        "payload": payload,
        "options": {"max_retries": 3, "retry_count": 0, "timeout": 60000, "retry_delay": 50},
        "status": "Pending",
        "created_at": int(time.time()),
        "scheduled_at": None,
        "last_error": None,
        **extra,
    }
    return json.dumps(document, separators=(",", ":"))


def _not_json(job_id: str) -> str:
    return f"chaos {job_id} {{this is not json"


def _invalid_utf8(job_id: str) -> str:
    # What a non-Python producer might LPUSH/INSERT: bytes that are not UTF-8, carried
    # in a str the way redis-py's surrogateescape decoding carries them.
    return (b"\xff\xfe\xc3(" + job_id.encode()).decode("utf-8", "surrogateescape")


def _unknown_name(job_id: str) -> str:
    return _envelope(job_id, "no_such_job", {"n": 1})


def _wrong_shape(job_id: str) -> str:
    return _envelope(job_id, "work", ["not", "an", "object"])


def _deep(job_id: str) -> str:
    return _envelope(job_id, "work", "P").replace('"P"', "[" * 10_000 + "]" * 10_000)


def _over_cap(job_id: str) -> str:
    # A payload that fits the handler, in an envelope over the enqueue cap.
    return _envelope(job_id, "work", {"n": 1}, pad="x" * (DEFAULT_MAX_PAYLOAD_BYTES + 1))


def _zoo(name: str, job_name: str) -> Callable[[str], str]:
    def make(job_id: str) -> str:
        return _envelope(job_id, job_name, {"raise": name})

    return make


def _with_option(job_name: str, payload: object, option: str, literal: str) -> Callable[[str], str]:
    def make(job_id: str) -> str:
        text = _envelope(job_id, job_name, payload)
        # A JSON number too big for a double (Python reads it as infinity; Rust's serde
        # as f64::INFINITY): written as text, since no encoder would produce it.
        default = {"timeout": '"timeout":60000', "retry_delay": '"retry_delay":50'}[option]
        return text.replace(default, f'"{option}":{literal}')

    return make


def _non_finite(job_name: str, value: float) -> Callable[[str], str]:
    def make(job_id: str) -> str:
        # json.dumps writes NaN / -Infinity (allow_nan), as lenient encoders do.
        return _envelope(job_id, job_name, {"x": value})

    return make


# A crash job may kill the worker in the middle of a zoo job's last attempt: the reaper
# then buries it, rightly, for its expired lease.
_REAPED: Final = "|lease expired"
ZOO_KINDS: Final[dict[str, tuple[Callable[[str], str], str]]] = {
    **{f"zoo-{name}": (_zoo(name, "zoo"), name + _REAPED) for name in ZOO},
    "zoo-sync-SystemExit": (_zoo("SystemExit", "zoo_sync"), "SystemExit" + _REAPED),
    "zoo-sync-KeyboardInterrupt": (
        _zoo("KeyboardInterrupt", "zoo_sync"),
        "KeyboardInterrupt" + _REAPED,
    ),
}
"""Handlers raising BaseExceptions: the failure must name the class."""

UNENCODABLE_KINDS: Final[dict[str, tuple[Callable[[str], str], str]]] = {
    # ``fail`` fails every attempt: the retry path must encode the envelope.
    "nan-payload": (_non_finite("fail", math.nan), ""),
    # ``work`` cannot take {"x": ...}: the bury path must encode it.
    "neg-infinity-payload": (_non_finite("work", -math.inf), ""),
    "timeout-1e999": (_with_option("fail", {}, "timeout", "1e999"), ""),
    "retry-delay-1e999": (_with_option("fail", {}, "retry_delay", "1e999"), ""),
}
"""Envelopes that decode but that ``Envelope.encode`` cannot write back as they are:
any recorded reason will do (``last_error`` must not be empty)."""

BAD_KINDS: Final[dict[str, tuple[Callable[[str], str], str]]] = {
    "not-json": (_not_json, "not JSON"),
    "invalid-utf8": (_invalid_utf8, "not JSON"),
    "unknown-name": (_unknown_name, "unknown job name"),
    "wrong-shape": (_wrong_shape, "WorkJob"),
    "deep-nesting": (_deep, "nested too deeply"),
    OVER_CAP: (_over_cap, "bytes"),
    **ZOO_KINDS,
    **UNENCODABLE_KINDS,
}
"""Kind → (raw text for a job id, a fragment the dead job's last_error must contain)."""


async def poison(harness: Harness, profile: Profile, *, kinds: tuple[str, ...] = ()) -> Verdict:
    """Run the poison scenario with the bad ``kinds`` (all but over-cap by default)."""
    kinds = kinds or tuple(kind for kind in BAD_KINDS if kind != OVER_CAP)
    verdict = Verdict("6-poison", harness.backend_name, harness.seed)
    harness.worker_args = (
        "--workers", "8", "--lease", str(LEASE), "--reaper-interval", str(REAPER),
    )  # fmt: skip
    good: list[str] = []
    bad: dict[str, str] = {}
    refused: dict[str, int] = {}
    untranslated: set[str] = set()
    per_chunk = 20
    chunks = max(1, profile.poison_bad // per_chunk)
    for chunk in range(chunks):
        good += await enqueue_work(harness, max(1, profile.poison_good // chunks))
        batch: list[tuple[str, str, NewJob]] = []
        for index in range(per_chunk):
            kind = kinds[(chunk * per_chunk + index) % len(kinds)]
            make, reason = BAD_KINDS[kind]
            job_id = str(uuid.uuid4())
            batch.append((kind, reason, NewJob(job_id=job_id, job_name="chaos", raw=make(job_id))))
        for kind, reason, job in batch:
            try:
                await harness.backend.enqueue([job])
            except Exception as exc:
                # The backend cannot store this text at all (e.g. not UTF-8): refused at
                # the door is a fine outcome; the contract wants a BackendError for it.
                name = type(exc).__name__
                if not isinstance(exc, BackendError):
                    untranslated.add(f"{kind}: {name}")
                refused[kind] = refused.get(kind, 0) + 1
                continue
            bad[job.job_id] = reason
    crash_options = JobOptions(max_retries=CRASH_RETRIES, retry_delay=0.05, timeout=60)
    crashers = await harness.client.enqueue_many(
        [JobSpec(payload={}, job_name="crash", options=crash_options)] * profile.poison_crashers
    )
    for job_id in crashers:
        bad[job_id] = "lease expired"
    for _ in range(2):
        harness.spawn()
    # A pool that lets a handler's BaseException kill it is respawned over and over, so
    # the backend never goes quiet: bound the wait (the CI size drains in seconds).
    limit = 90.0 if profile.name == "ci" else 600.0
    settled = await harness.settle(quiet_for=QUIET, respawn=True, limit=limit)
    await harness.stop_all()
    log, _ = await check(
        verdict,
        harness,
        good=good,
        bad=bad,
        max_runs=max(MAX_RETRIES, CRASH_RETRIES) + 1,
        settled=settled,
    )
    verdict.faults = len(bad) + sum(refused.values())
    crash_runs = sum(len(log.runs.get(job_id, [])) for job_id in crashers)
    stopped_cleanly = {w.pid for w in harness.workers if w.fate == "stopped"}
    exits = [code for pid, code in harness.exits.items() if pid not in stopped_cleanly]
    unexplained = [code for code in exits if code != CRASH_EXIT_CODE]
    verdict.details["crash_exits"] = len(exits) - len(unexplained)
    if refused:
        verdict.details["refused_at_enqueue"] = refused
    if untranslated:
        # Not a lost job, but the adapter edge let a non-wg exception through.
        verdict.details["untranslated_errors"] = sorted(untranslated)
    if unexplained:
        verdict.fail(f"workers exited for something else than a crash job: codes {unexplained}")
    # A crash run kills its worker, and with it any other attempt the worker held (they
    # count as failed attempts too), so a crash job runs at most max_retries + 1 times.
    verdict.details["crash_runs"] = crash_runs
    # Two crash jobs may start in one worker before the first exit: count workers.
    crash_pids = {run.pid for job_id in crashers for run in log.runs.get(job_id, [])}
    if len(crash_pids) != verdict.details["crash_exits"]:
        verdict.fail(f"{len(crash_pids)} workers ran crash jobs but {len(exits)} exited")
    if any(len(log.runs.get(job_id, [])) > CRASH_RETRIES + 1 for job_id in crashers):
        verdict.fail(f"a crash job ran more than max_retries + 1 = {CRASH_RETRIES + 1} times")
    return verdict
