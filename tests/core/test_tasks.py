"""``App`` and ``@app.task`` (issue 21): names, options, arguments, the blocking facade."""

from __future__ import annotations

import sys
import types
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from wg_core import (
    DEFAULT_URL,
    App,
    ConfigError,
    JobContext,
    MemoryBackend,
    TaskArgumentError,
)
from wg_core.tasks import default_task_name


def double(x: int) -> int:
    return 2 * x


async def greet(name: str, *, punctuation: str = "!") -> str:
    return f"hello {name}{punctuation}"


def test_a_task_is_still_the_function() -> None:
    app = App(backend=MemoryBackend("t"))
    task = app.task(double)
    assert task(4) == 8
    assert task.__name__ == "double"
    assert task.name == "tests.core.test_tasks.double"
    assert app.tasks == {"tests.core.test_tasks.double": task}


def test_options_are_checked_when_the_task_is_declared() -> None:
    app = App(backend=MemoryBackend("t"))
    with pytest.raises(ConfigError, match="invalid job name"):
        app.task(name="has spaces")(double)
    with pytest.raises(ConfigError, match="queue"):
        app.task(queue="UPPER")(double)
    with pytest.raises(ConfigError, match="priority"):
        app.task(priority=5000)(double)
    with pytest.raises(ConfigError, match="max_retries"):
        app.task(max_retries=-1)(double)
    app.task(double)
    with pytest.raises(ConfigError, match="two tasks are named"):
        app.task(double)
    assert (
        app.task(name="double.v2", timeout=timedelta(minutes=1), retry_delay=None)(
            double
        ).options.timeout
        == 60
    )


def test_nested_functions_and_lambdas_need_a_name() -> None:
    app = App(backend=MemoryBackend("t"))

    def inner(x: int) -> int:
        return x

    with pytest.raises(ConfigError, match=r"name=\.\.\."):
        app.task(inner)
    with pytest.raises(ConfigError, match=r"name=\.\.\."):
        app.task(lambda x: x)
    assert app.task(name="inner")(inner).name == "inner"


def test_a_script_run_as_main_is_named_as_a_worker_imports_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def in_main(x: int) -> int:
        return x

    in_main.__module__ = "__main__"
    in_main.__qualname__ = "in_main"
    script = types.ModuleType("__main__")
    script.__file__ = str(tmp_path / "jobs.py")
    script.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert default_task_name(in_main) == "jobs.in_main"  # python jobs.py
    script.__spec__ = types.SimpleNamespace(name="myapp.jobs")  # type: ignore[assignment]
    assert default_task_name(in_main) == "myapp.jobs.in_main"  # python -m myapp.jobs


def test_arguments_are_checked_before_anything_is_stored() -> None:
    app = App(backend=MemoryBackend("t"))
    task = app.task(greet)
    assert task.signature.encode(("ada",), {}) == {"name": "ada"}
    assert task.signature.encode(("ada",), {"punctuation": "?"}) == {
        "name": "ada",
        "punctuation": "?",
    }
    with pytest.raises(TaskArgumentError) as error:
        task.signature.encode((1,), {})
    assert isinstance(error.value, TypeError)
    assert isinstance(error.value, ValueError)
    assert "argument 'name': expected str, got int" in str(error.value)
    with pytest.raises(TaskArgumentError, match=r"cannot enqueue a set"):
        task.signature.encode(({1, 2},), {})  # a set is not JSON: refused at the call


def test_the_context_parameter_is_not_an_argument() -> None:
    def takes_context(ctx: JobContext, x: int) -> int:
        return x

    app = App(backend=MemoryBackend("t"))
    task = app.task(name="ctx")(takes_context)
    assert task.signature.takes_context
    assert list(task.signature.signature.parameters) == ["x"]
    context = JobContext(
        job_id="j", job_name="ctx", attempt=2, max_retries=3, created_at=0, worker_id="w"
    )
    args, kwargs = task.signature.decode({"x": 4}, context)
    assert takes_context(*args, **kwargs) == 4
    assert (args, kwargs) in (((context, 4), {}), ((), {"ctx": context, "x": 4}))


def test_the_url_comes_from_the_environment_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WG_URL", raising=False)
    app = App()
    assert app.url == DEFAULT_URL
    monkeypatch.setenv("WG_URL", "redis://127.0.0.1:6379/0")
    assert app.url == "redis://127.0.0.1:6379/0"  # read at use, not at import
    assert App("sqlite:other.db").url == "sqlite:other.db"
    with pytest.raises(ConfigError, match="namespace"):
        App(namespace="Bad Name")
    with pytest.raises(ConfigError, match="has no tasks"):
        App().pool()


def test_queues_of_the_app_default_first() -> None:
    app = App(backend=MemoryBackend("t"))
    assert app.queues == ("default",)
    app.task(name="a", queue="reports")(double)
    assert app.queues == ("reports",)
    app.task(name="b")(double)
    app.task(name="c", queue="emails")(double)
    assert app.queues == ("default", "reports", "emails")


def test_blocking_enqueue_from_sync_code(tmp_path: Path) -> None:
    app = App(f"sqlite:{tmp_path / 'jobs.db'}", "blocking")
    task = app.task(greet)
    try:
        job_id = task.blocking.enqueue("ada", punctuation="?")
        later = task.with_options(delay=60).blocking.enqueue("bob")
        with pytest.raises(TaskArgumentError):
            task.blocking.enqueue()
        info = app.blocking.get_job(job_id)
        assert info is not None
        assert info.envelope is not None
        assert info.envelope.payload == {"name": "ada", "punctuation": "?"}
        scheduled = app.blocking.get_job(later)
        assert scheduled is not None
        assert scheduled.state == "scheduled"
        assert app.blocking.counts().total == 2
    finally:
        app.close_blocking()


async def test_async_with_app_opens_and_closes_its_client(tmp_path: Path) -> None:
    app = App(f"sqlite:{tmp_path / 'jobs.db'}", "scoped")
    task: Any = app.task(double)
    async with app:
        first = app.client()
        await task.enqueue(1)
        assert (await first.counts()).queued == 1
    async with app:
        assert app.client() is not first  # a fresh client on each entry
        assert (await app.client().counts()).queued == 1


def test_a_default_name_outside_the_rules_asks_for_a_name() -> None:
    def café(x: int) -> int:
        return x

    café.__qualname__ = "café"
    app = App(backend=MemoryBackend("t"))
    with pytest.raises(
        ConfigError, match=r"invalid job name 'tests\.core\.test_tasks\.café'.*name="
    ):
        app.task(café)


def charge(invoice: int, amount: float) -> None:
    del invoice, amount


async def test_a_task_keyed_by_its_arguments_stores_one_job_per_key() -> None:
    app = App(backend=MemoryBackend("t"))
    task = app.task(unique_key=lambda invoice, amount: f"invoice:{invoice}")(charge)
    first = await task.enqueue(42, 10.0)
    assert await task.enqueue(42, amount=99.0) == first  # the holder's id: nothing stored
    other = await task.enqueue(43, 10.0)
    assert other != first
    jobs = await app.client().list_jobs("queued")
    assert sorted(job.unique_key or "" for job in jobs) == ["invoice:42", "invoice:43"]


async def test_one_call_can_key_a_task_its_own_way() -> None:
    app = App(backend=MemoryBackend("t"))
    task = app.task(charge)
    first = await task.with_options(unique_key="nightly").enqueue(1, 1.0)
    assert await task.with_options(unique_key="nightly").enqueue(2, 2.0) == first
    assert await task.enqueue(3, 3.0) != first  # no key: always stored
    assert (await app.client().counts()).queued == 2
    with pytest.raises(ConfigError, match="unique_for needs a unique_key"):
        app.task(name="charge.held", unique_for=60)(charge)
