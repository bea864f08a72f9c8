"""The wire format: wg reads the Rust wg's envelopes and writes ones it accepts."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from wg_core import (
    DEFAULT_JOB_NAME,
    Client,
    Envelope,
    EnvelopeError,
    JobOptions,
    MemoryBackend,
    PayloadError,
)
from wg_core.envelope import NewJobText, new_job_id, new_job_ids

GOLDEN = [
    '{"id":"0b7f5c9e-3d1a-4f2b-9c8e-5a6d7e8f9012","job_name":"send_email","payload":{"to":"user@example.com","subject":"Hello","body":"World"},"options":{"max_retries":3,"retry_count":0,"timeout":300000,"retry_delay":10000},"status":"Pending","created_at":1767225600,"scheduled_at":null,"last_error":null}',
    '{"id":"5e2d8a41-7c3b-4e9f-8a1d-2b3c4d5e6f70","payload":{"to":"user@example.com","subject":"Reminder","body":"Don\'t forget!"},"options":{"max_retries":5,"retry_count":0,"timeout":60000,"retry_delay":30000},"status":"Scheduled","created_at":1767225600,"scheduled_at":1767229200,"last_error":null}',  # noqa: E501
    '{"id":"9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d","job_name":"send_email","payload":{"to":"user@example.com"},"options":{"max_retries":3,"retry_count":1,"timeout":300000,"retry_delay":10000},"status":"Retry","created_at":1767225600,"scheduled_at":null,"last_error":"Service unavailable"}',  # noqa: E501
    '{"id":"1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b","job_name":"send_email","payload":{"to":""},"options":{"max_retries":3,"retry_count":0,"timeout":null,"retry_delay":null},"status":"Dead","created_at":1767225600,"scheduled_at":null,"last_error":"Invalid email address"}',  # noqa: E501
]


@pytest.mark.parametrize("raw", GOLDEN)
def test_golden_rust_envelopes_decode_and_re_encode_identically(raw: str) -> None:
    envelope = Envelope.decode(raw)
    if '"job_name"' in raw:
        assert envelope.encode() == raw
    else:
        assert envelope.job_name == DEFAULT_JOB_NAME


def test_golden_fields_are_read_with_their_units() -> None:
    scheduled = Envelope.decode(GOLDEN[1])
    assert (scheduled.max_retries, scheduled.timeout, scheduled.retry_delay) == (5, 60.0, 30.0)
    assert (scheduled.status, scheduled.scheduled_at) == ("Scheduled", 1767229200)
    dead = Envelope.decode(GOLDEN[3])
    assert (dead.timeout, dead.retry_delay, dead.last_error) == (
        None,
        None,
        "Invalid email address",
    )
    retry = Envelope.decode(GOLDEN[2])
    assert (retry.retry_count, retry.status) == (1, "Retry")


def test_unknown_keys_survive_a_round_trip() -> None:
    document = json.loads(GOLDEN[0])
    document["trace_id"] = "abc"
    document["options"]["priority"] = 7
    envelope = Envelope.decode(json.dumps(document))
    again = json.loads(envelope.evolve(retry_count=1).encode())
    assert again["trace_id"] == "abc"
    assert again["options"]["priority"] == 7
    assert again["options"]["retry_count"] == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"payload": 1}', "no string 'id'"),
        ('{"id": "x", "payload": 1, "options": {"max_retries": 1}}', "options lack"),
        (
            '{"id": "x", "payload": 1, "options": {"max_retries": -1, "retry_count": 0, '
            '"timeout": null, "retry_delay": null}, "created_at": 1}',
            "max_retries",
        ),
        (
            '{"id": "x", "payload": 1, "options": {"max_retries": 1, "retry_count": 0, '
            '"timeout": null, "retry_delay": null}, "created_at": 1, "status": "Weird"}',
            "status",
        ),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        (b'{"id": "\xff"}', "UTF-8"),
        # The same bytes read losslessly into a str (as the Redis backend reads them).
        (b'{"id": "\xff"}'.decode("utf-8", "surrogateescape"), "not valid UTF-8"),
    ],
)
def test_bad_envelopes_say_what_is_wrong(raw: str | bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.decode(raw)


def test_a_dead_letter_for_text_that_is_not_utf8_is_itself_readable() -> None:
    from wg_core.failures import malformed_dead_envelope

    raw = b'{"id":"x","payload":"caf\xe9"}'.decode("utf-8", "surrogateescape")
    dead = Envelope.decode(malformed_dead_envelope(raw, "not UTF-8", now=0).encode())
    assert (dead.id, dead.extra["raw"]) == ("x", '{"id":"x","payload":"caf\\xe9"}')


async def test_what_wg_writes_has_the_rust_shape() -> None:
    client = Client(MemoryBackend("wire"), clock=lambda: 1767225600.5)
    job_id = await client.enqueue(
        {"to": "a@b.c"},
        job_name="send_email",
        options=JobOptions(max_retries=5, timeout=60, retry_delay=30),
    )
    [job] = await client.list_jobs("queued")
    document = json.loads(job.raw)
    assert list(document) == [
        "id",
        "job_name",
        "payload",
        "options",
        "status",
        "created_at",
        "scheduled_at",
        "last_error",
    ]
    assert document["id"] == job_id
    assert document["options"] == {
        "max_retries": 5,
        "retry_count": 0,
        "timeout": 60000,
        "retry_delay": 30000,
    }
    assert (document["status"], document["created_at"]) == ("Pending", 1767225600)
    assert document["scheduled_at"] is None
    later = await client.schedule({"x": 1}, 3600, job_name="remind")
    stored = await client.get_job(later)
    assert stored is not None
    assert json.loads(stored.raw)["scheduled_at"] == 1767225600 + 3600
    assert json.loads(stored.raw)["status"] == "Scheduled"


@pytest.mark.parametrize(
    ("job_id", "job_name", "payload", "options", "scheduled_at"),
    [
        ("a1", "send_email", {"to": "a@b.c", "n": [1, 2.5, None, True]}, JobOptions(), None),
        ('quote " and \\ back', "naïve ✓", "héllo\n\t\u2028", JobOptions(timeout=None), 17),
        ("x", "n", 1.0e-7, JobOptions(max_retries=0, timeout=1.5, retry_delay=None), None),
        ("x", "n", {"nested": {"deep": ["\x00", "\u00e9"]}}, JobOptions(retry_delay=2.5), 99),
    ],
)
def test_the_fast_new_job_text_is_the_envelopes_own(
    job_id: str, job_name: str, payload: object, options: JobOptions, scheduled_at: int | None
) -> None:
    # The client builds new jobs' text from cached pieces; it must be byte for byte what
    # Envelope.encode writes, or Rust readers and golden tests would see two formats.
    status = "Pending" if scheduled_at is None else "Scheduled"
    envelope = Envelope(
        id=job_id,
        job_name=job_name,
        payload=payload,
        max_retries=options.max_retries,
        retry_count=0,
        timeout=options.timeout,
        retry_delay=options.retry_delay,
        status=status,
        created_at=1767225600,
        scheduled_at=scheduled_at,
    )
    fast = NewJobText(
        job_name=job_name,
        max_retries=options.max_retries,
        timeout=options.timeout,
        retry_delay=options.retry_delay,
        status=status,
        created_at=1767225600,
        scheduled_at=scheduled_at,
    )(job_id, payload)
    assert fast == envelope.encode()
    assert Envelope.decode(fast) == envelope


def test_new_job_ids_are_unique_time_ordered_uuids() -> None:
    before = time.time()
    ids = [new_job_id() for _ in range(2000)]
    batch = new_job_ids(3000)
    after = time.time()
    assert len(set(ids) | set(batch)) == 5000
    assert batch == sorted(batch)  # a bulk insert appends to the job_id index in order
    for text in ids[:50] + batch[:50]:
        parsed = uuid.UUID(text)
        assert (str(parsed), parsed.version, parsed.variant) == (text, 7, uuid.RFC_4122)
        assert before - 0.001 <= (parsed.int >> 80) / 1000 <= after + 0.001
    # Time-ordered across calls at millisecond granularity: a later id never sorts
    # before an id from an earlier millisecond.
    millis = [int(text[:8] + text[9:13], 16) for text in ids]
    assert millis == sorted(millis)


async def test_payloads_json_cannot_express_are_refused_before_storing() -> None:
    client = Client(MemoryBackend("nan"))
    circular: dict[str, object] = {}
    circular["self"] = circular
    for payload, message in [
        ({"x": float("nan")}, "not JSON-serialisable"),
        ({"x": "\ud800"}, "not valid Unicode"),
        ({"x": object()}, "not JSON-serialisable"),
        (circular, "nested too deeply"),
    ]:
        with pytest.raises(PayloadError, match=message):
            await client.enqueue(payload, job_name="n")
        with pytest.raises(PayloadError, match=message):
            await client.enqueue_many([{"x": 1}, payload], job_name="n")
    assert (await client.counts()).total == 0
