"""Client behaviour that does not depend on the backend: payloads, names, the facade."""

from __future__ import annotations

import json
import os
import signal
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict

import pytest

from wg_core import (
    BlockingClient,
    Client,
    ConfigError,
    JobSpec,
    MemoryBackend,
    Middleware,
    OutgoingJob,
    PayloadError,
)
from wg_core.backends.sqlite import SqliteBackend
from wg_core.client import is_job_id
from wg_core.payloads import PayloadDecodeError, decode_payload, job_name_for


@dataclass
class EmailJob:
    to: str
    subject: str = ""


class ResizeJob:
    job_name = "images.resize"

    def model_dump(self, mode: str) -> dict[str, int]:
        return {"w": 1}


class Point(TypedDict):
    x: int
    y: int


def test_job_names_come_from_the_class() -> None:
    assert job_name_for(EmailJob(to="a")) == "email_job"
    assert job_name_for(ResizeJob()) == "images.resize"
    assert job_name_for({"a": 1}) == "default"


def test_payloads_decode_by_the_handlers_annotation() -> None:
    assert decode_payload({"to": "a"}, EmailJob) == EmailJob(to="a")
    assert decode_payload({"x": 1, "y": 2}, Point) == {"x": 1, "y": 2}
    assert decode_payload(3, float) == 3.0
    with pytest.raises(PayloadDecodeError, match="EmailJob"):
        decode_payload({"recipient": "a"}, EmailJob)
    with pytest.raises(PayloadDecodeError, match="lacks y"):
        decode_payload({"x": 1}, Point)
    with pytest.raises(PayloadDecodeError, match="expected int"):
        decode_payload(True, int)


async def test_unserialisable_and_oversized_payloads_are_refused() -> None:
    backend = MemoryBackend("p")
    client = Client(backend, max_payload_bytes=1000)
    with pytest.raises(PayloadError, match="cannot enqueue a set"):
        await client.enqueue({1, 2})
    with pytest.raises(PayloadError, match="not JSON-serialisable"):
        await client.enqueue({"when": datetime.now(UTC)})
    with pytest.raises(PayloadError, match="not JSON-serialisable"):
        await client.enqueue({"x": float("nan")})
    with pytest.raises(PayloadError, match="over the 1000-byte cap"):
        await client.enqueue({"blob": "x" * 2000})
    with pytest.raises(PayloadError):
        await client.enqueue_many([{"ok": 1}, {"bad": {1}}])
    assert (await client.counts()).total == 0  # nothing half-stored


async def test_schedule_accepts_a_delay_or_an_aware_datetime() -> None:
    now = 1_800_000_000.0
    client = Client(MemoryBackend("s"), clock=lambda: now)
    by_delay = await client.schedule(EmailJob(to="a"), timedelta(hours=1))
    at = datetime.fromtimestamp(now + 60, UTC)
    by_time = await client.schedule(EmailJob(to="b"), at)
    for job_id, due in ((by_delay, now + 3600), (by_time, now + 60)):
        job = await client.get_job(job_id)
        assert job is not None
        assert job.envelope is not None
        assert job.envelope.scheduled_at == int(due)
    with pytest.raises(ConfigError, match="timezone-aware"):
        await client.schedule(EmailJob(to="c"), datetime(2030, 1, 1))


FIXED_ID = "0b7f5c9e-3d1a-4f2b-9c8e-5a6d7e8f9012"


async def test_enqueue_many_with_specs() -> None:
    client = Client(MemoryBackend("m"))
    ids = await client.enqueue_many(
        [JobSpec(payload={"a": 1}, job_name="one", job_id=FIXED_ID.upper()), EmailJob(to="x")],
        job_name="fallback",
    )
    assert ids[0] == FIXED_ID  # stored in lowercase, as the Rust side writes UUIDs
    names = [job.job_name for job in await client.list_jobs("queued")]
    assert names == ["one", "fallback"]


def test_blocking_client_works_without_async_from_any_thread() -> None:
    backend = MemoryBackend("sync")
    with BlockingClient(backend) as client:
        job_id = client.enqueue(EmailJob(to="a@b.c"))
        results: list[int] = []
        thread = threading.Thread(target=lambda: results.append(client.counts().queued))
        thread.start()
        thread.join()
        assert results == [1]
        [job] = client.list_jobs("queued")
        assert (job.job_id, job.payload) == (job_id, {"to": "a@b.c", "subject": ""})
        assert client.enqueue_many([{"n": 1}, {"n": 2}], job_name="n")
        assert client.purge("queued") == 3
    with pytest.raises(RuntimeError, match="closed"):
        client.counts()


def test_blocking_client_connects_by_url(tmp_path: object) -> None:
    with BlockingClient.connect("memory:", "byurl") as client:
        client.enqueue({"x": 1})
        assert client.counts().queued == 1


# -- what every reader can handle: names, ids, delays ---------------------------------


@pytest.mark.parametrize(
    "name", ["send email", "", " send_email", "1job", "x" * 129, "send\temail", "émail"]
)
async def test_job_names_outside_the_allowed_set_are_refused_and_nothing_is_stored(
    name: str,
) -> None:
    client = Client(MemoryBackend("names"))
    with pytest.raises(ConfigError, match="invalid job name"):
        await client.enqueue({"a": 1}, job_name=name)
    with pytest.raises(ConfigError, match="invalid job name"):
        await client.enqueue_many([{"a": 1}, {"a": 2}], job_name=name)
    with pytest.raises(ConfigError, match="invalid job name"):
        await client.enqueue_many([{"a": 1}, JobSpec(payload={}, job_name=name)])
    assert (await client.counts()).total == 0


@pytest.mark.parametrize("name", ["send_email", "images.resize", "billing:charge-card", "_x"])
async def test_job_names_in_the_allowed_set_are_accepted(name: str) -> None:
    client = Client(MemoryBackend("names"))
    job_id = await client.enqueue({}, job_name=name)
    job = await client.get_job(job_id)
    assert job is not None
    assert job.job_name == name


@pytest.mark.parametrize("job_id", ["order 17", "notauuid", "", "0b7f5c9e3d1a4f2b9c8e5a6d7e8f9012"])
async def test_job_ids_must_be_uuids(job_id: str) -> None:
    client = Client(MemoryBackend("ids"))
    with pytest.raises(ConfigError, match="job ids are UUIDs"):
        await client.enqueue({}, job_name="x", job_id=job_id)
    assert (await client.counts()).total == 0
    assert not is_job_id(job_id)


@pytest.mark.parametrize(
    "when",
    [timedelta(days=99999999), 10**20, 10**400, datetime(9999, 12, 31, tzinfo=UTC)],
    ids=["99999999d", "1e20s", "huge-int", "year-9999"],
)
async def test_delays_beyond_every_backend_are_refused(when: timedelta | int | datetime) -> None:
    client = Client(MemoryBackend("delays"))
    with pytest.raises(ConfigError, match="at most"):
        await client.schedule({}, when, job_name="x")
    assert (await client.counts()).total == 0
    assert await client.schedule({}, timedelta(days=365 * 99), job_name="x")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")
@pytest.mark.skipif(
    not hasattr(SqliteBackend, "clone"), reason="SqliteBackend.clone() lands with the SQL engine"
)
def test_blocking_client_keeps_working_in_a_forked_child(tmp_path: Path) -> None:
    """gunicorn --preload, uwsgi, multiprocessing: the client made before fork() is used
    in the child. The child used to hang forever waiting on a loop thread it does not
    have; now it reconnects, and the parent's connections keep working."""
    url = f"sqlite:{tmp_path / 'fork.db'}"
    with BlockingClient.connect(url, "forked") as client:
        client.enqueue({"from": "parent"}, job_name="x")
        with warnings.catch_warnings():
            # Python warns that fork() in a multi-threaded process may deadlock: exactly
            # the situation under test.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: report by exit status, never return into pytest
            status = 1
            try:
                signal.alarm(20)  # a hang fails the test instead of blocking it
                client.enqueue({"from": "child"}, job_name="x")
                status = 0 if client.counts().queued == 2 else 2
                client.close()
            finally:
                os._exit(status)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert client.counts().queued == 2  # the parent's loop and connections still work
        payloads = sorted(job.payload["from"] for job in client.list_jobs("queued"))
        assert payloads == ["child", "parent"]


def test_the_blocking_client_takes_middleware_too(tmp_path: Path) -> None:
    class Stamp(Middleware):
        async def before_enqueue(self, job: OutgoingJob) -> None:
            job.metadata["from"] = "sync"

    with BlockingClient.connect(f"sqlite:{tmp_path}/jobs.db", "sync", middleware=[Stamp()]) as c:
        job_id = c.enqueue({}, job_name="stamped")
        info = c.get_job(job_id)
    assert info is not None
    assert json.loads(info.raw)["metadata"] == {"from": "sync"}
