"""The application form: an app as form fields and back, and a refusal as an error by its field.

The form's fields are named by the app's own paths (`name`, `owner.email`, `target_uptime`), so
an error's path from the catalogue's validation (`$.owner.email`, `$.checks[0].url`) names the
field to show it next to. Checks, usage sources and maintenance windows are lists of nested,
typed specs (a dozen check kinds, each with its own fields): each is one YAML textarea, in the
catalogue file's own notation, read by the same validation as the API (`changes.parse_app`).
A field group per item would need JavaScript to add one, or a page per item; a textarea stays
usable without JavaScript, shows every field the API takes, and an error in it names the item
(`checks[0].url`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, get_args

import msgspec
import yaml

from collector.catalog.changes import ChangeError, parse_app
from collector.i18n_catalog import N_, Lang, translate
from wire.catalog import App, Criticality, Lifecycle, ManagedBy

TEXT_FIELDS: Final = ("id", "name", "agency", "managed_by", "provider", "category", "lifecycle",
                      "url", "description", "owner.name", "owner.email", "owner.phone",
                      "target_uptime", "criticality", "failure_threshold", "success_threshold",
                      "quorum")  # fmt: skip
WORD_LISTS: Final = ("tags", "zones")  # comma-separated
YAML_LISTS: Final = ("checks", "usage", "maintenance")
ALL_FIELDS: Final = (*TEXT_FIELDS, *WORD_LISTS, *YAML_LISTS)
MAX_FIELD: Final = 200_000  # one textarea's characters; the form as a whole is capped at 1 MiB
CHOICES: Final = {
    "managed_by": get_args(ManagedBy),
    "lifecycle": get_args(Lifecycle),
    "criticality": get_args(Criticality),
}

# Refusals the catalogue words for the API, in the form's language (their `code`s). Any other
# (`invalid`: the validation's own message) is shown as the API words it.
CODE_TEXT: Final = {
    "app_exists": N_("An application with this id exists already; choose another id."),
    "unknown_agency": N_("There is no such agency in the catalogue."),
    "zones_not_opened": N_(
        "These zones are not opened to the agency; an administrator assigns other zones."
    ),
    "forbidden": N_("Your account may not manage applications of this agency."),
    "no_change": N_("This changes nothing of the application."),
    "proposal_pending": N_(
        "A proposal for this application is already waiting for review; withdraw it, or wait"
        " for its review, before proposing another."
    ),
    "changed": N_("The application changed since this page was made; review the proposal again."),
    "decided": N_("This proposal was already decided."),
    "no_app": N_("There is no such application."),
    "no_proposal": N_("There is no such proposal."),
    "reason": N_("A rejection needs a reason (at most 2,000 characters) for the agency to read."),
    "invalid_now": N_(
        "The proposal no longer passes today's rules; reject it, or edit it before approving."
    ),
    "no_agency": N_(
        "The agency no longer exists; reject the proposal, or edit it before approving."
    ),
    "edit_id": N_("The edited application keeps the proposal's id."),
    "edit_delete": N_("A deletion is approved as it is; reject it to keep the application."),
}
_AT = re.compile(r" - at `\$[^`]*`$")
_PATH = re.compile(r"^\$\.([a-z_]+)(?:\.([a-z_]+))?")


@dataclass
class AppForm:
    """What the form shows: the fields' text, and errors by field (`""`: about the whole form)."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def values_of(app: App | Mapping[str, Any] | None) -> dict[str, str]:
    """The form's fields for an app (or its JSON form), or the defaults of a new one."""
    data: Mapping[str, Any] = (
        msgspec.to_builtins(app) if isinstance(app, App) else (app or {"lifecycle": "active",
        "criticality": "medium", "target_uptime": 99.0, "zones": ["default"]})
    )  # fmt: skip
    owner = data.get("owner") or {}
    out: dict[str, str] = {}
    for name in TEXT_FIELDS:
        value = owner.get(name[6:]) if name.startswith("owner.") else data.get(name)
        out[name] = "" if value is None else str(value)
    for name in WORD_LISTS:
        out[name] = ", ".join(data.get(name) or [])
    for name in YAML_LISTS:
        items = data.get(name) or []
        out[name] = yaml.safe_dump(items, sort_keys=False, allow_unicode=True) if items else ""
    return out


def posted(form: Mapping[str, object]) -> dict[str, str]:
    """The form's fields as sent (absent ones empty; files ignored)."""
    out = {}
    for name in ALL_FIELDS:
        value = form.get(name)
        out[name] = value[:MAX_FIELD] if isinstance(value, str) else ""
    return out


class FormInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("invalid form")
        self.errors = errors


def read_app(values: Mapping[str, str], lang: Lang) -> App:
    """The app the fields describe, by the API's own validation; FormInvalid names the fields."""
    data: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for name in TEXT_FIELDS:
        text = values.get(name, "").strip()
        if not text:
            continue  # empty: the field's default (none)
        if name.startswith("owner."):
            owner[name[6:]] = text
        else:
            data[name] = text
    if owner:
        data["owner"] = owner
    for name in WORD_LISTS:
        words = [w.strip() for w in values.get(name, "").split(",") if w.strip()]
        data[name] = words
    errors: dict[str, str] = {}
    for name in YAML_LISTS:
        text = values.get(name, "")
        if not text.strip():
            data[name] = []
            continue
        try:
            items = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" (line {where.line + 1})" if where is not None else ""
            errors[name] = translate(lang, N_("Not valid YAML%(where)s."), where=line)
            continue
        if not isinstance(items, list):
            errors[name] = translate(lang, N_("A list is expected: each item starts with “- ”."))
            continue
        data[name] = items
    if errors:
        raise FormInvalid(errors)
    try:
        return parse_app(data)
    except ChangeError as exc:
        raise FormInvalid({field_of(exc.field): error_text(exc, lang)}) from exc


def field_of(path: str | None) -> str:
    """The form field an error's path names: `$.owner.email` → `owner.email`, `$.checks[0].url`
    → `checks`; "" (the whole form) when the path names no field of the form."""
    found = _PATH.match(path or "")
    if found is None:
        return ""
    head, sub = found.groups()
    if head == "owner" and sub:
        return f"owner.{sub}" if f"owner.{sub}" in ALL_FIELDS else ""
    return head if head in ALL_FIELDS else ""


def error_text(exc: ChangeError, lang: Lang) -> str:
    """A refusal in the page's language when its `code` is known, else as the API words it."""
    known = CODE_TEXT.get(exc.code)
    if known is not None:
        return translate(lang, known)
    message = _AT.sub("", exc.message) if exc.field else exc.message  # shown by its field
    if "matching regex" in message:  # the pattern itself says nothing to a person
        return translate(lang, N_("This value is not in the form this field takes."))
    return translate(lang, N_("Not accepted: %(message)s"), message=message)
