"""The SQL engine shared by the PostgreSQL, MySQL/MariaDB and SQLite backends.

``SqlBackend`` (``base.py``: the dialect hooks, how a unit of work runs, lifecycle;
``verbs.py``: producing, claiming and transitions; ``admin.py``: the admin verbs;
``finished.py``: results, cancellation, progress, retention and waiting for them, with
``signals.py``'s in-process wake-ups) holds the logic of every verb; ``schema.py``
describes the tables and lists the SQL blocks; ``session.py`` is what a dialect runs
them on. Each dialect supplies its named SQL
blocks (``postgres.sql``, ``mysql.sql``, ``sqlite.sql``: the same block names) and its
driver layer (``wg_core.backends.postgres``, ``wg_core.backends.mysql``,
``wg_core.backends.sqlite``), overriding only what its engine does differently (how it
connects and runs a unit on a connection, how it waits for work, and the hot paths it
can do in fewer round trips).
"""

from __future__ import annotations

from wg_core.backends.sql.base import SqlBackend
from wg_core.backends.sql.schema import SHARED_BLOCKS
from wg_core.backends.sql.session import SqlSession

__all__ = ["SHARED_BLOCKS", "SqlBackend", "SqlSession"]
