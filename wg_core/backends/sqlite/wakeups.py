"""In-process wake-ups shared by every SQLite backend on the same file and namespace.

Several backends of one process may use the same database (a client, a worker pool,
the pool's lease keeper on its own thread): an enqueue through one wakes the idle
claimers of all, a finish wakes every ``wait_finished``, a cancel request every
``wait_cancel_request``. Other processes' commits are seen by polling (``watcher.py``
for idle claimers; the engine's short polling for the other two).
"""

from __future__ import annotations

import os
import threading
import weakref

from wg_core.backends.common import Waiters
from wg_core.backends.sql.signals import Signal

__all__ = ["Wakeups", "wakeups_for"]


class Wakeups:
    """The wake-ups of one (file, namespace): idle claimers, finishes, cancels."""

    __slots__ = ("__weakref__", "cancels", "finished", "waiters")

    def __init__(self) -> None:
        self.waiters = Waiters()
        self.finished = Signal()
        self.cancels = Signal()


_shared: weakref.WeakValueDictionary[tuple[str, str], Wakeups] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


def wakeups_for(path: str, namespace: str) -> Wakeups:
    """The wake-ups every backend of this process on ``path`` and ``namespace`` shares
    (kept while one of them lives)."""
    key = (os.path.realpath(path), namespace)
    with _shared_lock:
        wakeups = _shared.get(key)
        if wakeups is None:
            wakeups = _shared[key] = Wakeups()
        return wakeups
