"""Connection loss under load, for the server backends: the same drain, with the
server cutting the backend's connections while jobs remain, and the same verdict
(nothing lost, nothing run twice by a claim that survived). Each backend's tests say
how its server cuts connections and expires leases."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tests.helpers import new_job
from wg_core.backend import Attempt, Backend
from wg_core.errors import BackendError

T = TypeVar("T")

CUTS_AT = (0.15, 0.4, 0.65)
"""The server cuts the connections when these shares of the jobs are done. Progress,
not time, sets off each cut, and no claimer starts a call while the server cuts: the
calls in flight then may finish (four claims of ten at most), so jobs are always left
to do, however fast or slow the machine."""


async def retrying(call: Callable[[], Awaitable[T]]) -> T:
    """``call()``, retried through connection errors as the worker pool does (an idle
    pooled connection may have been cut too)."""
    for _ in range(50):
        try:
            return await call()
        except BackendError:
            await asyncio.sleep(0.02)
    return await call()


async def drain_through_cuts(
    backend: Backend,
    *,
    total: int,
    cut: Callable[[], Awaitable[int]],
    expire_leases: Callable[[], Awaitable[None]],
) -> None:
    """Enqueue ``total`` jobs, drain them with four claimers while ``cut()`` has the
    server end the backend's connections (it returns how many the server ended), then
    recover the jobs of claims whose reply was lost (``expire_leases`` then
    ``reclaim_expired``, as the reaper would after the lease) and check that every job
    ran and none is left."""
    await backend.enqueue([new_job(payload={"n": n}) for n in range(total)])
    done: list[str] = []
    working = 4
    progress = asyncio.Condition()  # jobs done, or a worker finished
    resume = asyncio.Event()  # clear while the server cuts
    resume.set()

    async def worker() -> None:
        nonlocal working
        try:
            while True:
                try:
                    await resume.wait()
                    attempts = await backend.claim(limit=10, lease=30, worker_id="w")
                    if not attempts:
                        return
                    while True:  # as the pool does: keep acknowledging through the outage
                        try:
                            await resume.wait()
                            await backend.complete(attempts)
                            break
                        except BackendError:
                            await asyncio.sleep(0.01)
                    done.extend(a.raw for a in attempts)
                    async with progress:
                        progress.notify_all()
                except BackendError:
                    await asyncio.sleep(0.01)
        finally:
            working -= 1
            async with progress:
                progress.notify_all()

    cuts: list[tuple[int, int]] = []  # (connections ended, jobs still to do)

    async def cutter() -> None:
        for share in CUTS_AT:
            due = share * total
            async with progress:
                await asyncio.wait_for(
                    progress.wait_for(lambda due=due: len(done) >= due or not working), 60
                )
            resume.clear()
            try:
                ended = await cut()
            finally:
                resume.set()
            cuts.append((ended, total - len(done)))

    await asyncio.gather(cutter(), *(worker() for _ in range(working)))
    # The precondition, as the server saw it: every cut ended some of the backend's
    # connections while jobs were still to do.
    assert all(ended > 0 and left > 0 for ended, left in cuts), cuts

    await expire_leases()
    recovered: list[Attempt]
    while recovered := await retrying(
        lambda: backend.reclaim_expired(limit=100, lease=30, worker_id="r")
    ):
        await retrying(lambda: backend.complete(recovered))
        done.extend(a.raw for a in recovered)
    assert (await retrying(backend.counts)).total == 0
    assert len(set(done)) == total
