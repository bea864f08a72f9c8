"""Query and script text kept in resource files of named blocks.

A file holds blocks introduced by a ``-- name: <block>`` line (SQL and Lua both use
``--`` comments); the text up to the next such line is the block. Names are the same
across dialects so that a test can check every dialect defines every block. ``{ns}``
in a block is replaced by the already-validated, quoted namespace prefix when the
backend formats its queries, once, at construction.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

__all__ = ["load_blocks"]

_HEADER = re.compile(r"^--\s*name:\s*([A-Za-z_][A-Za-z0-9_]*)\s*$", re.MULTILINE)


@cache
def load_blocks(package: str, filename: str) -> dict[str, str]:
    """The named blocks of ``filename`` inside ``package``, in file order. Comment lines
    at the end of a block are dropped: they introduce the blocks below them (and a
    block joined to another in one round trip must not end in a comment, which would
    swallow the separator that follows)."""
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    blocks: dict[str, str] = {}
    matches = list(_HEADER.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = match.group(1)
        if name in blocks:
            raise ValueError(f"{filename}: block {name!r} defined twice")
        lines = text[match.end() : end].strip().splitlines()
        while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith("--")):
            lines.pop()
        blocks[name] = "\n".join(lines)
    return blocks
