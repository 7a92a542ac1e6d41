"""Numbers, uptimes, durations and dates as the portal, the review and the e-mails write them.

Indonesian writes a decimal comma and a thousands dot ("99,93%", "89.275"), English the other
way round. Dates and the words of the short forms of big numbers are Babel's (CLDR: "10 Oktober
2026", "12,3 rb" / "12.3K"); times are shown in the collector's time zone with its abbreviation
("10 Oktober 2026 10:02 WIB"). The figures themselves are formatted here, and dates are cached:
a list page writes hundreds of them, and Babel's `format_decimal` and `format_date` cost ten to
thirty times as much as the same text made here.

Every function takes the value first and the language last, as the templates' filters
(collector.templating) call them: `{{ app.uptime|uptime }}`. Machine-readable formats (CSV,
JSON) do not use this module for their figures.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import zoneinfo

from babel import Locale
from babel.dates import format_date

from collector.i18n_catalog import Lang, translate, translate_in

NONE = "—"  # a figure there is none of


def number(value: float, lang: Lang, decimals: int = 0) -> str:
    """12345.6 -> "12.345,6" (id) / "12,345.6" (en)."""
    text = f"{value:,.{decimals}f}"
    if lang == "id":  # swap the separators: 89,275.5 -> 89.275,5
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def _trim(text: str, lang: Lang) -> str:
    """Trailing zeros of the decimals, and a decimal separator left alone, taken off."""
    sep = "," if lang == "id" else "."
    return text.rstrip("0").rstrip(sep) if sep in text else text


def quantity(value: float | None, lang: Lang) -> str:
    """A usage figure: whole numbers as such, averages with as many decimals as they need."""
    if value is None:
        return NONE
    if float(value).is_integer():
        return number(value, lang)
    decimals = 2 if abs(value) < 100 else 1 if abs(value) < 10_000 else 0
    return _trim(number(value, lang, decimals), lang)


@functools.cache
def _compact_units(lang: Lang) -> tuple[tuple[float, str, str], ...]:
    """CLDR's short forms of thousands, millions... (Babel's data): (size, prefix, suffix),
    largest first: (1e9, "", "\xa0M"), (1e6, "", "\xa0jt"), (1e3, "", "\xa0rb") for id."""
    short = Locale.parse(lang).compact_decimal_formats["short"]["other"]
    return tuple(
        sorted(
            ((float(size), p.prefix[0], p.suffix[0]) for size, p in short.items()
             if (len(size) - 1) % 3 == 0),
            reverse=True,
        )
    )  # fmt: skip


def compact(value: float, lang: Lang) -> str:
    """A short figure for chart scales and captions: 950, 12,3 rb / 12.3K, 4,5 jt / 4.5M.

    The words of Babel's `format_compact_decimal` (CLDR), one decimal, at a tenth of its cost.
    """
    for size, prefix, suffix in _compact_units(lang):
        if abs(value) >= size * 0.99995:  # what would round to 1000 of the unit below
            return f"{prefix}{_trim(number(value / size, lang, 1), lang)}{suffix}"
    return _trim(number(value, lang, 1), lang)


def percent(value: float | None, lang: Lang, decimals: int = 2, *, trim: bool = False) -> str:
    if value is None:
        return NONE
    text = number(value, lang, decimals)
    return f"{_trim(text, lang) if trim else text}%"


def target(value: float | None, lang: Lang) -> str:
    """An uptime target, to three decimals when it has them: 99.999 must not read as 100."""
    return percent(value, lang, 3, trim=True)


def uptime(value: float | None, lang: Lang) -> str:
    """Rounded down, so an app just under its target (99.949 of 99.95) never shows as on it."""
    if value is None:
        return NONE
    if value >= 100:
        return "100%"
    shown = math.floor(value * 100 + 1e-9) / 100
    return percent(min(shown, 99.99), lang)


def change(value: float | None, lang: Lang) -> str:
    """A change against last month, signed: "+12.0%", "-30,2%"."""
    if value is None:
        return NONE
    sign = "+" if value > 0 else "-" if value < 0 else ""
    return f"{sign}{percent(abs(value), lang, 1)}"


def duration(seconds: float | None, lang: Lang) -> str:
    """29 min, 1 h 58 min, 2 d 3 h: precise enough for a reader, never a raw second count."""
    if seconds is None:
        return NONE
    if 0 < seconds < 59.5:
        return translate(lang, "%(n)s s", n=round(seconds))
    minutes = round(seconds / 60)
    if minutes < 60:
        return translate(lang, "%(n)s min", n=minutes)
    if minutes < 24 * 60:
        parts = [translate(lang, "%(n)s h", n=minutes // 60)]
        if minutes % 60:
            parts.append(translate(lang, "%(n)s min", n=minutes % 60))
        return " ".join(parts)
    hours = round(seconds / 3600)
    parts = [translate(lang, "%(n)s d", n=hours // 24)]
    if hours % 24:
        parts.append(translate(lang, "%(n)s h", n=hours % 24))
    return " ".join(parts)


def response_time(seconds: float, lang: Lang) -> str:
    """A check's response time: "180 md" / "180 ms" under 10 s, else in seconds."""
    if seconds < 10:
        return translate_in(lang, "response time", "%(n)s ms", n=number(seconds * 1000, lang))
    return translate_in(lang, "response time", "%(n)s s", n=number(seconds, lang, 1))


# --- dates ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _date(day: dt.date, pattern: str, lang: Lang) -> str:
    return format_date(day, pattern, locale=lang)


def date(day: dt.date, lang: Lang) -> str:
    """ "29 November 2026"."""
    return _date(day, "d MMMM y", lang)


def short_date(day: dt.date, lang: Lang) -> str:
    """ "29 Nov"."""
    return _date(day, "d MMM", lang)


def weekday_date(day: dt.date, lang: Lang) -> str:
    """ "Sen 23 Nov" / "Mon 23 Nov": the rows of the portal's timeline."""
    return _date(day, "EEE d MMM", lang)


def month_name(month: str, lang: Lang) -> str:
    """2026-10 -> Oktober 2026."""
    year, mon = (int(x) for x in month.split("-"))
    return _date(dt.date(year, mon, 1), "MMMM y", lang)


def tz_name(when: dt.datetime, timezone: str) -> str:
    """WIB, WITA, WIT; zones without a name get their offset (UTC+07)."""
    name = when.astimezone(zoneinfo.ZoneInfo(timezone)).tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


def tz_label(tz: zoneinfo.ZoneInfo, at: dt.datetime) -> str:
    """ "WIB (UTC+07:00)" for Asia/Jakarta: the portal names its time zone once, in the footer."""
    offset = at.astimezone(tz).strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    name = tz_name(at, tz.key)
    return utc if name.startswith("UTC") else f"{name} ({utc})"


def date_time(when: dt.datetime, timezone: str, lang: Lang) -> str:
    """ "10 Oktober 2026 10:02 WIB": the review's moments, with their zone."""
    local = when.astimezone(zoneinfo.ZoneInfo(timezone))
    return f"{date(local.date(), lang)} {local:%H:%M} {tz_name(when, timezone)}"


def moment(at: dt.datetime, tz: zoneinfo.ZoneInfo, lang: Lang) -> str:
    """ "29 Nov 2026 08:05" in the collector's time zone (the portal names it in the footer)."""
    local = at.astimezone(tz)
    return f"{_date(local.date(), 'd MMM y', lang)} {local:%H:%M}"
