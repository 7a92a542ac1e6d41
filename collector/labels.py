"""The words for the catalogue's and the checks' values: states, reasons, categories, metrics...

One place for the portal, the review and the e-mails, so they say the same thing the same way.
The English texts are marked with `N_` for extraction and translated when shown; a value this
module does not know (a category or metric slug of the catalogue's own) is shown as written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from collector.i18n_catalog import N_, Lang, translate

STATES: Final[tuple[str, ...]] = ("up", "degraded", "down", "maintenance", "unknown")
MANAGED_BY: Final[tuple[str, ...]] = ("self", "central", "vendor")

_STATES: Final = {
    "up": N_("Up"),
    "down": N_("Down"),
    "degraded": N_("Degraded"),
    "maintenance": N_("Maintenance"),
    "unknown": N_("Unknown"),
    "none": N_("No data"),  # an hour or a day without data
}
_MANAGED_BY: Final = {
    "self": N_("Self-run"),
    "central": N_("Central (ministry)"),
    "vendor": N_("Vendor"),
}
_LIFECYCLES: Final = {
    "planned": N_("Planned"),
    "active": N_("Active"),
    "deprecated": N_("Deprecated"),
    "retired": N_("Retired"),
}
_CRITICALITY: Final = {"low": N_("Low"), "medium": N_("Medium"), "high": N_("High")}
# Failure reasons of checks (wire.messages.FailureReason).
REASONS: Final = {
    "timeout": N_("timeout"),
    "dns": N_("DNS failure"),
    "connect": N_("connection failed"),
    "tls": N_("TLS/certificate"),
    "status": N_("unexpected HTTP status"),
    "body": N_("unexpected content"),
    "json": N_("JSON condition failed"),
    "latency": N_("too slow"),
    "expiring": N_("certificate expiring soon"),
    "redirects": N_("too many redirects"),
    "config": N_("check configuration"),
    "secret": N_("secret not released by the probe"),
    "blocked": N_("address blocked by the probe"),
    "error": N_("other error"),
}
# Well-known usage metrics and categories; others are shown by their id.
_METRICS: Final = {
    "visits": N_("Visits"),
    "patient_visits": N_("Patient visits"),
    "logins": N_("Logins"),
    "transactions": N_("Transactions"),
    "active_users": N_("Active users"),
    "active-users": N_("Active users"),
}
_CATEGORIES: Final = {
    "health": N_("Health"),
    "education": N_("Education"),
    "population": N_("Population"),
    "finance": N_("Finance"),
    "procurement": N_("Procurement"),
    "personnel": N_("Personnel"),
    "licensing": N_("Licensing"),
    "legal": N_("Legal"),
    "public-complaints": N_("Public complaints"),
    "planning": N_("Planning"),
    "information": N_("Information"),
    "archive": N_("Archives"),
}


def _namer(names: Mapping[str, str]) -> Callable[[str, Lang], str]:
    """The function that says a value in words of `lang`; one `names` does not know as written."""

    def name(value: str, lang: Lang) -> str:
        text = names.get(value)
        return value if text is None else translate(lang, text)

    return name


# Each is `f(value, lang) -> str`, as the templates' filters of the same names.
state_name: Final = _namer(_STATES)  # "none": an hour or a day without data
managed_by_name: Final = _namer(_MANAGED_BY)
lifecycle_name: Final = _namer(_LIFECYCLES)
criticality_name: Final = _namer(_CRITICALITY)
reason_name: Final = _namer(REASONS)
category_name: Final = _namer(_CATEGORIES)  # a catalogue's own slug as written


def metric_name(metric: str, lang: Lang) -> str:
    """The metric's name, with its id when the name does not already say it.

    A metric without a name of its own is shown by its id, once.
    """
    if metric not in _METRICS:
        return metric
    name = translate(lang, _METRICS[metric])
    plain = metric.replace("-", " ").replace("_", " ")
    return name if name.casefold() == plain.casefold() else f"{name} ({metric})"
