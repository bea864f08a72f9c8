"""OpenTelemetry (wg_core.tracing): a producer span per enqueue, a consumer span per
run in the same trace, messaging attributes, exceptions recorded; the install hint."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.conformance.test_middleware import holds
from tests.conformance.test_pool import FAST
from tests.helpers import wait_until
from wg_core import (
    Client,
    JobContext,
    JobOptions,
    MemoryBackend,
    MissingDependencyError,
    WorkerPool,
)
from wg_core.tracing import Tracing


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def spans(exporter: InMemorySpanExporter, kind: SpanKind) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is kind]


async def test_enqueue_and_runs_are_one_trace(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    tracing = Tracing(tracer_provider=provider)
    backend = MemoryBackend("traced")
    client = Client(backend, middleware=[tracing])
    seen_in_handler: dict[int, int] = {}

    async def flaky(job: Any, ctx: JobContext) -> None:
        # The run's span is current in the handler: its own spans nest under it.
        seen_in_handler[ctx.attempt] = trace.get_current_span().get_span_context().span_id
        if ctx.attempt == 1:
            raise ValueError("first try fails")

    request = provider.get_tracer("app").start_as_current_span("web request")
    with request as web:
        job_id = await client.enqueue(
            {"n": 1},
            job_name="flaky",
            queue="mail",
            options=JobOptions(max_retries=2, retry_delay=0.01),
        )
    async with WorkerPool(
        handlers={"flaky": flaky}, backend=backend, middleware=[tracing], queues=["mail"], **FAST
    ):
        await wait_until(holds(lambda: len(spans(exporter, SpanKind.CONSUMER)) == 2), timeout=10)

    [producer] = spans(exporter, SpanKind.PRODUCER)
    assert producer.name == "send mail"
    assert producer.parent is not None
    assert producer.parent.span_id == web.get_span_context().span_id
    assert producer.attributes is not None
    assert producer.attributes["messaging.system"] == "wg"
    assert producer.attributes["messaging.operation.type"] == "send"
    assert producer.attributes["messaging.destination.name"] == "mail"
    assert producer.attributes["messaging.message.id"] == job_id

    first, second = sorted(
        spans(exporter, SpanKind.CONSUMER),
        key=lambda s: (s.attributes or {}).get("wg.job.attempt", 0),
    )
    for run, attempt, outcome in ((first, 1, "retried"), (second, 2, "completed")):
        assert run.name == "process mail"
        assert run.context is not None
        assert run.context.trace_id == producer.context.trace_id
        assert run.parent is not None
        assert run.parent.span_id == producer.context.span_id
        assert [link.context.span_id for link in run.links] == [producer.context.span_id]
        assert run.attributes is not None
        assert run.attributes["messaging.operation.type"] == "process"
        assert run.attributes["messaging.message.id"] == job_id
        assert run.attributes["wg.job.attempt"] == attempt
        assert run.attributes["wg.job.outcome"] == outcome
        assert seen_in_handler[attempt] == run.context.span_id
    assert first.status.status_code is StatusCode.ERROR
    [event] = first.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.message"] == "first try fails"
    assert second.status.status_code is StatusCode.UNSET


async def test_a_failed_enqueue_ends_its_span_with_an_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    client = Client(MemoryBackend("dup"), middleware=[Tracing(tracer_provider=provider)])
    job_id = await client.enqueue({}, job_name="once")
    with pytest.raises(ValueError, match="already"):
        await client.enqueue({}, job_name="once", job_id=job_id)
    ok, failed = spans(exporter, SpanKind.PRODUCER)
    assert ok.status.status_code is StatusCode.UNSET
    assert failed.status.status_code is StatusCode.ERROR


def test_a_missing_opentelemetry_api_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'wg\[otel\]'"):
        Tracing()
