"""wg's exceptions.

The tree::

    WgError                       root of everything wg raises on its own
    ├── ConfigError               bad namespace, URL or option (also a ValueError)
    ├── MissingDependencyError    a backend's driver is not installed (also an ImportError)
    ├── PayloadError              a job cannot be enqueued: not JSON, too large (also a ValueError)
    ├── DuplicateJobError         a job with that id is already stored (also a ValueError)
    ├── JobNotFoundError          no job with that id (also a LookupError)
    ├── JobFailedError            ``Client.result`` of a job that ended dead or cancelled
    ├── NamespaceNotFoundError    a reader opened a namespace (or SQLite file) that does
    │                             not exist; nothing was created (also a LookupError)
    ├── ActiveWorkersError        ``migrate`` refused: the source namespace has workers
    │                             that heartbeat (stop them, or pass ``force``)
    └── BackendError              the storage failed; driver errors are translated to this
        ├── BackendUnavailableError   cannot reach the server (refused, timeout, DNS):
        │                             worth retrying later
        ├── BackendConfigError        the server answers but refuses this configuration
        │                             (wrong password, unknown database, access denied):
        │                             retrying will not help
        └── SchemaError               a table or key exists but has the wrong shape
            └── SchemaOutdatedError   a reader met a namespace of an older storage layout:
                                      a writer's open (or ``wg upgrade``) upgrades it

    JobError                      raised by *handlers* to say how a job failed:
                                  ``JobError.retryable(...)`` or ``JobError.fatal(...)``

``JobError`` is not a ``WgError``: it is the handler's verdict on one job, not a
failure of wg. Any other exception raised by a handler counts as retryable.
"""

from __future__ import annotations

__all__ = [
    "ActiveWorkersError",
    "BackendConfigError",
    "BackendError",
    "BackendUnavailableError",
    "ConfigError",
    "DuplicateJobError",
    "JobError",
    "JobFailedError",
    "JobNotFoundError",
    "MissingDependencyError",
    "NamespaceNotFoundError",
    "PayloadError",
    "SchemaError",
    "SchemaOutdatedError",
    "WgError",
]


class WgError(Exception):
    """wg failed."""

    def __init__(self, message: str | None = None) -> None:
        # The docstring of each class is its default message.
        super().__init__(message or (type(self).__doc__ or "").strip())


class ConfigError(WgError, ValueError):
    """Invalid configuration."""


class MissingDependencyError(WgError, ImportError):
    """An optional dependency is missing."""

    @classmethod
    def for_extra(cls, module: str, extra: str) -> MissingDependencyError:
        """The error for a driver module that belongs to the ``wg[extra]`` install."""
        return cls(f"the {extra} backend needs the {module!r} package: pip install 'wg[{extra}]'")


class PayloadError(WgError, ValueError):
    """The job's payload cannot be enqueued."""


class DuplicateJobError(WgError, ValueError):
    """A job with that id is already stored."""


class JobNotFoundError(WgError, LookupError):
    """No job with that id."""


class JobFailedError(WgError):
    """The job did not complete: it is dead or cancelled.

    ``job_id``, ``state`` (a ``JobState``: ``dead`` or ``cancelled``) and ``last_error``
    (the job's last error, ``None`` if it recorded none) say which and why; the message
    names the state and the last error."""

    def __init__(self, job_id: str, state: str, last_error: str | None) -> None:
        reason = f": {last_error}" if last_error else ""
        super().__init__(f"job {job_id} is {state}{reason}")
        self.job_id = job_id
        self.state = state
        self.last_error = last_error


class NamespaceNotFoundError(WgError, LookupError):
    """No such namespace: nothing is stored there (nothing was created)."""


class BackendError(WgError):
    """The storage backend failed."""


class BackendUnavailableError(BackendError):
    """The storage backend cannot be reached."""


class BackendConfigError(BackendError):
    """The storage backend refuses this configuration (credentials, database, access)."""


class SchemaError(BackendError):
    """The storage exists but does not have the shape wg expects."""


class JobError(Exception):
    """A handler's verdict on a failed job.

    ``JobError.retryable("Service unavailable")`` retries the job with exponential
    backoff (as any other exception does); ``JobError.fatal("Invalid data")`` sends it
    straight to the dead-letter queue.
    """

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.is_fatal = fatal

    @classmethod
    def retryable(cls, message: str) -> JobError:
        """A failure worth another attempt (after the retry delay)."""
        return cls(message, fatal=False)

    @classmethod
    def fatal(cls, message: str) -> JobError:
        """A failure no retry can fix: the job goes to the dead-letter queue at once."""
        return cls(message, fatal=True)

    def __repr__(self) -> str:
        kind = "fatal" if self.is_fatal else "retryable"
        return f"JobError.{kind}({self.message!r})"


class SchemaOutdatedError(SchemaError):
    """The namespace's storage layout is older than this wg reads: open it as a writer
    (start a worker, enqueue) or run `wg upgrade` to upgrade it in place."""

    def __init__(self, message: str | None = None, *, found: int | None = None) -> None:
        super().__init__(message)
        self.found = found
        """The layout version the namespace records (0: none recorded), if known."""


class ActiveWorkersError(WgError):
    """The source namespace has active workers: stop them before migrating (or force)."""
