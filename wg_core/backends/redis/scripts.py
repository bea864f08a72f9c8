"""The Lua scripts of the Redis backend: the named blocks of ``scripts.lua``, run by SHA.

Each transition is one script, so each is atomic on the server. The ``prelude`` block
holds helper functions; each script gets only the helpers it calls (directly or through
another helper), because helpers are defined anew on every run and an empty script
already costs the server several microseconds. A script is run by SHA and loaded again
on ``NOSCRIPT`` (a restarted, failed-over or flushed server). The ``arm`` block is the
exception: it is sent as text (see ``ARM``).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from redis.exceptions import NoScriptError

from wg_core.backends.resources import load_blocks

if TYPE_CHECKING:
    from wg_core.backends.redis.transport import Lane

__all__ = ["ARM", "Script", "load_scripts"]

_PACKAGE: Final = "wg_core.backends.redis"
_FILE: Final = "scripts.lua"


class Script:
    """One named block of scripts.lua, run by SHA and loaded again on NOSCRIPT."""

    def __init__(self, name: str, prelude: str, body: str) -> None:
        self.name = name
        self.text = f"{_helpers_for(prelude, body)}{body}\n"
        self.sha = hashlib.sha1(self.text.encode()).hexdigest()

    async def __call__(self, lane: Lane, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return await lane.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            # A restarted, failed-over or flushed server: load and run once more. The
            # script did not run, so running it now is not a repeat.
            await lane.execute("SCRIPT", "LOAD", self.text)
            return await lane.execute("EVALSHA", self.sha, len(keys), *keys, *args)


def _helpers_for(prelude: str, body: str) -> str:
    """The prelude's helper functions that ``body`` calls, directly or through another
    helper, in prelude order."""
    # The prelude is a series of blank-line separated paragraphs, each defining one
    # helper (its comment first).
    helpers: dict[str, str] = {}
    for paragraph in prelude.split("\n\n"):
        names = re.findall(r"^local function (\w+)", paragraph, re.MULTILINE)
        if len(names) != 1:
            raise ValueError(f"{_FILE}: a prelude paragraph defines {names}, not one helper")
        helpers[names[0]] = paragraph

    def calls(text: str) -> set[str]:
        return {name for name in helpers if re.search(rf"\b{name}\(", text)}

    wanted = calls(body)
    while True:
        more = set().union(*(calls(helpers[name]) for name in wanted)) - wanted
        if not more:
            break
        wanted |= more
    return "".join(f"{text}\n\n" for name, text in helpers.items() if name in wanted)


_INCLUDE: Final = re.compile(r"^--@include (\w+)$", re.MULTILINE)


def _included(body: str, blocks: dict[str, str]) -> str:
    """``body`` with each ``--@include <block>`` line replaced by that block's text: a
    script that must do what another does in the same atomic call (a periodic fire
    stores its job exactly as ``enqueue`` does) runs that code, not a copy of it."""
    return _INCLUDE.sub(lambda match: blocks[match.group(1)], body)


@functools.cache
def load_scripts() -> dict[str, Script]:
    """Every script of scripts.lua by name (but the prelude and ``arm``)."""
    blocks = load_blocks(_PACKAGE, _FILE)
    prelude = blocks["prelude"]
    return {
        name: Script(name, prelude, _included(body, blocks))
        for name, body in blocks.items()
        if name not in ("prelude", "arm")
    }


ARM: Final = load_blocks(_PACKAGE, _FILE)["arm"]
"""Sent with EVAL (see the block): a short text that can never be missing."""
