"""The unique-jobs API above the backends (wg_core.unique): the derived key, the
envelope's ``unique_key``, and the blocking facade."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from wg_core import UNIQUE_BY_PAYLOAD, BlockingClient, EnqueueResult, MemoryBackend
from wg_core.envelope import Envelope
from wg_core.errors import ConfigError
from wg_core.unique import derive_unique_key, validate_unique_key


def test_the_derived_key_ignores_key_order_and_names_the_job() -> None:
    one = derive_unique_key("report", {"day": "2026-01-01", "n": [1, 2]})
    assert one == derive_unique_key("report", {"n": [1, 2], "day": "2026-01-01"})
    assert one != derive_unique_key("report", {"day": "2026-01-02", "n": [1, 2]})
    assert one != derive_unique_key("summary", {"day": "2026-01-01", "n": [1, 2]})
    assert one.startswith("report:") and len(one) == len("report:") + 64  # noqa: PT018
    # Stable across versions: a changed derivation would let duplicates through.
    assert derive_unique_key("j", {"b": 1, "a": "é"}) == (
        "j:aa58fba8483623bed37c1b02edfccbdd9a53123837c20bfa4cb4049993a2872e"
    )


def test_bad_keys() -> None:
    for bad in ("", "x" * 256, 5, None):
        with pytest.raises(ConfigError):
            validate_unique_key(bad)
    assert validate_unique_key("x" * 255) == "x" * 255


def test_the_blocking_facade_takes_the_keywords() -> None:
    with BlockingClient(MemoryBackend("blocking_unique")) as client:
        first = client.enqueue_unique({"a": 1}, job_name="sync")
        assert isinstance(first, EnqueueResult) and first.created  # noqa: PT018
        again = client.enqueue({"a": 1}, job_name="sync", unique_key=UNIQUE_BY_PAYLOAD)
        assert again == first.job_id
        held = client.enqueue({}, job_name="x", unique_key="k", unique_for=timedelta(hours=1))
        assert client.schedule({}, 60, job_name="x", unique_key="k") == held
        ids = client.enqueue_many([{}, {}], job_name="x", unique_key="k")
        assert ids == [held, held]
        info = client.get_job(held)
        assert info is not None
        assert info.unique_key == "k"
        assert json.loads(info.raw)["unique_key"] == "k"
        assert Envelope.decode(info.raw).encode() == info.raw  # kept on a round trip
