"""Enqueueing an unbounded stream of jobs in chunks, with bounded memory.

``Client.enqueue_many`` stores one batch atomically and returns every id, so its memory
grows with the batch. ``enqueue_stream`` takes any iterable (or async iterable) — a
generator over a million rows, a cursor — and stores it ``chunk_size`` jobs at a time,
each chunk one ``enqueue_many`` (one atomic write on every backend). Only one chunk is
held at a time, and no ids are kept: memory stays flat whatever the stream's length.

Atomicity is per chunk: an invalid job, or a backend error, stops the stream with the
earlier chunks stored; the exception carries a note saying how many.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

from wg_core.errors import ConfigError

__all__ = ["DEFAULT_STREAM_CHUNK", "enqueue_stream", "validate_chunk_size"]

DEFAULT_STREAM_CHUNK: Final = 5000
"""Jobs per write of ``enqueue_stream``: large enough that the per-call cost (a round
trip, a transaction, a script call) is a small share, small enough that a chunk's
envelopes stay a few MB."""


def validate_chunk_size(chunk_size: int) -> int:
    """``chunk_size`` if it is a positive int; a ``ConfigError`` otherwise."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size must be a positive int, got {chunk_size!r}")
    return chunk_size


async def enqueue_stream(
    store: Callable[[Sequence[Any]], Awaitable[object]],
    jobs: Iterable[Any] | AsyncIterable[Any],
    chunk_size: int,
) -> int:
    """Feed ``jobs`` to ``store`` (one atomic batch write) ``chunk_size`` at a time;
    returns how many were stored."""
    chunk_size = validate_chunk_size(chunk_size)
    stored = 0
    chunk: list[Any] = []
    try:
        if isinstance(jobs, AsyncIterable):
            async for job in jobs:
                chunk.append(job)
                if len(chunk) >= chunk_size:
                    await store(chunk)
                    stored += len(chunk)
                    chunk = []
        else:
            for job in jobs:
                chunk.append(job)
                if len(chunk) >= chunk_size:
                    await store(chunk)
                    stored += len(chunk)
                    chunk = []
        if chunk:
            await store(chunk)
            stored += len(chunk)
    except BaseException as exc:
        if stored:
            exc.add_note(f"enqueue_stream: {stored} jobs of earlier chunks were stored")
        raise
    return stored
