"""JSON log lines: ``wg worker --log-format json``, or in your own process::

    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    WorkerPool(..., middleware=[JobLogContext()])

``JsonFormatter`` writes one JSON object per line: ``time`` (ISO 8601, UTC, to the
millisecond), ``level``, ``logger``, ``message``, then ``job_id``, ``job_name``,
``queue`` and ``attempt`` when the line was logged while a job ran (by wg or by the
handler, sync handlers included), then ``exception`` (the formatted traceback) if
any. ``JobLogContext`` is the middleware that tells it which job runs: it sets a
``contextvars`` value in the job's own task for the length of the run, so nothing is
shared between jobs running at once.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import UTC, datetime
from typing import Any, Final

from wg_core.middleware import Middleware, Outcome, RunningJob

__all__ = ["JobLogContext", "JsonFormatter", "current_job"]

_CURRENT: Final[contextvars.ContextVar[RunningJob | None]] = contextvars.ContextVar(
    "wg_current_job", default=None
)
_TOKEN: Final = "wg.logs.token"


def current_job() -> RunningJob | None:
    """The job whose run this code is part of (with ``JobLogContext``), if any."""
    return _CURRENT.get()


class JobLogContext(Middleware):
    """Marks each run's log lines with its job (see the module docstring)."""

    async def before(self, job: RunningJob) -> None:
        """From here on, this task's log lines name ``job``."""
        job.state[_TOKEN] = _CURRENT.set(job)

    async def after(self, job: RunningJob, outcome: Outcome) -> None:
        """The run is over: its task names no job any more."""
        token = job.state.pop(_TOKEN, None)
        if token is not None:
            try:
                _CURRENT.reset(token)
            except ValueError:  # set in another context (never by wg's pool): leave it
                _CURRENT.set(None)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a line of JSON."""
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        job = _CURRENT.get()
        if job is not None:
            document["job_id"] = job.job_id
            document["job_name"] = job.job_name
            document["queue"] = job.queue
            document["attempt"] = job.attempt
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        # default=str: a message argument that is no JSON type is already in
        # "message"; anything odd left in the document is written as its text.
        return json.dumps(document, ensure_ascii=False, default=str)
