"""Text that can be trusted to store, show and log: no control characters, bounded lengths.

PostgreSQL cannot store NUL in text or jsonb (a NUL used to answer 500), a newline in a header
value would inject a header, and an escape sequence in a name would paint an operator's
terminal. So every string the catalogue holds is checked here, in the wire types, and the REST
API, `catalog apply` and the CSV import refuse alike, naming the field.

The patterns are written for both Python's `re` (msgspec validates with it) and the ECMA regex
of JSON Schema (the OpenAPI document carries them): a lookahead from the start, since `$` in
Python also matches before a final newline.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

# C0 controls (NUL, newline, ESC...), DEL and the C1 block: nothing printable among them.
CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
# Multi-line text keeps tab, newline and carriage return.
CONTROL_BUT_LINES = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"

ONE_LINE = f"^(?![\\s\\S]*[{CONTROL}])"
MULTI_LINE = f"^(?![\\s\\S]*[{CONTROL_BUT_LINES}])"


def line(*, max_length: int, min_length: int = 0) -> msgspec.Meta:
    """One line of text: no control characters at all."""
    return msgspec.Meta(pattern=ONE_LINE, min_length=min_length, max_length=max_length)


def lines(*, max_length: int, min_length: int = 0) -> msgspec.Meta:
    """Text that may span lines (tabs and line breaks allowed, other controls not)."""
    return msgspec.Meta(pattern=MULTI_LINE, min_length=min_length, max_length=max_length)


def one_line_pattern(pattern: str) -> str:
    """`pattern` (anchored with ^ and $) that also refuses a final newline, which Python's `$`
    would let through."""
    assert pattern.startswith("^"), pattern
    return f"^(?!.*\\n){pattern[1:]}"


# Shared sizes, listed in docs/configuration.md ("Limits").
Hostname = Annotated[str, line(min_length=1, max_length=253)]
FilePath = Annotated[str, line(min_length=1, max_length=1024)]  # a file on the probe's machine


_PLAIN = {
    # msgspec quotes the pattern as repr() does.
    f"matching regex {ONE_LINE!r}": "without control characters (NUL, line breaks, escapes)",
    f"matching regex {MULTI_LINE!r}": "without control characters other than line breaks and tabs",
}


def plain_message(message: str) -> str:
    """A validation message in words: the no-control-character patterns are not for people."""
    for pattern, words in _PLAIN.items():
        message = message.replace(pattern, words)
    return message


_AT = re.compile(r" - at `(?:key` in `)?(\$[^`]*)`$")


def validation_field(exc: msgspec.ValidationError) -> str | None:
    """The failing field's path; for a bad key of a mapping (a header name), the mapping's."""
    found = _AT.search(str(exc))
    return found.group(1) if found else None
