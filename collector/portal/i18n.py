"""Every string of the portal, in Bahasa Indonesia (the default) and English, and their formats.

`t(lang, key, **values)` looks a portal message up. The names of states, reasons, categories,
lifecycles and metrics, and the formats of numbers, uptimes, durations and dates, are the monthly
review's (collector/review/render/i18n.py), so the portal and the report say the same thing the
same way; the functions here only adapt them to the portal's argument order.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Final

from collector.review.render import i18n as report
from collector.review.render.i18n import Lang as Lang

LANGS: Final[tuple[Lang, ...]] = ("id", "en")
DEFAULT_LANG: Final[Lang] = "id"

# key -> (Bahasa Indonesia, English); `{name}` placeholders are filled by t().
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    # page frame
    "brand": ("Pantau", "Pantau"),
    "portal_title": ("Portal Aplikasi Pemerintah Kabupaten", "Regency Application Portal"),
    "portal_tagline": (
        "Aplikasi semua perangkat daerah dalam satu portal: siapa pengelolanya, apakah berjalan,"
        " dan seberapa dipakai.",
        "Every agency's applications in one portal: who runs them, whether they are up, and how"
        " much they are used.",
    ),
    "skip": ("Langsung ke isi", "Skip to content"),
    "nav_apps": ("Daftar aplikasi", "Applications"),
    "nav_review": ("Laporan bulanan", "Monthly review"),
    "switch_lang": ("English", "Bahasa Indonesia"),
    "switch_lang_title": ("Switch to English", "Ganti ke Bahasa Indonesia"),
    "footer_times": ("Waktu dalam {tz}. Halaman dibuat {at}.", "Times in {tz}. Page made {at}."),
    "footer_uptime": (
        "Uptime = waktu berjalan (termasuk menurun) ÷ (berjalan + mati); waktu pemeliharaan dan"
        " waktu tanpa data tidak dihitung.",
        "Uptime = time up (degraded included) ÷ (up + down); maintenance and time without data"
        " are not counted.",
    ),
    # list and filters
    "search": ("Cari", "Search"),
    "search_hint": ("nama, id, penyedia, deskripsi, tag", "name, id, provider, description, tag"),
    "f_agency": ("Perangkat daerah", "Agency"),
    "f_managed_by": ("Pengelola", "Run by"),
    "f_category": ("Kategori", "Category"),
    "f_state": ("Status", "State"),
    "f_all": ("Semua", "All"),
    "f_apply": ("Terapkan", "Apply"),
    "f_clear": ("Hapus filter", "Clear filters"),
    "f_lifecycle": ("Siklus hidup", "Lifecycle"),
    "shown": ("{shown} dari {total} aplikasi", "{shown} of {total} applications"),
    "showing": ("Menampilkan {first}\u2013{last} dari {of}", "Showing {first}\u2013{last} of {of}"),
    "pages": ("Halaman daftar", "Pages of the list"),
    "page_prev": ("Sebelumnya", "Previous"),
    "page_next": ("Berikutnya", "Next"),
    "page_empty": (
        "Halaman ini kosong: daftarnya lebih pendek.",
        "This page is empty: the list is shorter.",
    ),
    "page_first": ("Ke halaman pertama", "To the first page"),
    "bad_page_title": ("Nomor halaman tidak valid", "Invalid page number"),
    "bad_page": (
        "Nomor halaman harus bilangan bulat mulai dari 1.",
        "The page number must be a whole number from 1.",
    ),
    "no_match": (
        "Tidak ada aplikasi yang cocok dengan pencarian dan filter ini.",
        "No application matches this search and these filters.",
    ),
    "no_apps": ("Belum ada aplikasi terdaftar.", "No application is registered yet."),
    "summary_label": ("Ringkasan status sekarang", "Summary of the state now"),
    "col_app": ("Aplikasi", "Application"),
    "col_run_by": ("Pengelola", "Run by"),
    "col_state": ("Status sekarang", "State now"),
    "col_uptime": ("Uptime 30 hari", "Uptime 30 days"),
    "col_usage": ("Penggunaan 14 hari", "Usage 14 days"),
    "col_owner": ("Pemilik", "Owner"),
    "col_links": ("Tautan", "Links"),
    "open_site": ("Buka situs", "Open site"),
    "details": ("Rincian", "Details"),
    "agency_page": ("Halaman perangkat daerah", "Agency page"),
    "apps_count": ("{n} aplikasi", "{n} applications"),
    "since": ("sejak {at}", "since {at}"),
    "no_data": ("tidak ada data", "no data"),
    "none": ("—", "—"),
    "below_target": ("di bawah target {target}", "below its target of {target}"),
    "meets_target": ("memenuhi target {target}", "meets its target of {target}"),
    "usage_trend": ("{metric}: {what}, 14 hari terakhir", "{metric}: {what}, last 14 days"),
    "usage_last": ("{day}: {value}", "{day}: {value}"),
    "per_day": ("per hari", "per day"),
    # a day not wholly covered: today, or the first day the metric reported (after none the day before)
    "so_far_today": ("hari ini sejauh ini", "today so far"),
    "partial_day": ("hari tidak lengkap", "partial day"),
    "daily_avg": ("rata-rata harian", "daily average"),
    "no_usage": ("tidak ada data", "no data"),
    # catalogue details
    "details_title": ("Rincian katalog", "Catalogue details"),
    "d_id": ("Id", "Id"),
    "d_agency": ("Perangkat daerah", "Agency"),
    "d_managed_by": ("Pengelola", "Run by"),
    "d_provider": ("Penyedia", "Provider"),
    "d_category": ("Kategori", "Category"),
    "d_lifecycle": ("Siklus hidup", "Lifecycle"),
    "d_url": ("Alamat", "URL"),
    "d_owner": ("Pemilik (kontak)", "Owner (contact)"),
    "d_target": ("Target uptime", "Target uptime"),
    "d_criticality": ("Tingkat kepentingan", "Criticality"),
    "d_tags": ("Tag", "Tags"),
    "d_zones": ("Zona pemantauan", "Monitoring zones"),
    "d_description": ("Deskripsi", "Description"),
    "d_checks": ("Pemeriksaan", "Checks"),
    "d_usage": ("Sumber penggunaan", "Usage sources"),
    "d_parent": ("Bagian dari", "Part of"),
    "d_contact": ("Kontak", "Contact"),
    "not_checked": ("belum dipantau", "not monitored"),
    # app page
    "state_now": ("Status sekarang", "State now"),
    "zone": ("Zona", "Zone"),
    "per_zone": ("Status per zona", "State per zone"),
    "open_incident": ("Insiden terbuka sejak {at}", "Open incident since {at}"),
    "timeline_title": ("Riwayat 7 hari (per jam)", "Last 7 days (hourly)"),
    "timeline_note": (
        "Satu kotak = satu jam; jam dengan waktu mati ditandai mati.",
        "One cell = one hour; an hour with any downtime shows as down.",
    ),
    "daily_title": ("Uptime per hari (30 hari)", "Uptime per day (last 30 days)"),
    "uptime_30": ("Uptime 30 hari", "Uptime 30 days"),
    "downtime": ("Waktu mati", "Downtime"),
    "downtime_30": ("Waktu mati 30 hari", "Downtime 30 days"),
    "maintenance_30": ("Pemeliharaan 30 hari", "Maintenance 30 days"),
    "unknown_30": ("Tanpa data 30 hari", "Without data 30 days"),
    "incidents_title": ("Insiden", "Incidents"),
    "i_started": ("Mulai", "Started"),
    "i_ended": ("Selesai", "Ended"),
    "i_duration": ("Durasi", "Duration"),
    "i_cause": ("Penyebab", "Cause"),
    "i_zones": ("Zona", "Zones"),
    "i_ongoing": ("masih berlangsung", "ongoing"),
    "i_none": ("Tidak ada insiden tercatat.", "No incident recorded."),
    "usage_title": ("Penggunaan (30 hari)", "Usage (last 30 days)"),
    "u_total": ("Total 30 hari", "30-day total"),
    "u_average": ("Rata-rata", "Average"),
    "u_peak": ("Tertinggi (hari)", "Highest day"),
    "u_counter": ("{metric} — bertambah per hari", "{metric} — increase per day"),
    "u_gauge": ("{metric} — rata-rata harian", "{metric} — daily average"),
    "u_none": ("Belum ada data penggunaan.", "No usage data yet."),
    "u_no_source": (
        "Tidak ada sumber data penggunaan di katalog.",
        "The catalogue names no usage source.",
    ),
    "checks_title": ("Hasil pemeriksaan terakhir", "Latest check results"),
    "c_zone": ("Zona", "Zone"),
    "c_check": ("Pemeriksaan", "Check"),
    "c_probe": ("Probe", "Probe"),
    "c_at": ("Waktu", "Time"),
    "c_result": ("Hasil", "Result"),
    "c_duration": ("Waktu respons", "Response time"),
    "c_status": ("Kode HTTP", "HTTP status"),
    "c_tls": ("Sertifikat berakhir", "Certificate expires"),
    "c_ok": ("Berhasil", "OK"),
    "c_failed": ("Gagal", "Failed"),
    "c_none": ("Belum ada hasil pemeriksaan.", "No check result yet."),
    "c_expired": ("sudah berakhir", "expired"),
    "c_expires_in": ("dalam {days} hari", "in {days} days"),
    # agency page
    "agency_apps": ("Aplikasi", "Applications"),
    "by_state": ("Jumlah per status", "Count by state"),
    "agency_uptime": ("Uptime 30 hari (semua aplikasi)", "Uptime 30 days (all applications)"),
    "open_incidents": ("Insiden terbuka", "Open incidents"),
    "no_open_incidents": ("Tidak ada insiden terbuka.", "No open incident."),
    "i_app": ("Aplikasi", "Application"),
    # errors
    "not_found_title": ("Halaman tidak ditemukan", "Page not found"),
    "app_not_found": (
        "Aplikasi “{id}” tidak terdaftar di katalog.",
        "There is no application “{id}” in the catalogue.",
    ),
    "agency_not_found": (
        "Perangkat daerah “{id}” tidak terdaftar di katalog.",
        "There is no agency “{id}” in the catalogue.",
    ),
    "page_not_found": ("Alamat ini tidak ada di portal.", "This address is not in the portal."),
    "back_to_list": ("Kembali ke daftar aplikasi", "Back to the list of applications"),
    "not_public_title": ("Portal tidak publik", "The portal is not public"),
    "not_public": (
        "Katalog aplikasi di server ini tidak dibuka untuk umum. Staf dapat membacanya melalui"
        " API dengan token; hubungi Diskominfo.",
        "The application catalogue on this server is not public. Staff can read it through the"
        " API with a token; ask Diskominfo.",
    ),
    "unavailable_title": ("Sementara tidak tersedia", "Temporarily unavailable"),
    "unavailable": (
        "Basis data tidak dapat dihubungi. Coba lagi sebentar lagi.",
        "The database cannot be reached. Please try again shortly.",
    ),
    "bad_request_title": ("Alamat tidak valid", "Invalid address"),
    "bad_request": (
        "Alamat ini memuat karakter kendali (seperti NUL atau baris baru) yang tidak dipakai"
        " portal.",
        "This address holds a control character (such as NUL or a line break) that the portal"
        " does not use.",
    ),
    "error_title": ("Terjadi kesalahan", "Something went wrong"),
    "error_text": (
        "Halaman ini gagal dibuat; kesalahannya tercatat di log collector.",
        "This page could not be made; the error is in the collector's log.",
    ),
    # units
    "u_s": ("dtk", "s"),
    "thousand": ("rb", "k"),
    "million": ("jt", "M"),
    "billion": ("M", "B"),
    "ms": ("md", "ms"),
}

STATES: Final[tuple[str, ...]] = ("up", "degraded", "down", "maintenance", "unknown")
MANAGED_BY: Final[tuple[str, ...]] = ("self", "central", "vendor")
_CRITICALITY: Final[dict[str, tuple[str, str]]] = {
    "low": ("Rendah", "Low"),
    "medium": ("Sedang", "Medium"),
    "high": ("Tinggi", "High"),
}
_WEEKDAYS: Final[dict[Lang, tuple[str, ...]]] = {  # Monday first, as date.weekday()
    "id": ("Sen", "Sel", "Rab", "Kam", "Jum", "Sab", "Min"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}


def t(lang: Lang, key: str, **values: object) -> str:
    """The message `key` in `lang`, with its `{placeholders}` filled."""
    text = MESSAGES[key][0 if lang == "id" else 1]
    return text.format(**values) if values else text


# --- the words of the catalogue and of states: the monthly review's, so both say the same -----


def state_name(lang: Lang, state: str) -> str:
    """Up, down, ...; "none" is an hour or a day without data."""
    if state == "none":
        text = report.t("state.no_data", lang)
        return text[:1].upper() + text[1:]
    return report.label("state", state, lang)


def managed_by_name(lang: Lang, managed_by: str) -> str:
    return report.label("managed", managed_by, lang)


def lifecycle_name(lang: Lang, lifecycle: str) -> str:
    return report.label("lifecycle", lifecycle, lang)


def category_name(lang: Lang, category: str) -> str:
    """Known categories in words; any other slug as written in the catalogue."""
    return report.label("category", category, lang)


def reason_name(lang: Lang, reason: str) -> str:
    return report.label("reason", reason, lang)


def metric_name(lang: Lang, metric: str) -> str:
    return report.metric_label(metric, lang)


def criticality_name(lang: Lang, criticality: str) -> str:
    pair = _CRITICALITY.get(criticality)
    return criticality if pair is None else pair[0 if lang == "id" else 1]


# --- numbers (the review's formats) -----------------------------------------------------------


def fmt_number(lang: Lang, value: float, decimals: int = 0) -> str:
    """12345.6 -> "12.345,6" (id) / "12,345.6" (en)."""
    return report.number(value, lang, decimals)


def fmt_compact(lang: Lang, value: float) -> str:
    """A short figure for chart scales: 950, 12,3 rb / 12.3k, 4,5 jt / 4.5M."""
    size = abs(value)
    for limit, unit in ((1e9, "billion"), (1e6, "million"), (1e3, "thousand")):
        if size >= limit:
            scaled = value / limit
            return f"{fmt_number(lang, scaled, 1 if abs(scaled) < 100 else 0)} {t(lang, unit)}"
    return report.quantity(round(value, 1), lang)


def fmt_percent(lang: Lang, value: float | None) -> str:
    """An uptime: rounded down, never up (99.999 shows 99,99%, not 100%)."""
    return report.uptime(value, lang)


def fmt_target(lang: Lang, value: float) -> str:
    return report.percent(value, lang, 3, trim=True)


def fmt_duration(lang: Lang, seconds: float | None) -> str:
    """ "29 menit", "1 jam 58 menit", "2 hari 3 jam"."""
    return report.duration(seconds, lang)


def fmt_seconds_short(lang: Lang, seconds: float) -> str:
    """A response time: "180 md" / "180 ms" under 10 s, else in seconds."""
    if seconds < 10:
        return f"{fmt_number(lang, seconds * 1000, 0)} {t(lang, 'ms')}"
    return f"{fmt_number(lang, seconds, 1)} {t(lang, 'u_s')}"


# --- times ------------------------------------------------------------------------------------


def fmt_date(lang: Lang, day: dt.date) -> str:
    """ "29 November 2026"."""
    return report.date(day, lang)


def fmt_day_month(lang: Lang, day: dt.date) -> str:
    """ "29 Nov"."""
    return report.short_date(day, lang)


def fmt_day_short(lang: Lang, day: dt.date) -> str:
    """ "Sen 23 Nov" / "Mon 23 Nov": the rows of the timeline."""
    return f"{_WEEKDAYS[lang][day.weekday()]} {report.short_date(day, lang)}"


def fmt_time(lang: Lang, at: dt.datetime, tz: zoneinfo.ZoneInfo) -> str:
    """ "29 Nov 2026 08:05" in the collector's time zone (named once, in the footer)."""
    local = at.astimezone(tz)
    return f"{report.short_date(local.date(), lang)} {local.year} {local:%H:%M}"


def tz_label(tz: zoneinfo.ZoneInfo, at: dt.datetime) -> str:
    """ "WIB (UTC+07:00)" for Asia/Jakarta."""
    offset = at.astimezone(tz).strftime("%z")
    utc = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    name = report.tz_name(at, tz.key)
    return utc if name.startswith("UTC") else f"{name} ({utc})"
