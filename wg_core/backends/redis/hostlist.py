"""The ``[user:password@]host[:port],host[:port]…`` part of a Redis Sentinel or Redis
Cluster URL."""

from __future__ import annotations

from urllib.parse import unquote

__all__ = ["parse_hostlist", "split_netloc"]


def split_netloc(netloc: str) -> tuple[str | None, str | None, str]:
    """``netloc``'s user name and password (percent-decoded, ``None`` where absent) and
    its host list, still to be parsed (``parse_hostlist``)."""
    userinfo, at, hostlist = netloc.rpartition("@")
    if not at:
        return None, None, netloc
    user, colon, secret = userinfo.partition(":")
    return unquote(user) or None, unquote(secret) if colon else None, hostlist


def parse_hostlist(hostlist: str, default_port: int, what: str) -> tuple[tuple[str, int], ...]:
    """Each ``host[:port]`` of ``hostlist`` (``[v6]:port`` for IPv6), with
    ``default_port`` where none is given; a ``ValueError`` naming the bad entry (``what``
    says what the entries are: "node", "sentinel") otherwise."""
    return tuple(_address(text, default_port, what) for text in hostlist.split(",") if text)


def _address(text: str, default_port: int, what: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise ValueError(f"a {what} address has no host: {text!r}")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"a {what} port must be a number from 1 to 65535: {text!r}")
    return host, int(port_text)
