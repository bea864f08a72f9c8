"""Options, namespaces, URLs: bad input is refused before any I/O, with a clear message."""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import re
import sys
from datetime import timedelta
from typing import Any

import pytest

from wg_core import (
    Client,
    ConfigError,
    JobOptions,
    MemoryBackend,
    MissingDependencyError,
    WorkerConfig,
    WorkerPool,
    backend_from_url,
    redact_url,
)
from wg_core.namespace import validate_namespace
from wg_core.options import MAX_DURATION, MAX_RETRIES_LIMIT
from wg_core.settings import worker_settings


def test_worker_config_defaults_are_the_specs() -> None:
    config = WorkerConfig()
    assert (config.namespace, config.workers, config.fetch_timeout) == ("wg", 4, 5.0)
    assert (config.scheduler_interval, config.retrier_interval) == (1.0, 1.0)
    assert (config.batch_size, config.shutdown_timeout) == (100, 30.0)


def test_job_options_defaults_and_durations() -> None:
    assert JobOptions() == JobOptions(max_retries=3, timeout=300, retry_delay=10)
    options = JobOptions(max_retries=5, timeout=timedelta(minutes=1), retry_delay=30)
    assert (options.timeout, options.retry_delay) == (60.0, 30.0)
    assert JobOptions(timeout=None).timeout is None


@pytest.mark.parametrize(
    "kwargs",
    [{"max_retries": -1}, {"max_retries": True}, {"timeout": -5}, {"retry_delay": float("nan")}],
)
def test_bad_job_options_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        JobOptions(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"workers": 0},
        {"batch_size": 0},
        {"fetch_timeout": 0},
        {"lease": 5, "heartbeat_interval": 5},
        {"retry_jitter": 2},
        {"namespace": "Bad-Name"},
    ],
)
def test_bad_worker_config_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        WorkerConfig(**kwargs)


@pytest.mark.parametrize("name", ["myapp", "a", "app_2", "x" * 32])
def test_valid_namespaces(name: str) -> None:
    assert validate_namespace(name) == name


@pytest.mark.parametrize(
    "name",
    ["", "1app", "_app", "App", "my-app", "my app", "a;drop table x", "x" * 33, "é", 7, None],
)
def test_invalid_namespaces_are_refused_before_any_io(name: object) -> None:
    with pytest.raises(ConfigError, match="namespace"):
        validate_namespace(name)
    with pytest.raises(ConfigError):
        MemoryBackend(name)  # type: ignore[arg-type]


def test_urls_pick_the_backend_and_unknown_schemes_are_refused() -> None:
    assert isinstance(backend_from_url("memory:", "x"), MemoryBackend)
    with pytest.raises(ConfigError, match="unsupported backend URL 'ftp://u:\\*\\*\\*@h'"):
        backend_from_url("ftp://u:secret@h", "x")


def test_missing_driver_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    # Forget redis and wg's adapter as if neither had ever been imported here.
    for name in list(sys.modules):
        if name in ("redis", "wg_core.backends.redis") or name.startswith("redis."):
            monkeypatch.delitem(sys.modules, name)
    real_import = builtins.__import__

    def no_redis(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "redis" or name.startswith("redis."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_redis)
    with pytest.raises(MissingDependencyError, match=r"pip install 'wg\[redis\]'"):
        asyncio.run(_open_redis())


async def _open_redis() -> None:
    await backend_from_url("redis://127.0.0.1:6379", "x").open()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/jobs", "postgresql://app:***@db:5432/jobs"),
        ("redis://:pw@localhost:6379/0", "redis://:***@localhost:6379/0"),
        ("mysql://root@127.0.0.1/test", "mysql://root@127.0.0.1/test"),
        (
            "postgresql://h/db?password=x&sslmode=require",
            "postgresql://h/db?password=***&sslmode=require",
        ),
        ("sqlite:jobs.db", "sqlite:jobs.db"),
    ],
)
def test_credentials_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_pool_needs_a_handler_and_one_backend() -> None:
    with pytest.raises(ConfigError, match="handler"):
        WorkerPool(backend=MemoryBackend("x"))
    with pytest.raises(ConfigError, match="exactly one"):
        WorkerPool(lambda job: None)
    with pytest.raises(ConfigError, match="namespace"):
        WorkerPool(lambda job: None, backend=MemoryBackend("x"), namespace="y")
    with pytest.raises(ConfigError, match="at most"):
        WorkerPool(lambda a, b, c: None, backend=MemoryBackend("x"))


def test_client_exposes_the_namespace() -> None:
    assert Client(MemoryBackend("shop")).namespace == "shop"


def test_importing_the_core_imports_no_driver_or_front_end() -> None:
    import subprocess

    code = (
        "import sys, wg_core; "
        "print([m for m in ('redis', 'psycopg', 'psycopg_pool', 'pymysql', 'aiosqlite', "
        "'typer', 'textual', 'rich') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- bounds: what every reader (the Rust wg's u32/u64 fields) and every backend accepts ----


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": 99999999999999999999},  # overflows the Rust reader's u32
        {"max_retries": MAX_RETRIES_LIMIT + 1},
        {"max_retries": "3"},
        {"timeout": "abc"},  # was a raw ValueError
        {"timeout": [5]},
        {"timeout": True},
        {"retry_delay": 10**30},  # an int too large for a float
        {"retry_delay": MAX_DURATION + 1},
        {"timeout": timedelta(days=365 * 200)},
    ],
)
def test_job_options_out_of_range_or_of_the_wrong_type_are_config_errors(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        JobOptions(**kwargs)


def test_job_options_at_their_bounds_are_accepted() -> None:
    options = JobOptions(max_retries=MAX_RETRIES_LIMIT, timeout=MAX_DURATION, retry_delay=0)
    assert options.max_retries == 2**31 - 1
    assert options.timeout == MAX_DURATION


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lease": "abc"},
        {"fetch_timeout": None},
        {"retry_jitter": "x"},
        {"workers": "4"},
        {"max_payload_bytes": 1.5},
        {"max_backend_outage": 10**30},
        {"shutdown_timeout": MAX_DURATION * 2},
        {"default_options": {"max_retries": 1}},
    ],
)
def test_every_worker_config_field_refuses_bad_values_with_config_error(
    kwargs: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        WorkerConfig(**kwargs)


# -- WorkerConfig.from_env: one variable per field ------------------------------------


def test_every_worker_config_field_has_an_environment_variable() -> None:
    names = {setting.name for setting in worker_settings()}
    for spec in dataclasses.fields(WorkerConfig):
        if spec.name == "default_options":
            assert "default_retry_delay" in names
        else:
            assert spec.name in names, f"WorkerConfig.{spec.name} has no WG_ variable"
    envs = [setting.env for setting in worker_settings()]
    assert len(envs) == len(set(envs))
    assert {"WG_WORKERS", "WG_LEASE", "WG_FETCH_TIMEOUT", "WG_MAX_BACKEND_OUTAGE"} <= set(envs)


def test_from_env_reads_durations_ints_fractions_and_none() -> None:
    config = WorkerConfig.from_env(
        {
            "WG_NAMESPACE": "shop",
            "WG_WORKERS": "8",
            "WG_LEASE": "1m",
            "WG_HEARTBEAT_INTERVAL": "15s",
            "WG_FETCH_TIMEOUT": "250ms",
            "WG_MAX_BACKEND_OUTAGE": "none",
            "WG_PREFETCH": "0",
            "WG_RETRY_JITTER": "0.25",
            "WG_MAX_PAYLOAD_BYTES": "1_000_000",
            "WG_DEFAULT_RETRY_DELAY": "2m",
            "WG_SHUTDOWN_TIMEOUT": "",  # empty: unset, the default stays
            "WG_URL": "sqlite:ignored.db",  # not a WorkerConfig setting
        }
    )
    assert (config.namespace, config.workers, config.lease) == ("shop", 8, 60.0)
    assert (config.heartbeat_interval, config.fetch_timeout) == (15.0, 0.25)
    assert config.max_backend_outage is None
    assert (config.prefetch, config.retry_jitter, config.max_payload_bytes) == (0, 0.25, 10**6)
    assert config.default_options.retry_delay == 120.0
    assert config.shutdown_timeout == 30.0


def test_from_env_overrides_win_and_the_process_environment_is_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WG_WORKERS", "6")
    monkeypatch.setenv("WG_LEASE", "45s")
    config = WorkerConfig.from_env(workers=2)
    assert (config.workers, config.lease) == (2, 45.0)
    assert WorkerConfig.from_env({}) == WorkerConfig()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WG_LEASE": "abc"}, "WG_LEASE: 'abc' is not a duration"),
        ({"WG_WORKERS": "four"}, "WG_WORKERS='four' is not an integer"),
        ({"WG_RETRY_JITTER": "nan"}, "WG_RETRY_JITTER='nan' is not a number"),
        ({"WG_FETCH_TIMEOUT": "none"}, "WG_FETCH_TIMEOUT: 'none' is not a duration"),
        ({"WG_LEASE": "99999999d"}, "lease must be at most"),
        ({"WG_WORKERS": "0"}, "workers must be a positive int"),
    ],
)
def test_from_env_bad_values_are_config_errors_naming_the_variable(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        WorkerConfig.from_env(env)
