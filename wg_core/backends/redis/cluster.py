"""Redis Cluster: the ``redis+cluster://`` URL, and the client options it turns into.

``redis+cluster://[[user]:password@]host:port[,host:port…][/][?options]``
(``rediss+cluster://`` for TLS). The hosts are startup nodes (any nodes of the cluster;
port 6379 when none is given): redis-py's ``redis.asyncio.cluster.RedisCluster`` asks
them for the slot map and then talks to each master directly. A cluster has only the
database 0, so the path is empty, ``/`` or ``/0``. ``ssl_cert_reqs`` and
``ssl_ca_certs`` pass to the TLS connections; ``hash_tag`` is accepted only as true
(the namespace's keys must share a slot on a cluster: see docs/redis.md, "Redis
Cluster"). Any other option is a ``ConfigError``, and no message ever shows a password
(``wg_core.urls``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from wg_core.backends.redis.hostlist import parse_hostlist, split_netloc
from wg_core.errors import ConfigError
from wg_core.urls import redact_url

__all__ = ["CLUSTER_SCHEMES", "ClusterUrl", "is_cluster_url", "parse_cluster_url"]

CLUSTER_SCHEMES: Final = ("redis+cluster", "rediss+cluster")
DEFAULT_NODE_PORT: Final = 6379
_TLS_OPTIONS: Final = ("ssl_cert_reqs", "ssl_ca_certs")
_OPTIONS: Final = _TLS_OPTIONS


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster."""
    return url.split(":", 1)[0].lower() in CLUSTER_SCHEMES


@dataclass(frozen=True, slots=True)
class ClusterUrl:
    """A parsed ``redis+cluster://`` URL (``hash_tag`` already taken out)."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_options: tuple[tuple[str, str], ...] = ()

    def client_options(self) -> dict[str, Any]:
        """Connection options for every node of the cluster."""
        options: dict[str, Any] = dict(self.tls_options)
        if self.password is not None:
            options["password"] = self.password
        if self.username is not None:
            options["username"] = self.username
        if self.tls:
            options["ssl"] = True
        return options


def _refuse(url: str, reason: str) -> ConfigError:
    return ConfigError(f"invalid Redis Cluster URL {redact_url(url)!r}: {reason}")


def parse_cluster_url(url: str) -> ClusterUrl:
    """``url`` (``redis+cluster://…``, without wg's ``hash_tag``) parsed, or a
    ``ConfigError`` saying what is wrong (with the URL redacted)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _refuse(url, "malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in CLUSTER_SCHEMES:
        raise _refuse(url, f"the scheme must be one of {', '.join(CLUSTER_SCHEMES)}")
    username, password, hostlist = split_netloc(parts.netloc)
    if not hostlist:
        raise _refuse(url, "no node given (host:port[,host:port…])")
    try:
        nodes = parse_hostlist(hostlist, DEFAULT_NODE_PORT, "node")
    except ValueError as exc:
        raise _refuse(url, str(exc)) from None
    if not nodes:
        raise _refuse(url, "no node given (host:port[,host:port…])")
    path = parts.path.strip("/")
    if path not in ("", "0"):
        raise _refuse(url, f"a cluster has only the database 0, not {unquote(path)!r}")
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _OPTIONS:
            raise _refuse(url, f"unknown option {name!r} (known: {', '.join(_OPTIONS)})")
        options[name] = value
    tls_options = tuple((name, options[name]) for name in _TLS_OPTIONS if name in options)
    return ClusterUrl(
        nodes=nodes,
        username=username,
        password=password,
        tls=scheme == "rediss+cluster",
        tls_options=tls_options,
    )
