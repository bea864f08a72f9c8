"""``Client.enqueue_stream``: any iterable, stored in atomic chunks, one chunk held."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from wg_core import Client, ConfigError, PayloadError
from wg_core.backend import Backend

CHUNK = 100


@pytest.fixture
async def client(backend: Backend) -> Client:
    return Client(backend)


async def test_a_generator_is_stored_chunk_by_chunk_in_order(client: Client) -> None:
    pulled = 0

    def jobs() -> Iterator[dict[str, int]]:
        nonlocal pulled
        for n in range(250):
            pulled += 1
            yield {"n": n}

    assert await client.enqueue_stream(jobs(), chunk_size=CHUNK, job_name="n") == 250
    assert pulled == 250
    counts = await client.counts()
    assert counts.queued == 250
    listed = await client.list_jobs("queued", limit=250)
    assert [job.envelope.payload["n"] for job in listed if job.envelope] == list(range(250))


async def test_an_async_generator_is_consumed_lazily(client: Client) -> None:
    async def jobs() -> AsyncIterator[dict[str, int]]:
        for n in range(3 * CHUNK + 7):
            if n % CHUNK == 0:
                # Everything pulled before this chunk is stored; nothing more is held.
                assert (await client.counts()).queued == n
            yield {"n": n}

    assert await client.enqueue_stream(jobs(), chunk_size=CHUNK) == 3 * CHUNK + 7
    assert (await client.counts()).queued == 3 * CHUNK + 7


async def test_a_bad_job_stops_the_stream_with_earlier_chunks_stored(client: Client) -> None:
    jobs = [{"n": n} for n in range(CHUNK + 10)] + [{"bad": {1}}]
    with pytest.raises(PayloadError) as caught:
        await client.enqueue_stream(iter(jobs), chunk_size=CHUNK)
    assert f"{CHUNK} jobs of earlier chunks were stored" in "".join(caught.value.__notes__)
    assert (await client.counts()).queued == CHUNK  # the bad job's chunk stored nothing


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
async def test_chunk_size_is_checked_before_anything_is_stored(
    client: Client, size: object
) -> None:
    with pytest.raises(ConfigError, match="chunk_size"):
        await client.enqueue_stream([{"n": 1}], chunk_size=size)  # type: ignore[arg-type]
    assert (await client.counts()).queued == 0
