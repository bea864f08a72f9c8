"""PyMySQL itself for the MySQL backend: its lazy import, its connection arguments from
a ``mysql://`` URL, the server's error codes wg tells apart, and the server version
check (wg needs ``SKIP LOCKED``)."""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import parse_qs, unquote, urlsplit

from wg_core.backends.common import scrub_exception
from wg_core.errors import ConfigError, MissingDependencyError

__all__ = [
    "CONFIG_REFUSED",
    "DUPLICATE_KEY",
    "TRANSIENT",
    "UNREACHABLE",
    "connect_args",
    "load_pymysql",
    "server_supports_skip_locked",
]

TRANSIENT: Final = frozenset({1205, 1213})  # lock wait timeout, deadlock: retry the unit
UNREACHABLE: Final = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1927,  # connection killed (MariaDB)
        2003,  # can't connect
        2006,  # server has gone away
        2013,  # lost connection during query
        2055,  # lost connection (system error)
        4031,  # disconnected by the server for inactivity (MySQL 8)
    }
)
"""The connection is gone or cannot be made now: worth trying again later."""
CONFIG_REFUSED: Final = frozenset(
    {
        1044,  # access denied for user to database
        1045,  # access denied for user (wrong password, unknown user)
        1049,  # unknown database
        1130,  # host is not allowed to connect
        1142,  # command denied to user for table
        1143,  # column command denied
        1227,  # access denied: needs a privilege (SUPER, PROCESS...)
        1251,  # client does not support the authentication protocol
        1698,  # access denied (socket authentication)
        2059,  # authentication plugin cannot be loaded
    }
)
"""The server answers but refuses these credentials, this database or this access:
retrying with the same configuration will not help."""
DUPLICATE_KEY: Final = 1062


def load_pymysql() -> Any:
    """PyMySQL, imported on first use (wg_core imports no driver)."""
    try:
        import pymysql
    except ModuleNotFoundError as exc:
        raise MissingDependencyError.for_extra("pymysql", "mysql") from exc
    return pymysql


def server_supports_skip_locked(version: str) -> bool:
    """Whether a server reporting ``version`` (``SELECT VERSION()``) has ``SKIP LOCKED``:
    MariaDB 10.6+, MySQL 8.0.1+ (an unknown format is given the benefit of the doubt:
    the first claim will tell)."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        return True  # unknown format: let the first claim tell
    major, minor, patch = (int(part) for part in match.groups())
    if "mariadb" in version.lower():
        return (major, minor) >= (10, 6)
    return (major, minor, patch) >= (8, 0, 1)


def connect_args(url: str, display_url: str, connect_timeout: float) -> dict[str, Any]:
    """PyMySQL's ``connect()`` arguments for a ``mysql://`` URL, or a ``ConfigError``
    saying what is wrong (``display_url``, the URL without its password, in messages)."""
    try:
        parts = urlsplit(url)
        port = parts.port  # parsed on first use: a bad one raises here
    except ValueError as exc:  # a port out of range or not a number, a broken host
        raise ConfigError(
            f"malformed MySQL URL {display_url}: {scrub_exception(exc, url)}"
        ) from None
    if parts.scheme != "mysql":
        raise ConfigError(f"not a mysql:// URL: {display_url}")
    args: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": port or 3306,
        "user": unquote(parts.username) if parts.username else "root",
        "password": unquote(parts.password) if parts.password else "",
        "database": unquote(parts.path.lstrip("/")) or None,
        "connect_timeout": connect_timeout,
    }
    for key, values in parse_qs(parts.query).items():
        if key in ("unix_socket", "ssl_ca", "ssl_cert", "ssl_key"):
            args[key] = values[-1]
    if args["database"] is None:
        raise ConfigError(f"the MySQL URL needs a database: {display_url}")
    return args
