"""The pieces of issue 18's API: result encoding, progress (checks and rate limit),
``JobContext.cancelled``, ``keep_finished`` in settings and envelopes,
``JobFailedError``, ``BlockingClient``'s mirrors, and the cancel signal's wake-up."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tests.helpers import wait_until
from wg_core import (
    MAX_RESULT_BYTES,
    BlockingClient,
    Client,
    ConfigError,
    JobContext,
    JobFailedError,
    JobOptions,
    JobState,
    MemoryBackend,
    Progress,
    WgError,
    WorkerConfig,
    WorkerPool,
)
from wg_core.envelope import Envelope
from wg_core.settings import worker_settings
from wg_core.worker.progress import ProgressReporter
from wg_core.worker.results import ResultError, encode_result


@dataclass
class Row:
    name: str
    count: int


class Model:
    """Duck-typed like a pydantic model."""

    def model_dump(self, *, mode: str) -> dict[str, Any]:
        assert mode == "json"
        return {"model": True}


# -- results -------------------------------------------------------------------------------


def test_results_are_encoded_like_payloads() -> None:
    assert encode_result(None) is None
    assert encode_result(Row("a", 1)) == '{"name":"a","count":1}'
    assert encode_result(Model()) == '{"model":true}'
    assert encode_result({"é": [1, 2.5, True, None]}) == '{"é":[1,2.5,true,null]}'
    assert encode_result("") == '""'


@pytest.mark.parametrize("value", [object(), {1, 2}, math.nan, math.inf, {"bytes": b"x"}, "\ud800"])
def test_a_result_that_is_not_json_is_refused_with_the_reason(value: Any) -> None:
    with pytest.raises(ResultError, match="not JSON"):
        encode_result(value)


def test_a_result_over_the_limit_is_refused_never_cut() -> None:
    assert MAX_RESULT_BYTES == 512 * 1024
    fits = "x" * (MAX_RESULT_BYTES - 2)  # two quotes around it
    assert encode_result(fits) == json.dumps(fits)
    with pytest.raises(ResultError, match=f"{MAX_RESULT_BYTES + 1} bytes encoded"):
        encode_result("x" * (MAX_RESULT_BYTES - 1))
    with pytest.raises(ResultError, match="over the 10-byte limit"):
        encode_result("ééééé", limit=10)  # 12 bytes of UTF-8 in 7 characters


# -- progress ------------------------------------------------------------------------------


async def test_progress_writes_are_rate_limited_and_the_latest_wins() -> None:
    writes: list[Progress] = []

    async def write(progress: Progress) -> None:
        writes.append(progress)

    reporter = ProgressReporter(write, loop=asyncio.get_running_loop(), interval=1.0)
    for n in range(50):
        reporter.report(Progress(fraction=n / 100))
    await wait_until(lambda: _wrote(writes, 1))
    assert writes == [Progress(fraction=0.49)]  # one write for the burst: the latest
    for n in range(50, 100):
        reporter.report(Progress(fraction=n / 100))
    await asyncio.sleep(0.1)
    assert len(writes) == 1  # not within the interval...
    await wait_until(lambda: _wrote(writes, 2))
    assert writes[1] == Progress(fraction=0.99)  # ...then the latest
    reporter.report(Progress(fraction=1.0))
    reporter.close()  # the job ended: what is not written yet is dropped
    await asyncio.sleep(1.2)
    assert len(writes) == 2


async def _wrote(writes: list[Progress], n: int) -> bool:
    return len(writes) >= n


def _context(**kwargs: Any) -> JobContext:
    return JobContext(
        job_id="j", job_name="n", attempt=1, max_retries=3, created_at=0, worker_id="w", **kwargs
    )


class Control:
    def __init__(self) -> None:
        self.seen: list[Progress] = []
        self.cancelled = False

    def report(self, progress: Progress) -> None:
        self.seen.append(progress)

    def report_threadsafe(self, progress: Progress) -> None:
        self.seen.append(progress)


@pytest.mark.parametrize("fraction", [-0.1, 1.01, math.nan, True, "0.5", None])
async def test_progress_refuses_what_is_no_fraction(fraction: Any) -> None:
    context = _context(control=Control())
    with pytest.raises(ValueError, match="from 0 to 1"):
        await context.progress(fraction)
    with pytest.raises(ValueError, match="from 0 to 1"):
        context.progress_sync(fraction)


async def test_progress_cuts_long_messages_and_needs_no_pool() -> None:
    control = Control()
    context = _context(control=control)
    await context.progress(0, "m" * 1500)
    context.progress_sync(1, "done")
    assert not context.cancelled
    control.cancelled = True
    assert context.cancelled
    assert control.seen == [Progress(fraction=0.0, message="m" * 1000), Progress(1.0, "done")]
    with pytest.raises(TypeError):
        await context.progress(0.5, 42)  # type: ignore[arg-type]
    bare = _context()  # a handler's unit test: progress goes nowhere, never cancelled
    await bare.progress(0.5, "fine")
    assert bare.cancelled is False


# -- keep_finished: settings and envelopes -------------------------------------------------


def test_keep_finished_and_prune_interval_settings() -> None:
    config = WorkerConfig()
    assert (config.keep_finished, config.prune_interval) == (3600.0, 30.0)
    assert WorkerConfig(keep_finished=0).keep_finished == 0.0
    with pytest.raises(ConfigError, match="prune_interval"):
        WorkerConfig(prune_interval=0)
    with pytest.raises(ConfigError, match="keep_finished"):
        WorkerConfig(keep_finished=-1)
    env = WorkerConfig.from_env({"WG_KEEP_FINISHED": "0", "WG_PRUNE_INTERVAL": "5m"})
    assert (env.keep_finished, env.prune_interval) == (0.0, 300.0)
    flags = {s.name: s.flag for s in worker_settings()}
    assert flags["keep_finished"] == "--keep-finished"
    assert flags["prune_interval"] == "--prune-interval"
    assert JobOptions().keep_finished is None
    assert JobOptions(keep_finished=90).keep_finished == 90.0
    with pytest.raises(ConfigError, match="keep_finished"):
        JobOptions(keep_finished=-5)


async def test_envelopes_carry_keep_finished_only_when_set() -> None:
    backend = MemoryBackend("keep_env")
    client = Client(backend)
    plain = await client.enqueue({"a": 1})
    kept = await client.enqueue({"a": 1}, options=JobOptions(keep_finished=1.5))
    [batch] = await client.enqueue_many([{"a": 1}], options=JobOptions(keep_finished=0))
    plain_raw = (await backend.get_job(plain)).raw  # type: ignore[union-attr]
    kept_raw = (await backend.get_job(kept)).raw  # type: ignore[union-attr]
    batch_raw = (await backend.get_job(batch)).raw  # type: ignore[union-attr]
    assert "keep_finished" not in plain_raw  # byte for byte the Rust wg's envelope
    assert json.loads(kept_raw)["options"] == {
        "max_retries": 3,
        "retry_count": 0,
        "timeout": 300000,
        "retry_delay": 10000,
        "keep_finished": 1500,
    }
    assert json.loads(batch_raw)["options"]["keep_finished"] == 0
    envelope = Envelope.decode(kept_raw)
    assert (envelope.keep_finished, envelope.extra_options) == (1.5, {})
    assert envelope.encode() == kept_raw
    assert Envelope.decode(plain_raw).keep_finished is None


# -- errors and the clients ----------------------------------------------------------------


def test_job_failed_error_names_the_state_and_the_error() -> None:
    error = JobFailedError("abc", JobState.DEAD, "boom")
    assert isinstance(error, WgError)
    assert (error.job_id, error.state, error.last_error) == ("abc", JobState.DEAD, "boom")
    assert str(error) == "job abc is dead: boom"
    assert str(JobFailedError("abc", JobState.CANCELLED, None)) == "job abc is cancelled"


async def test_a_client_cancel_keeps_the_job_for_its_own_or_the_clients_keep() -> None:
    backend = MemoryBackend("cancel_keep")
    client = Client(backend, keep_finished=10)
    mine = await client.enqueue({})
    own = await client.enqueue({}, options=JobOptions(keep_finished=20))
    gone = await client.enqueue({}, options=JobOptions(keep_finished=0))
    assert await client.cancel_jobs([mine, own, gone, mine]) == 3
    for job_id, keep in ((mine, 10), (own, 20)):
        info = await client.get_job(job_id)
        assert info is not None
        assert info.state is JobState.CANCELLED
        assert info.expires_at is not None
        assert info.finished_at is not None
        assert info.expires_at - info.finished_at == pytest.approx(keep, abs=0.5)
    assert await client.get_job(gone) is None


def test_blocking_client_mirrors_result_and_cancel() -> None:
    with BlockingClient(MemoryBackend("blocking_results")) as client:
        job_id = client.enqueue({"n": 1})
        with pytest.raises(TimeoutError):
            client.result(job_id, timeout=0.05)
        assert client.cancel(job_id) is True
        assert client.cancel_jobs([job_id]) == 0
        with pytest.raises(JobFailedError, match="cancelled"):
            client.result(job_id, timeout=1)


async def test_a_cancel_wakes_the_lease_keeper_rather_than_waiting_for_its_beat() -> None:
    """With a heartbeat every 30 s, the cancel still reaches the handler: the keeper
    waits on the backend's cancel signal between beats."""
    backend = MemoryBackend("cancel_wake")
    client = Client(backend)
    started = threading.Event()

    def work(payload: Any, ctx: JobContext) -> None:
        started.set()
        deadline = time.monotonic() + 60
        while not ctx.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)

    pool = WorkerPool(work, backend=backend, heartbeat_interval=30, lease=120, fetch_timeout=0.1)
    await pool.start()
    try:
        job_id = await client.enqueue({})
        await asyncio.to_thread(started.wait, 10)
        await asyncio.sleep(0.1)  # the keeper is waiting between beats
        assert await client.cancel(job_id) is True
        with pytest.raises(JobFailedError, match="cancelled"):
            await client.result(job_id, timeout=15)  # half the heartbeat interval
    finally:
        pool.shutdown()
        await pool.wait_closed()
