"""Redis Cluster (issue 23): the ``redis+cluster://`` URL, a part of the conformance
suite on a private 6-node cluster (3 masters, 3 replicas: chaos/clusters.py), where the
namespaces' keys land, and a worker pool that follows a ``CLUSTER FAILOVER`` in the
middle of a drain: nothing lost, duplicates no more than the jobs in flight.

The whole conformance suite runs on a cluster with ``WG_TEST_CLUSTER=1`` (the backend
``redis-cluster``, tests/backends/__init__.py); the larger failover scenario is
``python -m chaos cluster-failover`` (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from chaos.clusters import RedisClusterSet, cluster_set
from tests.backends import fresh_namespace, use_cluster
from tests.backends.redis_deployments import JOBS, answered, deployed, drain_across_failover
from tests.conformance.conftest import twin  # noqa: F401  (the imported tests use it)
from tests.conformance.test_cancel import (  # noqa: F401  (run here on a cluster too)
    test_cancel_a_queued_job,
    test_cancel_a_running_job_through_its_heartbeat,
)
from tests.conformance.test_contract import (  # noqa: F401
    test_bury_keeps_the_job_with_its_error,
    test_claim_is_fifo_and_returns_the_stored_text,
    test_complete_deletes_counts_and_is_compare_and_set,
    test_counts_get_and_list_cover_every_state,
    test_delete_and_purge,
    test_expired_leases_are_reclaimed_and_stale_writes_refused,
    test_release_puts_jobs_back_at_the_front_unchanged,
    test_retry_stores_the_new_envelope_until_due,
    test_scheduled_jobs_wait_for_their_time,
    test_waiting_claim_times_out_empty,
)
from tests.conformance.test_limits import (  # noqa: F401
    test_concurrency_caps_running_jobs,
    test_every_transition_frees_its_slot,
)
from tests.conformance.test_periodic import (  # noqa: F401
    test_a_tick_is_claimed_once_and_only_newer_ticks_after_it,
    test_fire_claims_the_tick_and_stores_its_job,
)
from tests.conformance.test_queue_admin import (  # noqa: F401
    test_pausing_a_queue_skips_only_that_queue,
    test_queues_lists_every_queue_with_its_counts_counters_and_pause,
)
from tests.conformance.test_queues import (  # noqa: F401
    test_higher_priority_runs_first_within_a_queue,
    test_queues_are_served_in_strict_order,
)
from tests.conformance.test_unique import (  # noqa: F401
    client,
    test_a_duplicate_stores_nothing_and_returns_the_holder,
    test_retry_keeps_the_key_and_complete_frees_it,
)
from tests.servers import free_port
from wg_core import Client, backend_from_url
from wg_core.backend import Backend
from wg_core.backends.redis import RedisBackend, RedisQueueSlots
from wg_core.errors import BackendConfigError, BackendUnavailableError, ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterSet]:
    """One cluster for the module's tests (none of them fails over)."""
    with (
        deployed(cluster_set, tmp_path_factory.mktemp("cluster")) as started,
        use_cluster(started.url()),
    ):
        yield started


@pytest.fixture
def backend_name() -> str:
    """The imported conformance tests' backend kind (their ``twin`` is made from it)."""
    return "redis-cluster"


@pytest.fixture
async def backend(deployment: RedisClusterSet) -> AsyncIterator[Backend]:
    """The cluster URL's backend (a slot per queue, the default for a new namespace)."""
    opened = backend_from_url(deployment.url(), fresh_namespace())
    await opened.open()
    try:
        yield opened
    finally:
        try:
            await opened.destroy()
        finally:
            await opened.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://", "no node"),
        ("redis+cluster://127.0.0.1:x", "port must be a number"),
        ("redis+cluster://h:1,:2", "has no host"),
        ("redis+cluster://h:1/2", "only the database 0"),
        ("redis+cluster://h:1?socket_timeout=1", "unknown option"),
        ("redis+cluster://h:1?hash_tag=false", "hash_tag=false"),
        ("redis+cluster://h:1?hash_tag=maybe", "hash_tag must be true or false"),
    ],
)
def test_bad_urls_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        backend_from_url(url, "ns")


def test_a_cluster_url_gives_a_slot_per_queue_unless_it_says_one_slot() -> None:
    assert isinstance(backend_from_url("redis+cluster://h1:1,h2:2", "ns"), RedisQueueSlots)
    assert isinstance(backend_from_url("redis+cluster://h1:1?slots=namespace", "ns"), RedisBackend)
    assert isinstance(
        backend_from_url("redis+cluster://h1:1", "ns", slot_per_queue=False), RedisBackend
    )
    # On a single server one slot stays the default; slots=queue opts in.
    assert isinstance(backend_from_url("redis://h1:1/0", "ns"), RedisBackend)
    assert isinstance(backend_from_url("redis://h1:1/0?slots=queue", "ns"), RedisQueueSlots)


def test_a_one_slot_cluster_namespace_keeps_each_key_in_its_slot() -> None:
    url = "redis+cluster://h1:1,h2:2/?hash_tag=true&slots=namespace"
    backend: Any = backend_from_url(url, "ns")
    assert backend.keys[0] == "{ns}:jobs"
    assert all(key.startswith("{ns}:") for key in backend.keys)
    one_slot = backend_from_url("rediss+cluster://h1:1/0?slots=namespace", "ns")
    assert one_slot.keys[0] == "{ns}:jobs"  # type: ignore[attr-defined]


def test_passwords_never_reach_a_message() -> None:
    url = "redis+cluster://u:s3cret-1@h1:1,h2:2/5"
    with pytest.raises(ConfigError) as refused:
        backend_from_url(url, "ns")
    assert "s3cret" not in str(refused.value)
    shown = backend_from_url(url.replace("/5", ""), "ns").display_url
    assert shown == "redis+cluster://u:***@h1:1,h2:2"


async def test_an_unreachable_cluster_is_a_transient_error() -> None:
    backend = backend_from_url(f"redis+cluster://127.0.0.1:{free_port()}", "ns")
    with pytest.raises(BackendUnavailableError):
        await backend.open()
    await backend.close()


async def test_a_password_reaches_every_node_and_a_wrong_one_is_refused(
    tmp_path: Path,
) -> None:
    with deployed(cluster_set, tmp_path) as own:
        own.protect("s3cret-pw")
        namespace = fresh_namespace()
        protected = backend_from_url(own.url().replace("//", "//:s3cret-pw@"), namespace)
        await protected.open()
        try:
            client = Client(protected)
            await client.enqueue({"n": 1}, job_name="x", queue="emails")
            [attempt] = await protected.claim(
                limit=5, lease=30.0, worker_id="w", queues=["emails"], wait=0.5
            )
            assert await protected.complete([attempt]) == 1
        finally:
            await protected.destroy()
            await protected.close()
        wrong = backend_from_url(own.url().replace("//", "//:not-it@"), namespace)
        with pytest.raises(BackendConfigError) as refused:
            await wrong.open()
        await wrong.close()
        assert "not-it" not in str(refused.value)


async def test_namespaces_spread_over_the_masters(deployment: RedisClusterSet) -> None:
    """Each namespace lives on the master of its slot: 30 namespaces reach all 3."""
    names = [f"spread{n}" for n in range(30)]
    backends = [backend_from_url(deployment.url(), name) for name in names]
    try:
        for backend in backends:
            await backend.open()  # records its layout: one key on its master
        homes = {name: deployment.master_of(f"{{{name}}}:meta") for name in names}
        assert set(homes.values()) == set(deployment.masters())
        per_master = deployment.keys_per_master()
        assert all(count > 0 for count in per_master.values()), per_master
    finally:
        for backend in backends:
            await backend.destroy()
            await backend.close()


async def test_a_namespaces_queues_spread_over_the_masters_with_a_slot_per_queue(
    deployment: RedisClusterSet,
) -> None:
    """With ``slots=queue`` each queue's keys share one slot of their own: the 10 queues
    of one namespace reach more than one master, and each queue's jobs and bookkeeping
    are on its own slot's master (a claim and its completion there too)."""
    namespace = fresh_namespace()
    backend = backend_from_url(deployment.url() + "?slots=queue", namespace)
    await backend.open()
    queues = [f"q{n}" for n in range(10)]
    try:
        client = Client(backend)
        for queue in queues:
            await client.enqueue_many([{"n": n} for n in range(3)], job_name="x", queue=queue)
        attempts = await backend.claim(limit=30, lease=30.0, worker_id="w", queues=queues)
        assert len(attempts) == 30
        assert [attempt.queue for attempt in attempts] == [q for q in queues for _ in range(3)]
        homes = {queue: deployment.master_of(f"{{{namespace}:{queue}}}:ids") for queue in queues}
        assert len(set(homes.values())) > 1, homes
        for queue in queues:
            master = homes[queue]
            for key in ("ids", "running", "leases", f"queue:{queue}:prio"):
                assert deployment.master_of(f"{{{namespace}:{queue}}}:{key}") == master
            # Where the claim left its bookkeeping: the queue's own slot.
            with redis.Redis(port=master, decode_responses=True) as node:
                assert node.zcard(f"{{{namespace}:{queue}}}:leases") == 3
        assert await backend.complete(attempts) == 30
        assert (await backend.counters()).processed == 30
    finally:
        await backend.destroy()
        await backend.close()


async def test_a_new_cluster_namespace_gets_a_slot_per_queue_and_an_old_one_keeps_one_slot(
    deployment: RedisClusterSet,
) -> None:
    """The cluster URL's default (a slot per queue) is for new namespaces only: one
    created with one slot (by the wg before this default, whose cluster URL gave
    ``RedisBackend``) is served with one slot, every key in ``{ns}``."""
    new, old = fresh_namespace(), fresh_namespace()
    created = backend_from_url(deployment.url(), new)
    await created.open()
    earlier = RedisBackend(deployment.url(), old)  # as the cluster URL gave before
    await earlier.open()
    try:
        await Client(created).enqueue({"n": 1}, job_name="x", queue="reports")
        with redis.Redis(port=deployment.master_of(f"{{{new}}}:meta")) as node:
            assert node.hget(f"{{{new}}}:meta", "slots") == b"queue"
        master = deployment.master_of(f"{{{new}}}:queue_slots")
        with redis.Redis(port=master, decode_responses=True) as node:
            assert node.smembers(f"{{{new}}}:queue_slots") == {"reports"}
        await Client(earlier).enqueue_many([{"n": 1}, {"n": 2}], job_name="x", queue="reports")
        await Client(earlier).enqueue({"n": 3}, job_name="x")
        reopened = backend_from_url(deployment.url(), old)
        assert isinstance(reopened, RedisQueueSlots)
        await reopened.open()
        try:
            await Client(reopened).enqueue({"n": 4}, job_name="x", queue="reports")
            attempts = await reopened.claim(
                limit=10, lease=30.0, worker_id="w", queues=["reports", "default"]
            )
            assert [attempt.queue for attempt in attempts] == ["reports"] * 3 + ["default"]
            assert await reopened.complete(attempts) == 4
            # Nothing was written outside the namespace's one slot.
            slot = key_slot(f"{{{old}}}:jobs".encode())
            for port in deployment.masters():
                with redis.Redis(port=port, decode_responses=True) as node:
                    for key in node.scan_iter(match=f"*{old}*"):
                        assert key_slot(key.encode()) == slot, key
        finally:
            await reopened.close()
        assert (await earlier.counters()).processed == 4
    finally:
        for backend in (created, earlier):
            await backend.destroy()
            await backend.close()


@pytest.mark.skipif(
    not os.environ.get("WG_TEST_FAILOVER"),
    reason="a real CLUSTER FAILOVER mid-drain (starts a cluster of its own): set "
    "WG_TEST_FAILOVER=1 (or run `python -m chaos cluster-failover`)",
)
@pytest.mark.parametrize("slots", ["?slots=namespace", ""], ids=["one-slot", "slot-per-queue"])
async def test_a_pool_follows_a_cluster_failover_mid_drain(tmp_path: Path, slots: str) -> None:
    """With a slot per queue (the cluster's default) the jobs are spread over three
    queues, and the master that fails over is the one of the first queue's slot (other
    queues' masters go on)."""
    queues = ("default",) if slots else ("fo1", "fo2", "fo3")
    with deployed(cluster_set, tmp_path) as own:
        url = own.url() + slots
        namespace = fresh_namespace()
        slot_of = f"{{{namespace}}}:jobs" if slots else f"{{{namespace}:fo1}}:ids"
        client = await Client.connect(url, namespace)

        async def fail_over() -> None:
            before = own.master_of(slot_of)
            after = await asyncio.to_thread(own.failover, before)
            assert own.master_of(slot_of) == after != before

        try:
            await drain_across_failover(client, url, fail_over, queues=queues)
            # The client opened before the failover reads the new master too (its
            # MULTI reads go to the slot's master, found again after the move).
            assert (await answered(client.counts)).total == 0
            assert (await answered(client.counters)).processed == JOBS
        finally:
            await answered(client.backend.destroy)
            await client.close()
