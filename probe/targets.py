"""Where a probe learns what to watch: the collector (with ETag), or a local catalogue file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

import aiohttp
import msgspec

from wire.catalog import Catalog, zone_targets
from wire.messages import TargetList

TARGETS_PATH = "/api/v1/probe/targets"


class TargetSource(Protocol):
    async def fetch(self) -> TargetList | None:
        """The current list, or None when it has not changed since the last fetch."""


class TargetsError(Exception):
    pass


class CollectorTargets:
    def __init__(self, *, session: aiohttp.ClientSession, collector_url: str, token: str,
                 timeout: float = 30.0) -> None:  # fmt: skip
        self._session = session
        self._url = collector_url.rstrip("/") + TARGETS_PATH
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._etag: str | None = None

    async def fetch(self) -> TargetList | None:
        headers = {"Authorization": f"Bearer {self._token}"}
        if self._etag:
            headers["If-None-Match"] = self._etag
        try:
            async with self._session.get(self._url, headers=headers, timeout=self._timeout) as resp:
                if resp.status == 304:
                    return None
                body = await resp.read()
                if resp.status != 200:
                    raise TargetsError(f"collector answered {resp.status}: {body[:200]!r}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TargetsError(f"collector unreachable: {exc!r}") from exc
        try:
            targets = msgspec.json.decode(body, type=TargetList)
        except msgspec.MsgspecError as exc:
            raise TargetsError(f"bad target list from the collector: {exc}") from exc
        self._etag = resp.headers.get("ETag")
        return targets


class FileTargets:
    """Standalone mode: the zone's apps from a catalogue YAML file, re-read when it changes."""

    def __init__(self, *, path: Path, zone: str) -> None:
        self._path = path
        self._zone = zone
        self._version: str | None = None

    async def fetch(self) -> TargetList | None:
        from collector.catalog.sync import CatalogError, load_yaml  # the one catalogue reader

        try:
            raw = self._path.read_bytes()
        except OSError as exc:
            raise TargetsError(f"{self._path}: cannot read: {exc.strerror}") from exc
        version = hashlib.sha256(raw).hexdigest()[:16]
        if version == self._version:
            return None
        try:
            catalog: Catalog = load_yaml(self._path)
        except CatalogError as exc:
            raise TargetsError(str(exc)) from exc
        self._version = version
        targets = zone_targets(catalog.apps, self._zone)
        return TargetList(zone=self._zone, version=version, targets=targets)
