"""What a change does to an application: its fields one by one (the owner's too), and the items
of its checks, usage sources and maintenance windows matched by name. A structure a template
renders, and the same as lines of text.

It compares the API's JSON form of the app, so a version stored long ago that today's rules
would refuse can still be shown (it cannot be applied: see workflow.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

import msgspec

from wire.catalog import App

JsonApp = Mapping[str, Any]
Section = Literal["checks", "usage", "maintenance"]
Action = Literal["create", "update", "delete"]

# Each list of an app, the word for one of its items, and how an item is named in it.
SECTIONS: dict[Section, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "checks": ("check", lambda c: str(c.get("name") or c.get("type"))),
    "usage": ("usage", lambda u: str(u.get("metric"))),
    "maintenance": ("maintenance window", lambda w: str(w.get("name"))),
}
_NESTED = "owner"  # shown field by field: owner.email


class FieldChange(msgspec.Struct, frozen=True, kw_only=True):
    field: str  # `target_uptime`, `owner.email`; in an item, the item's own field (`url`)
    before: Any = None  # JSON values; null when absent
    after: Any = None


class ItemChange(msgspec.Struct, frozen=True, kw_only=True):
    section: Section
    name: str  # the check's name (its type when unnamed), the usage's metric, the window's name
    change: Literal["added", "removed", "changed"]
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    fields: list[FieldChange] = []  # when changed: which of its fields


class AppDiff(msgspec.Struct, frozen=True, kw_only=True):
    app_id: str
    action: Action
    fields: list[FieldChange]
    items: list[ItemChange]
    reordered: list[Section]  # lists whose items only changed places
    lines: list[str]  # the same, as text: `~ name: "A" → "B"`, `+ check dns: {...}`

    @property
    def empty(self) -> bool:
        return not self.lines

    def text(self) -> str:
        return "\n".join(self.lines)


def app_json(app: App | JsonApp | None) -> dict[str, Any] | None:
    """The API's JSON form of an app (what the API answers, what a proposal stores)."""
    if app is None:
        return None
    if isinstance(app, App):
        return msgspec.to_builtins(app)  # type: ignore[no-any-return]
    return dict(app)


def diff_apps(before: App | JsonApp | None, after: App | JsonApp | None) -> AppDiff:
    """What turning `before` into `after` changes; None is no app (a creation, a deletion)."""
    old, new = app_json(before), app_json(after)
    if old is None and new is None:
        raise ValueError("nothing to compare")
    app_id = str((new or old or {}).get("id"))
    if new is None:
        return AppDiff(app_id=app_id, action="delete", fields=[], items=[], reordered=[],
                       lines=[f"- application {app_id}"])  # fmt: skip
    action: Action = "create" if old is None else "update"
    if old is None:  # a new app: what it has, not each empty field
        new = {k: v for k, v in new.items() if v not in (None, [], {})}
        old = {}
    fields = _field_changes(old, new)
    items: list[ItemChange] = []
    reordered: list[Section] = []
    for section, (_, name_of) in SECTIONS.items():
        found = _item_changes(section, old.get(section) or [], new.get(section) or [], name_of)
        items += found
        if not found and _names(old.get(section), name_of) != _names(new.get(section), name_of):
            reordered.append(section)
    sign = "+" if action == "create" else "~"
    lines = [f"+ application {app_id}"] if action == "create" else []
    for f in fields:
        lines.append(
            f"+ {f.field}: {_show(f.after)}"
            if action == "create"
            else f"{sign} {f.field}: {_show(f.before)} → {_show(f.after)}"
        )
    for item in items:
        lines.append(_item_line(item))
    lines += [f"~ {section} reordered" for section in reordered]
    return AppDiff(app_id=app_id, action=action, fields=fields, items=items, reordered=reordered,
                   lines=lines)  # fmt: skip


def _keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The keys of both, in the newer's order (the API's), then those only the older has."""
    return [*new, *(k for k in old if k not in new)]


def _field_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[FieldChange]:
    out: list[FieldChange] = []
    for key in _keys(old, new):
        if key in SECTIONS:
            continue
        if key == _NESTED:
            inner_old, inner_new = old.get(key) or {}, new.get(key) or {}
            out += [
                FieldChange(field=f"{key}.{k}", before=inner_old.get(k), after=inner_new.get(k))
                for k in _keys(inner_old, inner_new)
                if inner_old.get(k) != inner_new.get(k)
            ]
        elif old.get(key) != new.get(key):
            out.append(FieldChange(field=key, before=old.get(key), after=new.get(key)))
    return out


def _item_changes(
    section: Section,
    old: list[dict[str, Any]],
    new: list[dict[str, Any]],
    name_of: Callable[[Mapping[str, Any]], str],
) -> list[ItemChange]:
    before = {name_of(i): i for i in old}
    after = {name_of(i): i for i in new}
    out: list[ItemChange] = []
    for name, item in after.items():
        was = before.get(name)
        if was is None:
            out.append(ItemChange(section=section, name=name, change="added", after=item))
        elif was != item:
            changed = [
                FieldChange(field=k, before=was.get(k), after=item.get(k))
                for k in _keys(was, item)
                if was.get(k) != item.get(k)
            ]
            out.append(ItemChange(section=section, name=name, change="changed", before=was,
                                  after=item, fields=changed))  # fmt: skip
    out += [
        ItemChange(section=section, name=name, change="removed", before=item)
        for name, item in before.items()
        if name not in after
    ]
    return out


def _names(
    items: list[dict[str, Any]] | None, name_of: Callable[[Mapping[str, Any]], str]
) -> list[str]:
    return [name_of(i) for i in items or []]


def _item_line(item: ItemChange) -> str:
    word = f"{SECTIONS[item.section][0]} {item.name}"
    if item.change == "added":
        return f"+ {word}: {_show(item.after)}"
    if item.change == "removed":
        return f"- {word}"
    changed = "; ".join(f"{f.field}: {_show(f.before)} → {_show(f.after)}" for f in item.fields)
    return f"~ {word}: {changed}"


def _show(value: Any) -> str:
    return msgspec.json.encode(value).decode()
