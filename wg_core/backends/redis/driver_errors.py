"""redis-py's errors, classified and translated into wg's at the adapter edge
(``Transport.translate``, transport.py): a refused configuration (``BackendConfigError``:
retrying cannot help), an unreachable server, a server changing roles or a cluster
moving a slot (``BackendUnavailableError``: a later call on a fresh connection
succeeds), a key of the wrong type (``SchemaError``), anything else (``BackendError``).
Every message is scrubbed of the URL's secrets."""

from __future__ import annotations

from typing import Final

from redis import exceptions as redis_errors

from wg_core.errors import BackendConfigError, BackendError, BackendUnavailableError, SchemaError
from wg_core.urls import scrub_secrets

__all__ = ["CLUSTER_MOVING", "changing_roles", "refuses_config", "translate_error"]

# Replies that say the server refuses this configuration: retrying cannot help.
_REFUSALS: Final = ("NOAUTH", "WRONGPASS", "NOPERM", "DB index is out of range", "ERR AUTH")


# Error replies of a server that is changing roles or not ready yet (a Sentinel
# failover: a demoted master, one that lost its replicas; a restart loading its data):
# a later call, on a fresh connection, succeeds.
_TRANSIENT: Final = ("READONLY", "NOREPLICAS", "MASTERDOWN", "LOADING")


# Errors of a cluster whose slots are moving (a failover, a resharding): a later call,
# once the slot map is read again, reaches the slot's new master.
CLUSTER_MOVING: Final = (
    redis_errors.MovedError,
    redis_errors.AskError,
    redis_errors.TryAgainError,
    redis_errors.ClusterDownError,
    redis_errors.MasterDownError,
)


def changing_roles(exc: BaseException) -> bool:
    """Whether ``exc`` is an error reply of a server changing roles (``_TRANSIENT``), or
    of a cluster moving a slot."""
    if isinstance(exc, CLUSTER_MOVING):
        return True
    return isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(_TRANSIENT)


def refuses_config(exc: BaseException) -> bool:
    """Whether ``exc`` says the server refuses this configuration (a password, a user's
    permissions, a database index): retrying cannot help."""
    if isinstance(exc, redis_errors.RedisClusterException):
        # The cluster client wraps what its startup nodes answered ("cannot be
        # connected"): a refusal there is a refusal, not an unreachable cluster.
        cause = exc.__cause__ or exc.__context__
        return cause is not None and refuses_config(cause)
    if isinstance(
        exc,
        redis_errors.AuthenticationError
        | redis_errors.AuthorizationError
        | redis_errors.NoPermissionError
        | redis_errors.AuthenticationWrongNumberOfArgsError,
    ):
        return True
    return isinstance(exc, redis_errors.RedisError) and str(exc).startswith(_REFUSALS)


def translate_error(exc: BaseException, *, where: str, url: str, namespace: str) -> BackendError:
    """The wg error for driver error ``exc`` of the server at ``where`` (a redacted URL;
    ``url``'s secrets are scrubbed from the driver's message)."""
    reason = scrub_secrets(str(exc), url)
    if refuses_config(exc):
        return BackendConfigError(f"Redis at {where} refuses this configuration: {reason}")
    if isinstance(
        exc,
        redis_errors.ConnectionError
        | redis_errors.TimeoutError
        | OSError
        | redis_errors.RedisClusterException,
    ):
        return BackendUnavailableError(f"Redis at {where} is unreachable: {reason}")
    if isinstance(exc, CLUSTER_MOVING):
        return BackendUnavailableError(
            f"Redis Cluster at {where} is moving the namespace's slot "
            f"({type(exc).__name__}: {reason})"
        )
    if changing_roles(exc):
        return BackendUnavailableError(f"Redis at {where} is not writable now: {reason}")
    if isinstance(exc, redis_errors.ResponseError) and reason.startswith("WRONGTYPE"):
        return SchemaError(f"a key of namespace {namespace!r} at {where}: {reason}")
    return BackendError(f"Redis at {where} failed: {reason}")
