"""Maintenance windows: one-off (start and end) or recurring (cron and a duration)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any

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
    # Recurring: a 5-field cron expression in `timezone` (default: the collector's), e.g.
    # "0 23 * * sun" for every Sunday at 23:00, lasting `duration_minutes`.
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
            self.trigger("UTC")  # a bad expression or time zone fails here, naming the window
        if self.timezone is not None:
            _zone(self.timezone)

    def trigger(self, default_timezone: str) -> Any:
        """The APScheduler CronTrigger of a recurring window."""
        from apscheduler.triggers.cron import CronTrigger

        assert self.cron is not None
        try:
            return CronTrigger.from_crontab(
                self.cron, timezone=_zone(self.timezone or default_timezone)
            )
        except ValueError as exc:
            raise ValueError(f"bad cron expression {self.cron!r}: {exc}") from exc

    def active_at(self, at: dt.datetime, *, default_timezone: str) -> bool:
        if self.start is not None and self.end is not None:
            return self.start <= at < self.end
        assert self.duration_minutes is not None
        opened = at - dt.timedelta(minutes=self.duration_minutes)
        # The first start after `opened`: if it is not later than `at`, the window is open.
        fire = self.trigger(default_timezone).get_next_fire_time(
            None, opened + dt.timedelta(microseconds=1)
        )
        return fire is not None and fire <= at


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc
