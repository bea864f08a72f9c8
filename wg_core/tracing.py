"""OpenTelemetry traces: ``pip install 'wg[otel]'`` (the opentelemetry API only: the SDK
and its exporters are the application's choice, configured as usual).

``Tracing()`` is a middleware for both sides::

    Client(backend, middleware=[Tracing()])          # a PRODUCER span per enqueue
    WorkerPool(handlers, url=..., middleware=[Tracing()])   # a CONSUMER span per run

The producer span (``send <queue>``) is a child of whatever span is current where the
job is enqueued (a web request, say); its trace context is injected, with the global
propagator (W3C ``traceparent`` by default), into the job's metadata, which the
envelope carries. Each run's consumer span (``process <queue>``) is a child of that
context and links to it, so a job's enqueue and all its attempts are one trace; the
span is current while the handler runs (spans it starts are its children). Attributes
follow the messaging semantic conventions: ``messaging.system`` ``wg``,
``messaging.operation.type`` / ``.name`` (``send``, ``process``),
``messaging.destination.name`` (the queue), ``messaging.message.id`` (the job id),
plus ``wg.namespace``, ``wg.job.name``, ``wg.job.attempt`` and ``wg.job.outcome``. An
exception a handler raises is recorded on the span (``record_exception``), and a run
that did not complete or get cancelled ends with an error status, as does an enqueue
that raised.
"""

from __future__ import annotations

from typing import Any, Final

from wg_core.errors import MissingDependencyError
from wg_core.middleware import Middleware, Outcome, OutgoingJob, RunningJob

__all__ = ["MESSAGING_SYSTEM", "Tracing"]

INSTALL: Final = "pip install 'wg[otel]'"
MESSAGING_SYSTEM: Final = "wg"
_SPAN: Final = "wg.tracing.span"
_TOKEN: Final = "wg.tracing.token"
_ERROR_OUTCOMES: Final = frozenset({Outcome.FAILED, Outcome.RETRIED, Outcome.DEAD})


def _otel() -> Any:
    try:
        from opentelemetry import context, propagate, trace
    except ImportError:
        raise MissingDependencyError(
            f"wg's OpenTelemetry tracing needs the 'opentelemetry-api' package: {INSTALL}"
        ) from None
    return context, propagate, trace


class Tracing(Middleware):
    """Producer and consumer spans (see the module docstring). ``tracer_provider``:
    the global one unless given (tests pass an SDK provider with an in-memory
    exporter)."""

    def __init__(self, *, tracer_provider: Any = None) -> None:
        self._context, self._propagate, self._trace = _otel()
        from wg_core import __version__

        self._tracer = self._trace.get_tracer("wg", __version__, tracer_provider=tracer_provider)

    async def before_enqueue(self, job: OutgoingJob) -> None:
        """Start the producer span; carry its context in the job's metadata."""
        trace = self._trace
        span = self._tracer.start_span(
            f"send {job.queue}",
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.type": "send",
                "messaging.operation.name": "send",
                "messaging.destination.name": job.queue,
                "messaging.message.id": job.job_id,
                "wg.job.name": job.job_name,
            },
        )
        job.state[_SPAN] = span
        self._propagate.inject(job.metadata, context=trace.set_span_in_context(span))

    async def after_enqueue(self, job: OutgoingJob, error: BaseException | None) -> None:
        """End the producer span (an error status if the store raised)."""
        span = job.state.pop(_SPAN, None)
        if span is None:
            return
        if error is not None:
            span.record_exception(error)
            span.set_attribute("error.type", type(error).__qualname__)
            span.set_status(self._trace.StatusCode.ERROR, str(error))
        span.end()

    async def before(self, job: RunningJob) -> None:
        """Start the consumer span, child of (and linked to) the producer's context,
        and make it current for the handler."""
        trace = self._trace
        parent = self._propagate.extract(job.metadata) if job.metadata else None
        links = []
        if parent is not None:
            producer = trace.get_current_span(parent).get_span_context()
            if producer.is_valid:
                links.append(trace.Link(producer))
        span = self._tracer.start_span(
            f"process {job.queue}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": MESSAGING_SYSTEM,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": job.queue,
                "messaging.message.id": job.job_id,
                "wg.namespace": job.namespace,
                "wg.job.name": job.job_name,
                "wg.job.attempt": job.attempt,
            },
        )
        job.state[_SPAN] = span
        job.state[_TOKEN] = self._context.attach(trace.set_span_in_context(span))

    async def on_error(self, job: RunningJob, exc: BaseException) -> None:
        """Record the handler's exception on the run's span."""
        span = job.state.get(_SPAN)
        if span is not None:
            span.record_exception(exc)
            span.set_attribute("error.type", type(exc).__qualname__)

    async def after(self, job: RunningJob, outcome: Outcome) -> None:
        """End the run's span with its outcome."""
        span = job.state.pop(_SPAN, None)
        token = job.state.pop(_TOKEN, None)
        if token is not None:
            self._context.detach(token)
        if span is None:
            return
        span.set_attribute("wg.job.outcome", outcome.value)
        if outcome in _ERROR_OUTCOMES:
            span.set_status(self._trace.StatusCode.ERROR, f"job {outcome.value}")
        span.end()
