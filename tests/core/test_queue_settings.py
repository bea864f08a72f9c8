"""Queues and priorities at the API's edge: settings, keywords, validation, and the
blocking client's mirror of every ``Client`` method."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from typer.testing import CliRunner

from wg_cli.main import app
from wg_core import (
    DEFAULT_QUEUE,
    MAX_PRIORITY,
    MIN_PRIORITY,
    BackendUnavailableError,
    BlockingClient,
    Client,
    ConfigError,
    JobInfo,
    JobSpec,
    JobState,
    WorkerConfig,
    WorkerPool,
    backend_from_url,
)
from wg_core.backend import StoredJob
from wg_core.settings import settings_to_fields, worker_settings

# A server nobody listens on: a client that reached for it would fail with
# BackendUnavailableError, so a ConfigError proves the call was refused before any I/O.
UNREACHABLE = "redis://127.0.0.1:1/0"


# -- WorkerConfig.queues, WG_QUEUES, --queue -------------------------------------------


def test_a_pool_serves_the_default_queue_unless_told_otherwise() -> None:
    assert WorkerConfig().queues == (DEFAULT_QUEUE,) == ("default",)
    config = WorkerConfig(queues=["critical", "emails", "default"])
    assert config.queues == ("critical", "emails", "default")


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        ([], "at least one queue"),
        ("emails", "a list of names"),
        (["emails", "emails"], "queue listed twice: emails"),
        (["Emails"], "invalid queue name 'Emails'"),
        ([""], "must not be empty"),
        (["a" * 65], "too long"),
        ([7], "must be a string"),
    ],
)
def test_bad_queue_lists_are_refused(queues: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkerConfig(queues=queues)


def test_worker_pool_takes_queues_as_a_keyword() -> None:
    pool = WorkerPool(lambda job: None, url=UNREACHABLE, queues=["critical", "default"])
    assert pool.config.queues == ("critical", "default")
    with pytest.raises(ConfigError, match="invalid queue name"):
        WorkerPool(lambda job: None, url=UNREACHABLE, queues=["no spaces"])


def test_wg_queues_lists_them_comma_separated_in_order() -> None:
    config = WorkerConfig.from_env({"WG_QUEUES": " critical, emails ,default "})
    assert config.queues == ("critical", "emails", "default")
    assert WorkerConfig.from_env({"WG_QUEUES": ""}).queues == ("default",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (",", "WG_QUEUES: a pool must serve at least one queue"),
        ("a,A", "WG_QUEUES: invalid queue name 'A'"),
        ("a,b,a", "WG_QUEUES: queue listed twice: a"),
    ],
)
def test_bad_wg_queues_name_the_variable(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WorkerConfig.from_env({"WG_QUEUES": text})


def test_the_queue_flag_is_repeated_once_per_queue_in_order() -> None:
    (setting,) = [s for s in worker_settings() if s.name == "queues"]
    assert (setting.flag, setting.env, setting.repeatable) == ("--queue", "WG_QUEUES", True)
    assert setting.show_default() == "default"
    values = setting.parse(["critical", "emails", "default"], source="--queue")
    assert WorkerConfig(**settings_to_fields({"queues": values})).queues == (
        "critical",
        "emails",
        "default",
    )
    with pytest.raises(ConfigError, match="--queue: queue listed twice: b"):
        setting.parse(["b", "b"], source="--queue")


def test_wg_worker_refuses_a_bad_queue_before_starting() -> None:
    result = CliRunner().invoke(
        app, ["worker", "--url", "memory:", "--queue", "ok", "--queue", "Not-OK", "x:y"]
    )
    assert result.exit_code != 0
    assert "--queue: invalid queue name 'Not-OK'" in result.output


def test_wg_worker_help_lists_the_queue_flag() -> None:
    result = CliRunner().invoke(app, ["worker", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--queue" in result.output
    assert "WG_QUEUES" in result.output


# -- Client: queue= and priority= are checked before any I/O ---------------------------


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"queue": ""}, "must not be empty"),
        ({"queue": "Emails"}, "invalid queue name"),
        ({"queue": "e" * 65}, "too long"),
        ({"queue": "spaces here"}, "invalid queue name"),
        ({"priority": MAX_PRIORITY + 1}, "out of range"),
        ({"priority": MIN_PRIORITY - 1}, "out of range"),
        ({"priority": 1.5}, "must be an integer"),
        ({"priority": "5"}, "must be an integer"),
        ({"priority": True}, "must be an integer"),
    ],
)
async def test_bad_queues_and_priorities_are_refused_before_any_io(
    keywords: dict[str, Any], message: str
) -> None:
    client = Client(backend_from_url(UNREACHABLE, "refused"))
    with pytest.raises(ConfigError, match=message):
        await client.enqueue({"n": 1}, job_name="job", **keywords)
    with pytest.raises(ConfigError, match=message):
        await client.schedule({"n": 1}, 60, job_name="job", **keywords)
    with pytest.raises(ConfigError, match=message):
        await client.enqueue_many([{"n": 1}], job_name="job", **keywords)
    # One bad spec in a batch refuses the batch.
    specs = [JobSpec(payload={"n": 1}), JobSpec(payload={"n": 2}, **keywords)]
    with pytest.raises(ConfigError, match=message):
        await client.enqueue_many(specs, job_name="job")


async def test_the_priority_range_is_inclusive() -> None:
    client = Client(backend_from_url(UNREACHABLE, "range"))
    for priority in (MIN_PRIORITY, MAX_PRIORITY):
        # Valid: the call gets as far as the (unreachable) backend.
        with pytest.raises(BackendUnavailableError):
            await client.enqueue({}, job_name="job", priority=priority, queue="q-1.a_b")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.counts(queue="Bad"),
        lambda c: c.counters(queue="Bad"),
        lambda c: c.pause(queue="Bad"),
        lambda c: c.resume(queue="Bad"),
        lambda c: c.is_paused(queue="Bad"),
        lambda c: c.purge(JobState.DEAD, queue="Bad"),
        lambda c: c.list_jobs(JobState.QUEUED, queue="Bad"),
        lambda c: c.retry_all(JobState.DEAD, queue="Bad"),
    ],
)
async def test_admin_queue_filters_are_validated(call: Any) -> None:
    client = Client(backend_from_url("memory:", "admin"))
    with pytest.raises(ConfigError, match="invalid queue name 'Bad'"):
        await call(client)


def test_job_info_carries_the_stored_queue_and_priority() -> None:
    stored = StoredJob(job_id="x", state=JobState.QUEUED, raw="{}", queue="emails", priority=-3)
    info = JobInfo.from_stored(stored)
    assert (info.queue, info.priority) == ("emails", -3)
    plain = JobInfo.from_stored(StoredJob(job_id="y", state=JobState.DEAD, raw="{}"))
    assert (plain.queue, plain.priority) == ("default", 0)


# -- BlockingClient mirrors Client -------------------------------------------------------

_LIFECYCLE = {"connect", "open", "close"}


def test_blocking_client_has_every_client_method_with_its_signature() -> None:
    names = [
        name
        for name, member in inspect.getmembers(Client, inspect.iscoroutinefunction)
        if not name.startswith("_") and name not in _LIFECYCLE
    ]
    assert {"queues", "layout_version", "counts", "pause", "purge", "retry_all"} <= set(names)
    for name in names:
        mirrored = getattr(BlockingClient, name, None)
        assert mirrored is not None, f"BlockingClient has no {name}"
        assert inspect.signature(mirrored) == inspect.signature(getattr(Client, name)), name


def test_blocking_client_passes_the_queue_keywords_through() -> None:
    with BlockingClient(backend_from_url(UNREACHABLE, "blocking")) as client:
        with pytest.raises(ConfigError, match="invalid queue name"):
            client.enqueue({}, job_name="job", queue="Nope")
        with pytest.raises(ConfigError, match="out of range"):
            client.enqueue_many([{}], job_name="job", priority=5000)
