"""The fast envelope decoder (orjson, the ``fast`` extra) means what ``json`` means."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wg_core.codec import fast_decoder
from wg_core.envelope import _STDLIB_DECODE, Envelope, EnvelopeError

pytest.importorskip("orjson")

DOCUMENTS = [
    '{"a": 1, "b": [1.5, -0.0, true, null], "c": "h\\u00e9llo \\u2028 \\\\ \\"q\\""}',
    '{"big": 123456789012345678901234567890, "neg": -98765432109876543210}',
    '{"max": 18446744073709551615, "i64": -9223372036854775808, "f": 0.1234567890123456789}',
    # Below int64's minimum orjson reads a float of magnitude under 2**64 (-2**63 here).
    '{"below": -9223372036854775809, "f": -9.3e18}',
    '{"low": -18446744073709551615}',
    '{"a": 1, "a": 2}',
    '{"huge": 1e999}',
    '{"lone": "\\ud800"}',
    "[" * 1500 + "]" * 1500,
    '{"x": "日本 ✓"}',
    '"just a string"',
]


def _same(a: Any, b: Any) -> bool:
    # Types too: an int read as a float would compare equal and still change meaning.
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) and type(a) is type(b)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_fast_decoder_agrees_with_the_standard_one(text: str) -> None:
    fast = fast_decoder(_STDLIB_DECODE)
    for raw in (text, text.encode()):
        try:
            expected: Any = _STDLIB_DECODE(text)
        except (ValueError, RecursionError) as exc:
            with pytest.raises(type(exc)):
                fast(raw)
            continue
        got = fast(raw)
        assert _same(got, expected)
        if isinstance(expected, dict):
            for key, value in expected.items():
                assert type(got[key]) is type(value)


@pytest.mark.parametrize("bad", ['{"a": NaN}', '{"a": -Infinity}', b'{"a": "\xff"}', ""])
def test_refusals_keep_their_reasons(bad: str | bytes) -> None:
    fast = fast_decoder(_STDLIB_DECODE)
    reasons = []
    for decode in (fast, lambda raw: _STDLIB_DECODE(raw if isinstance(raw, str) else raw.decode())):
        try:
            decode(bad)
        except ValueError as exc:
            reasons.append((type(exc), str(exc)))
    assert len(reasons) == 2
    assert reasons[0] == reasons[1]
    if isinstance(bad, str) and bad:
        with pytest.raises(EnvelopeError, match="not a JSON number"):
            Envelope.decode(bad)


def test_wg_json_stdlib_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WG_JSON", "stdlib")
    plain = fast_decoder(_STDLIB_DECODE)
    assert plain('{"n": 12345678901234567890123}') == {"n": 12345678901234567890123}
    assert plain.__qualname__.startswith("_plain")
