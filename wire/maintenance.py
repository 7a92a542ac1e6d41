"""Maintenance windows: one-off (start and end) or recurring (cron and a duration).

Recurring windows are standard crontab expressions, evaluated by cronsim exactly as Debian's cron
does: day-of-week 0 and 7 are Sunday, and when both day-of-month and day-of-week are restricted a
day matching either one opens the window. (APScheduler, which runs the probe's jobs, counts
weekdays from Monday and needs both to match: it is not used for windows.)
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from typing import Annotated

import cronsim
import msgspec

from wire.specs import Slug
from wire.text import line


class MaintenanceWindow(
    msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True, omit_defaults=True
):
    name: Slug
    title: Annotated[str, line(max_length=200)] | None = None
    # One-off: both times (with a UTC offset, e.g. 2026-12-01T22:00:00+07:00).
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    # Recurring: a 5-field crontab expression in `timezone` (default: the collector's), e.g.
    # "0 23 * * sun" (or "0 23 * * 0", "0 23 * * 7") for every Sunday at 23:00, lasting
    # `duration_minutes`.
    cron: Annotated[str, line(max_length=100)] | None = None
    duration_minutes: Annotated[int, msgspec.Meta(ge=1, le=10_080)] | None = None
    timezone: Annotated[str, line(min_length=1, max_length=64)] | None = None

    def __post_init__(self) -> None:
        one_off = self.start is not None or self.end is not None
        recurring = self.cron is not None or self.duration_minutes is not None
        if one_off == recurring:
            raise ValueError(
                "a window has either `start` and `end`, or `cron` and `duration_minutes`"
            )
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both `start` and `end`")
            if self.start.tzinfo is None or self.end.tzinfo is None:
                raise ValueError("`start` and `end` need a UTC offset (e.g. +07:00)")
            if self.end <= self.start:
                raise ValueError("`end` must be after `start`")
        elif self.cron is None or self.duration_minutes is None:
            raise ValueError("a recurring window needs both `cron` and `duration_minutes`")
        else:
            self.starts(dt.datetime(2000, 1, 1, tzinfo=dt.UTC), default_timezone="UTC")
        if self.timezone is not None:
            _zone(self.timezone)

    def starts(self, after: dt.datetime, *, default_timezone: str) -> Iterator[dt.datetime]:
        """The recurring window's start times strictly after `after`, in its time zone."""
        return self._cron(after, default_timezone, reverse=False)

    def _cron(
        self, at: dt.datetime, default_timezone: str, *, reverse: bool
    ) -> Iterator[dt.datetime]:
        assert self.cron is not None
        local = at.astimezone(_zone(self.timezone or default_timezone))
        try:
            return iter(cronsim.CronSim(self.cron, local, reverse=reverse))
        except cronsim.CronSimError as exc:
            raise ValueError(f"bad cron expression {self.cron!r}: {exc}") from exc

    def active_at(self, at: dt.datetime, *, default_timezone: str) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= at < self.end
        assert self.duration_minutes is not None
        # The latest start at or before `at` (cron times are whole minutes, so one microsecond
        # later reaches back to `at` itself): the window is open if it has not ended yet.
        latest = next(
            self._cron(at + dt.timedelta(microseconds=1), default_timezone, reverse=True), None
        )
        return latest is not None and at < latest + dt.timedelta(minutes=self.duration_minutes)


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
