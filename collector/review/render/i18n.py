"""Every human-facing string of the rendered review, in Bahasa Indonesia (default) and English.

Also the formatting of numbers, percentages, durations and dates per language: Indonesian writes a
decimal comma and a thousands dot ("99,93%", "89.275"), English the other way round. Times are shown
in the review's time zone with its abbreviation ("10 Oktober 2026 10:02 WIB").

Machine-readable formats (CSV, JSON) do not use this module for their figures.
"""

from __future__ import annotations

import datetime as dt
import math
import zoneinfo
from typing import Final, Literal

Lang = Literal["id", "en"]
LANGS: Final[tuple[Lang, ...]] = ("id", "en")

_MONTHS: Final[dict[Lang, tuple[str, ...]]] = {
    "id": ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
           "September", "Oktober", "November", "Desember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"),
}  # fmt: skip
_MONTHS_SHORT: Final[dict[Lang, tuple[str, ...]]] = {
    "id": ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"),
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
}

# key -> (Bahasa Indonesia, English). Placeholders use str.format names.
MESSAGES: Final[dict[str, tuple[str, str]]] = {
    # the document
    "doc.title": ("Tinjauan Bulanan Aplikasi Pemerintah Daerah", "Monthly Review of Government Applications"),
    "doc.title_agency": ("Tinjauan Bulanan Aplikasi: {agency}", "Monthly Application Review: {agency}"),
    "doc.period": ("Periode: {start} s.d. {end} ({tz})", "Period: {start} to {end} ({tz})"),
    "doc.generated": ("Dibuat {at} oleh Pantau", "Generated {at} by Pantau"),
    "doc.incomplete": (
        "Bulan masih berjalan: angka sampai {at} dan masih akan berubah.",
        "Month still running: figures up to {at}; they will still change.",
    ),
    "doc.contents": ("Daftar isi", "Contents"),
    "doc.page": ("Halaman {page} dari {pages}", "Page {page} of {pages}"),  # printed / PDF footer
    "mail.text": (
        "{title}, {month}: terlampir sebagai PDF; isinya juga ada di badan surel ini.\n\nPantau",
        "{title}, {month}: attached as a PDF; the body of this e-mail holds the same.\n\nPantau",
    ),
    "doc.footer": (
        "Uptime = waktu normal ÷ (waktu normal + waktu henti). Waktu pemeliharaan dan waktu tanpa "
        "data terbaru (tidak terpantau) tidak dihitung naik maupun turun.",
        "Uptime = up time ÷ (up time + downtime). Maintenance and time without fresh results "
        "(unknown) count neither up nor down.",
    ),
    # summary
    "summary.title": ("Ringkasan", "Summary"),
    "summary.apps": ("Aplikasi terdaftar", "Registered apps"),
    "summary.monitored": ("Dipantau", "Monitored"),
    "summary.met": ("Memenuhi target", "Met their target"),
    "summary.met_value": ("{met} dari {of}", "{met} of {of}"),
    "summary.uptime": ("Uptime kabupaten", "Regency uptime"),
    "summary.uptime_agency": ("Uptime", "Uptime"),
    "summary.incidents": ("Jumlah gangguan", "Incidents"),
    "summary.downtime": ("Total waktu henti", "Total downtime"),
    "summary.checked": ("Punya pemeriksaan", "With checks"),
    "summary.with_usage": ("Dengan data penggunaan", "With usage data"),
    "summary.below_target": ("Di bawah target", "Below target"),
    "summary.below_target_none": (
        "Semua aplikasi yang dipantau memenuhi targetnya.",
        "Every monitored app met its target.",
    ),
    "summary.worst": ("Gangguan terlama", "Worst outages"),
    "summary.worst_none": ("Tidak ada gangguan bulan ini.", "No outages this month."),
    "summary.most_used": ("Paling banyak digunakan", "Most used"),
    "summary.least_used": ("Paling sedikit digunakan", "Least used"),
    "summary.used_none": ("Tidak ada data penggunaan bulan ini.", "No usage data this month."),
    "summary.least_none": (
        "Semua aplikasi dengan data penggunaan sudah tercantum di atas.",
        "Every app with usage data is listed above.",
    ),
    "summary.used_note": (
        "Tiap aplikasi mengukur penggunaannya sendiri (kunjungan, login, transaksi): "
        "bandingkan dengan hati-hati.",
        "Each app measures its own usage (visits, logins, transactions): compare with care.",
    ),
    "summary.without_usage": ("Tanpa data penggunaan: {apps}.", "Without usage data: {apps}."),
    "summary.levels_only": (
        "Hanya diukur sebagai level (rata-rata, tidak diperingkat): {apps}.",
        "Measured only as a level (an average, not ranked): {apps}.",
    ),
    # insights
    "insights.title": ("Wawasan perencanaan", "Planning insights"),
    "insights.none": ("Tidak ada temuan.", "Nothing found."),
    "insight.falling_usage": ("Penggunaan menurun", "Falling usage"),
    "insight.falling_usage.why": (
        "Metrik penggunaan yang turun {percent} atau lebih dibanding bulan lalu.",
        "Usage metrics down by {percent} or more against last month.",
    ),
    "insight.little_usage": ("Hampir tidak digunakan", "Little usage"),
    "insight.little_usage.why": (
        "Metrik penggunaan yang bernilai nol bulan ini.",
        "Usage metrics with zero usage this month.",
    ),
    "insight.most_downtime": ("Waktu henti terbanyak", "Most downtime"),
    "insight.most_downtime.why": (
        "Lima aplikasi dengan waktu henti terlama bulan ini.",
        "The five apps with the most downtime this month.",
    ),
    "insight.certificates_expiring": ("Sertifikat segera kedaluwarsa", "Certificates expiring"),
    "insight.certificates_expiring.why": (
        "Sertifikat TLS yang habis masa berlakunya dalam {days} hari sejak laporan dibuat.",
        "TLS certificates that expire within {days} days of the report.",
    ),
    "insight.not_monitored": ("Belum dipantau penuh", "Not monitored"),
    "insight.not_monitored.why": (
        "Aplikasi aktif tanpa pemeriksaan ketersediaan atau tanpa sumber data penggunaan.",
        "Active apps without an availability check or without a usage source.",
    ),
    "insight.consolidation": ("Kandidat konsolidasi", "Consolidation candidates"),
    "insight.consolidation.why": (
        "Kategori dengan aplikasi yang dikelola sendiri atau oleh vendor di dua perangkat daerah "
        "atau lebih: layanan yang mungkin dapat digabung.",
        "Categories with self-run or vendor apps in two or more agencies: services that might be "
        "merged.",
    ),
    # agencies and apps
    "agency.apps": ("Aplikasi", "Applications"),
    "agency.bars": ("Uptime per aplikasi terhadap target", "Uptime per app against its target"),
    "app.meta_agency": ("Perangkat daerah: {agency}", "Agency: {agency}"),
    "app.meta_managed": ("Pengelola: {managed}", "Run by: {managed}"),
    "app.meta_category": ("Kategori: {category}", "Category: {category}"),
    "app.meta_lifecycle": ("Status: {lifecycle}", "Lifecycle: {lifecycle}"),
    "app.meta_owner": ("Penanggung jawab: {owner}", "Owner: {owner}"),
    "app.not_checked": (
        "Tidak ada pemeriksaan: ketersediaan aplikasi ini tidak dipantau.",
        "No checks: this app's availability is not monitored.",
    ),
    "app.daily": ("Ketersediaan harian", "Daily availability"),
    "app.outages": ("Daftar gangguan", "Outages"),
    "app.outages_none": ("Tidak ada gangguan bulan ini.", "No outages this month."),
    "app.usage": ("Penggunaan", "Usage"),
    "app.usage_none": ("Tidak ada data penggunaan bulan ini.", "No usage data this month."),
    "app.ongoing": ("masih berlangsung", "still going on"),
    "app.target_note": ("target {target}", "target {target}"),
    # figures and column headers
    "col.app": ("Aplikasi", "App"),
    "col.agency": ("Perangkat daerah", "Agency"),
    "col.uptime": ("Uptime", "Uptime"),
    "col.target": ("Target", "Target"),
    "col.status": ("Status", "Status"),
    "col.downtime": ("Waktu henti", "Downtime"),
    "col.maintenance": ("Pemeliharaan", "Maintenance"),
    "col.unknown": ("Tidak terpantau", "Unknown"),
    "col.degraded": ("Menurun (lambat atau sertifikat)", "Degraded (slow or certificate)"),
    "col.incidents": ("Gangguan", "Incidents"),
    "col.longest": ("Gangguan terlama", "Longest outage"),
    "col.mttr": ("Rata-rata pemulihan (MTTR)", "Mean time to recover (MTTR)"),
    "col.started": ("Mulai", "Started"),
    "col.ended": ("Selesai", "Ended"),
    "col.duration": ("Durasi", "Duration"),
    "col.causes": ("Penyebab", "Causes"),
    "col.metric": ("Metrik", "Metric"),
    "col.kind": ("Jenis", "Kind"),
    "col.this_month": ("Bulan ini", "This month"),
    "col.last_month": ("Bulan lalu", "Last month"),
    "col.change": ("Perubahan", "Change"),
    "col.trend": ("Tren harian", "Daily trend"),
    "col.expires": ("Kedaluwarsa", "Expires"),
    "col.days_left": ("Sisa hari", "Days left"),
    "col.has_check": ("Ada pemeriksaan", "Has a check"),
    "col.has_usage_source": ("Ada sumber penggunaan", "Has a usage source"),
    "col.category": ("Kategori", "Category"),
    "col.agencies": ("Jumlah perangkat daerah", "Agencies"),
    "col.apps": ("Aplikasi", "Apps"),
    "usage.previous_partial": ("— (bulan lalu tidak lengkap)", "— (last month partial)"),
    "usage.gauge_value": ("rata-rata {average} · puncak {peak}", "average {average} · peak {peak}"),
    "kind.counter": ("jumlah", "count"),
    "kind.gauge": ("level", "level"),
    "yes": ("Ya", "Yes"),
    "no": ("Tidak", "No"),
    "none": ("—", "—"),
    # target status
    "status.met": ("Memenuhi target", "Target met"),
    "status.missed": ("Di bawah target", "Below target"),
    "status.unmonitored": ("Tidak dipantau", "Not monitored"),
    # states
    "state.up": ("Normal", "Up"),
    "state.down": ("Mati", "Down"),
    "state.degraded": ("Menurun", "Degraded"),
    "state.maintenance": ("Pemeliharaan", "Maintenance"),
    "state.unknown": ("Tidak terpantau", "Unknown"),
    "state.no_data": ("tanpa data", "no data"),
    "state.not_yet": ("belum berlalu", "not yet"),
    "legend.target": ("garis tegak = target", "upright line = target"),
    "legend.good": ("normal sepanjang hari", "up all day"),
    "legend.ok": ("ada waktu henti, masih sesuai target", "some downtime, within target"),
    "legend.bad": ("di bawah target", "below target"),
    "legend.muted": ("tanpa data", "no data"),
    # who runs it
    "managed.self": ("Dikelola sendiri", "Self-run"),
    "managed.central": ("Pusat (kementerian/lembaga)", "Central (ministry)"),
    "managed.vendor": ("Vendor", "Vendor"),
    "managed.with_provider": ("{managed}: {provider}", "{managed}: {provider}"),
    # lifecycle
    "lifecycle.planned": ("Direncanakan", "Planned"),
    "lifecycle.active": ("Aktif", "Active"),
    "lifecycle.deprecated": ("Akan dihentikan", "Deprecated"),
    "lifecycle.retired": ("Dihentikan", "Retired"),
    # failure reasons (wire.messages.FailureReason)
    "reason.timeout": ("tidak menjawab (batas waktu)", "timeout"),
    "reason.dns": ("DNS gagal", "DNS failure"),
    "reason.connect": ("koneksi gagal", "connection failed"),
    "reason.tls": ("TLS/sertifikat", "TLS/certificate"),
    "reason.status": ("status HTTP tidak sesuai", "unexpected HTTP status"),
    "reason.body": ("isi halaman tidak sesuai", "unexpected content"),
    "reason.json": ("JSON tidak sesuai", "JSON condition failed"),
    "reason.latency": ("terlalu lambat", "too slow"),
    "reason.expiring": ("sertifikat segera kedaluwarsa", "certificate expiring soon"),
    "reason.redirects": ("terlalu banyak pengalihan", "too many redirects"),
    "reason.config": ("konfigurasi pemeriksaan", "check configuration"),
    "reason.secret": ("rahasia tidak dilepas probe", "secret not released by the probe"),
    "reason.blocked": ("alamat diblokir probe", "address blocked by the probe"),
    "reason.error": ("galat lain", "other error"),
    # well-known usage metrics and categories; others are shown by their id
    "metric.visits": ("Kunjungan", "Visits"),
    "metric.patient_visits": ("Kunjungan pasien", "Patient visits"),
    "metric.logins": ("Login", "Logins"),
    "metric.transactions": ("Transaksi", "Transactions"),
    "metric.active_users": ("Pengguna aktif", "Active users"),
    "metric.active-users": ("Pengguna aktif", "Active users"),
    "category.health": ("Kesehatan", "Health"),
    "category.education": ("Pendidikan", "Education"),
    "category.population": ("Kependudukan", "Population"),
    "category.finance": ("Keuangan", "Finance"),
    "category.procurement": ("Pengadaan", "Procurement"),
    "category.personnel": ("Kepegawaian", "Personnel"),
    "category.licensing": ("Perizinan", "Licensing"),
    "category.legal": ("Hukum", "Legal"),
    "category.public-complaints": ("Pengaduan publik", "Public complaints"),
    "category.planning": ("Perencanaan", "Planning"),
    "category.information": ("Informasi", "Information"),
    "category.archive": ("Kearsipan", "Archives"),
    # durations
    "dur.seconds": ("{n} detik", "{n} s"),
    "dur.minutes": ("{n} menit", "{n} min"),
    "dur.hours": ("{n} jam", "{n} h"),
    "dur.days": ("{n} hari", "{n} d"),
}  # fmt: skip


def t(key: str, lang: Lang, /, **values: object) -> str:
    text = MESSAGES[key][0 if lang == "id" else 1]
    return text.format(**values) if values else text


def label(prefix: str, value: str, lang: Lang) -> str:
    """A translated enumeration value (state, reason, category...), else the value itself."""
    key = f"{prefix}.{value}"
    return t(key, lang) if key in MESSAGES else value


def metric_label(metric: str, lang: Lang) -> str:
    """The metric's name, with its id when the name does not already say it.

    A metric without a name of its own is shown by its id, once.
    """
    if f"metric.{metric}" not in MESSAGES:
        return metric
    name = t(f"metric.{metric}", lang)
    plain = metric.replace("-", " ").replace("_", " ")
    return name if name.casefold() == plain.casefold() else f"{name} ({metric})"


# --- numbers ---------------------------------------------------------------------------------


def number(value: float, lang: Lang, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}"
    if lang == "id":  # swap the separators: 89,275.5 -> 89.275,5
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def quantity(value: float | None, lang: Lang) -> str:
    """A usage figure: whole numbers as such, averages with as many decimals as they need."""
    if value is None:
        return t("none", lang)
    if float(value).is_integer():
        return number(value, lang)
    decimals = 2 if abs(value) < 100 else 1 if abs(value) < 10_000 else 0
    text = number(value, lang, decimals)
    sep = "," if lang == "id" else "."
    return text.rstrip("0").rstrip(sep) if sep in text else text


def percent(value: float | None, lang: Lang, decimals: int = 2, *, trim: bool = False) -> str:
    if value is None:
        return t("none", lang)
    text = number(value, lang, decimals)
    sep = "," if lang == "id" else "."
    if trim and sep in text:
        text = text.rstrip("0").rstrip(sep)
    return f"{text}%"


def uptime(value: float | None, lang: Lang) -> str:
    """Rounded down, so an app just under its target (99.949 of 99.95) never shows as on it."""
    if value is None:
        return t("none", lang)
    if value >= 100:
        return "100%"
    shown = math.floor(value * 100 + 1e-9) / 100
    return percent(min(shown, 99.99), lang)


def change(value: float | None, lang: Lang) -> str:
    if value is None:
        return t("none", lang)
    sign = "+" if value > 0 else "-" if value < 0 else ""
    return f"{sign}{percent(abs(value), lang, 1)}"


def duration(seconds: float | None, lang: Lang) -> str:
    """29 min, 1 h 58 min, 2 d 3 h: precise enough for a reader, never a raw second count."""
    if seconds is None:
        return t("none", lang)
    if 0 < seconds < 59.5:
        return t("dur.seconds", lang, n=round(seconds))
    minutes = round(seconds / 60)
    if minutes < 60:
        return t("dur.minutes", lang, n=minutes)
    if minutes < 24 * 60:
        parts = [t("dur.hours", lang, n=minutes // 60)]
        if minutes % 60:
            parts.append(t("dur.minutes", lang, n=minutes % 60))
        return " ".join(parts)
    hours = round(seconds / 3600)
    parts = [t("dur.days", lang, n=hours // 24)]
    if hours % 24:
        parts.append(t("dur.hours", lang, n=hours % 24))
    return " ".join(parts)


# --- dates -----------------------------------------------------------------------------------


def tz_name(when: dt.datetime, timezone: str) -> str:
    """WIB, WITA, WIT; zones without a name get their offset (UTC+07)."""
    name = when.astimezone(zoneinfo.ZoneInfo(timezone)).tzname() or ""
    return f"UTC{name}" if name[:1] in "+-" else name


def date(day: dt.date, lang: Lang) -> str:
    return f"{day.day} {_MONTHS[lang][day.month - 1]} {day.year}"


def short_date(day: dt.date, lang: Lang) -> str:
    return f"{day.day} {_MONTHS_SHORT[lang][day.month - 1]}"


def date_time(when: dt.datetime, timezone: str, lang: Lang) -> str:
    local = when.astimezone(zoneinfo.ZoneInfo(timezone))
    return f"{date(local.date(), lang)} {local:%H:%M} {tz_name(when, timezone)}"


def month_name(month: str, lang: Lang) -> str:
    """2026-10 -> Oktober 2026."""
    year, mon = (int(x) for x in month.split("-"))
    return f"{_MONTHS[lang][mon - 1]} {year}"
