"""Envelope.decode refuses what is not JSON (NaN, infinities) and durations that are
not finite: such a job could never have its failure written back."""

from __future__ import annotations

import math

import pytest

from wg_core.envelope import Envelope, EnvelopeError
from wg_core.errors import ConfigError
from wg_core.options import WorkerConfig


def _text(payload: str = "{}", timeout: str = "300000", retry_delay: str = "10000") -> str:
    return (
        f'{{"id":"a","job_name":"j","payload":{payload},"options":{{"max_retries":3,'
        f'"retry_count":0,"timeout":{timeout},"retry_delay":{retry_delay}}},'
        '"status":"Pending","created_at":1,"scheduled_at":null,"last_error":null}'
    )


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinities_are_refused(constant: str) -> None:
    with pytest.raises(EnvelopeError, match=f"{constant} is not a JSON number"):
        Envelope.decode(_text(payload=f'{{"x":{constant}}}'))
    with pytest.raises(EnvelopeError, match=constant):
        Envelope.decode(_text(timeout=constant).encode())


@pytest.mark.parametrize("field", ["timeout", "retry_delay"])
def test_durations_too_large_to_be_finite_are_refused(field: str) -> None:
    with pytest.raises(EnvelopeError, match=f"{field} must be finite milliseconds"):
        Envelope.decode(_text(**{field: "1e999"}))


def test_a_payload_number_that_overflows_is_read_as_json_allows() -> None:
    envelope = Envelope.decode(_text(payload='{"x":1e999}', timeout="1500.5"))
    assert math.isinf(envelope.payload["x"])
    assert envelope.timeout == 1.5005


def test_silent_after_defaults_to_three_heartbeats_and_must_exceed_one() -> None:
    assert WorkerConfig().silent_after == 6.0
    assert WorkerConfig(heartbeat_interval=0.1).silent_after == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="silent_after"):
        WorkerConfig(heartbeat_interval=1.0, silent_after=1.0)
