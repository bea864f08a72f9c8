"""wg: a job queue with one API over Redis, PostgreSQL, MySQL/MariaDB and SQLite.

```python
client = await Client.connect("sqlite:jobs.db", "myapp")
await client.enqueue(EmailJob(to="a@b.c", subject="Hi", body="..."))
await client.enqueue(ReportJob(day="2026-01-01"), queue="reports", priority=10)

app = App("sqlite:jobs.db", "myapp")  # or tasks: @app.task on functions

@app.task
async def add(a: int, b: int) -> int:
    return a + b

job_id = await add.enqueue(2, b=3)  # `wg worker myapp.tasks:app` runs it

pool = WorkerPool(handler=process_email, url="sqlite:jobs.db", namespace="myapp")
# or: WorkerPool(..., queues=["critical", "default"])  (strict order)
await pool.run()  # until SIGINT/SIGTERM, then drains

job_id = await client.enqueue(ReportJob(day="2026-01-02"))
print(await client.result(job_id, timeout=60))  # the handler's return value
await client.cancel(other_id)  # queued: never runs; running: interrupted
```
"""

# Types a user meets through Client and WorkerPool. The types for writing a backend
# (NewJob, Attempt, StoredJob, Move, HeartbeatReply) live in wg_core.backend.
from wg_core.app import App
from wg_core.backend import (
    Backend,
    Counters,
    JobState,
    Progress,
    QueueInfo,
    StateCounts,
    WorkerInfo,
)
from wg_core.backends.memory import MemoryBackend
from wg_core.blocking import BlockingClient
from wg_core.client import Client, JobSpec
from wg_core.envelope import DEFAULT_JOB_NAME, Envelope, EnvelopeError
from wg_core.errors import (
    ActiveWorkersError,
    BackendConfigError,
    BackendError,
    BackendUnavailableError,
    ConfigError,
    DuplicateJobError,
    JobError,
    JobFailedError,
    JobNotFoundError,
    MissingDependencyError,
    NamespaceNotFoundError,
    PayloadError,
    SchemaError,
    SchemaOutdatedError,
    WgError,
)
from wg_core.jobs import JobContext, JobInfo
from wg_core.limits import QueueLimit
from wg_core.middleware import JobMiddleware, Middleware, Outcome, OutgoingJob, RunningJob
from wg_core.migrating import MigrationReport, migrate, migrate_urls
from wg_core.options import MAX_RESULT_BYTES, JobOptions, WorkerConfig
from wg_core.periodic import Periodic
from wg_core.periodic_records import PeriodicInfo
from wg_core.queues import DEFAULT_QUEUE, MAX_PRIORITY, MIN_PRIORITY
from wg_core.task_arguments import TaskArgumentError
from wg_core.tasks import Task
from wg_core.unique import UNIQUE_BY_PAYLOAD, EnqueueResult, derive_unique_key
from wg_core.urls import DEFAULT_URL, backend_from_url, redact_url
from wg_core.worker import PoolStats, WorkerPool

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_JOB_NAME",
    "DEFAULT_QUEUE",
    "DEFAULT_URL",
    "MAX_PRIORITY",
    "MAX_RESULT_BYTES",
    "MIN_PRIORITY",
    "UNIQUE_BY_PAYLOAD",
    "ActiveWorkersError",
    "App",
    "Backend",
    "BackendConfigError",
    "BackendError",
    "BackendUnavailableError",
    "BlockingClient",
    "Client",
    "ConfigError",
    "Counters",
    "DuplicateJobError",
    "EnqueueResult",
    "Envelope",
    "EnvelopeError",
    "JobContext",
    "JobError",
    "JobFailedError",
    "JobInfo",
    "JobMiddleware",
    "JobNotFoundError",
    "JobOptions",
    "JobSpec",
    "JobState",
    "MemoryBackend",
    "Middleware",
    "MigrationReport",
    "MissingDependencyError",
    "NamespaceNotFoundError",
    "Outcome",
    "OutgoingJob",
    "PayloadError",
    "Periodic",
    "PeriodicInfo",
    "PoolStats",
    "Progress",
    "QueueInfo",
    "QueueLimit",
    "RunningJob",
    "SchemaError",
    "SchemaOutdatedError",
    "StateCounts",
    "Task",
    "TaskArgumentError",
    "WgError",
    "WorkerConfig",
    "WorkerInfo",
    "WorkerPool",
    "__version__",
    "backend_from_url",
    "derive_unique_key",
    "migrate",
    "migrate_urls",
    "redact_url",
]


def __getattr__(name: str) -> object:
    # Backends with drivers are imported on first use, so `import wg_core` needs only
    # the standard library.
    lazy = {
        "SqliteBackend": "wg_core.backends.sqlite",
        "RedisBackend": "wg_core.backends.redis",
        "RedisQueueSlots": "wg_core.backends.redis",
        "PostgresBackend": "wg_core.backends.postgres",
        "MySqlBackend": "wg_core.backends.mysql",
    }
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(lazy[name]), name)
    raise AttributeError(f"module 'wg_core' has no attribute {name!r}")
