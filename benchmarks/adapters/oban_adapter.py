"""oban 0.7 (the Python port of Oban, PostgreSQL). It needs Python >= 3.12: on an older
interpreter it is not installed (``requirements.txt`` marks it so) and the harness skips
its row with the import error as the reason. Not measured on this machine (Python 3.11);
the adapter is kept so that a run on 3.12 picks it up once it is written against oban's
API there.
"""

from __future__ import annotations

from benchmarks.adapters.base import Adapter, Job, Servers


class ObanAdapter(Adapter):
    label = "oban (Python)"
    worker_model = "asyncio"

    def __init__(self, key: str, backend: str, variant: str, servers: Servers) -> None:
        super().__init__(key, backend, variant, servers)
        import oban  # noqa: F401 - ModuleNotFoundError on Python < 3.12: row skipped

        raise RuntimeError("oban adapter: not written yet (no Python >= 3.12 here)")

    async def enqueue(self, job: Job) -> None:  # pragma: no cover - see the docstring
        raise NotImplementedError

    def run_worker(self, concurrency: int) -> None:  # pragma: no cover
        raise NotImplementedError


def make(key: str, backend: str, variant: str, servers: Servers) -> Adapter:
    return ObanAdapter(key, backend, variant, servers)
