"""The queries of the Grafana dashboards in grafana/dashboards, ready to run.

Variables are substituted the way Grafana does before a query leaves it: dashboard variables
from the caller, Grafana's own (`$__rate_interval`, `$__interval`, `$__range`, ...) from
`BUILTIN_VARIABLES` unless the caller overrides them, and for SQL the time macros
(`$__timeFilter(col)`, `$__timeFrom()`, `$__timeTo()`). A variable the dashboard does not
define is an error, so a query can never be sent with a `$name` left in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GRAFANA = Path(__file__).resolve().parent.parent / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
DATASOURCES = GRAFANA / "provisioning" / "datasources"

PROMETHEUS_TYPE = "prometheus"
POSTGRES_TYPES = ("grafana-postgresql-datasource", "postgres")

BUILTIN_VARIABLES: dict[str, str] = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "30d",
    "__range_s": "2592000",
    "__range_ms": "2592000000",
}

# $name, ${name}, ${name:format}, [[name]] (the old form).
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
_SQL_TIME_FILTER = re.compile(r"\$__timeFilter\(\s*([^)]+?)\s*\)")
_SQL_MACRO = re.compile(r"\$__\w+\(")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.+?)\s*,\s*)?(\w+)\s*\)\s*$", re.DOTALL)


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Every dashboard JSON under grafana/dashboards, by file name."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(DASHBOARDS.glob("*.json"))
    }


def iter_panels(dashboard_json: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """All panels, rows included, and the panels nested in collapsed rows."""
    for panel in dashboard_json.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def target_datasource(panel: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The datasource a target runs on: its own, else its panel's."""
    ds = target.get("datasource") or panel.get("datasource") or {}
    return ds if isinstance(ds, dict) else {}


def variable_names(text: str) -> set[str]:
    """The variables a query, title or URL refers to (`$__...` built-ins included)."""
    return {a or b or c for a, b, c in _VARIABLE.findall(text)}


def substitute(text: str, values: dict[str, str]) -> str:
    """Replace every variable reference by its value; an unknown variable is a KeyError."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in values:
            raise KeyError(f"variable ${name} has no value (known: {sorted(values)})")
        return values[name]

    return _VARIABLE.sub(one, text)


def prometheus_queries(
    dashboard_json: dict[str, Any], variables: dict[str, str]
) -> list[tuple[str, str]]:
    """(panel title, PromQL with every variable substituted) for each Prometheus target.

    `variables` gives the dashboard variables (e.g. {"agency": "dinkes", "app": "simpus"});
    it may also override BUILTIN_VARIABLES (`__rate_interval`, `__interval`, `__range`, ...).
    Values are used as given (Grafana would regex-escape them inside `=~`).
    """
    values = {**BUILTIN_VARIABLES, **variables}
    out: list[tuple[str, str]] = []
    for panel in iter_panels(dashboard_json):
        for target in panel.get("targets", []):
            if target.get("hide") or not target.get("expr"):
                continue
            if target_datasource(panel, target).get("type") != PROMETHEUS_TYPE:
                continue
            out.append((panel.get("title", ""), substitute(target["expr"], values)))
    return out


def variable_queries(
    dashboard_json: dict[str, Any], variables: dict[str, str]
) -> list[tuple[str, str]]:
    """("$name", PromQL) for each Prometheus query variable.

    `label_values(selector, label)` becomes `group by (label) (selector)`: the same series
    Grafana asks the series API for, as a query that returns one sample per value.
    """
    values = {**BUILTIN_VARIABLES, **variables}
    out: list[tuple[str, str]] = []
    for var in dashboard_json.get("templating", {}).get("list", []):
        ds = var.get("datasource") or {}
        if var.get("type") != "query" or ds.get("type") != PROMETHEUS_TYPE:
            continue
        query = var.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        match = _LABEL_VALUES.match(text)
        if match is None:
            raise ValueError(f"variable ${var['name']}: unsupported query {text!r}")
        label = match.group(2)
        selector = match.group(1) or f'{{{label}=~".+"}}'
        out.append((f"${var['name']}", substitute(f"group by ({label}) ({selector})", values)))
    return out


def sql_queries(
    dashboard_json: dict[str, Any],
    variables: dict[str, str],
    *,
    time_from: str = "now() - interval '30 days'",
    time_to: str = "now()",
) -> list[tuple[str, str]]:
    """(panel title, SQL ready for PostgreSQL) for each SQL target and annotation.

    Grafana's macros become `time_from` / `time_to` (SQL expressions). Multi-value and
    include-All variables are quoted as Grafana quotes them ('a','b'); single values are
    inserted as they are, with ' doubled.
    """
    multi = {
        v["name"]
        for v in dashboard_json.get("templating", {}).get("list", [])
        if v.get("multi") or v.get("includeAll")
    }
    values = {**BUILTIN_VARIABLES}
    for name, value in variables.items():
        escaped = value.replace("'", "''")
        values[name] = f"'{escaped}'" if name in multi else escaped

    def render(raw: str) -> str:
        text = _SQL_TIME_FILTER.sub(rf"\1 BETWEEN {time_from} AND {time_to}", raw)
        text = text.replace("$__timeFrom()", time_from).replace("$__timeTo()", time_to)
        if (macro := _SQL_MACRO.search(text)) is not None:
            raise ValueError(f"unsupported SQL macro {macro.group(0)}... in {raw!r}")
        return substitute(text, values)

    out: list[tuple[str, str]] = []
    for panel in iter_panels(dashboard_json):
        for target in panel.get("targets", []):
            if target.get("hide") or not target.get("rawSql"):
                continue
            if target_datasource(panel, target).get("type") not in POSTGRES_TYPES:
                continue
            out.append((panel.get("title", ""), render(target["rawSql"])))
    for annotation in dashboard_json.get("annotations", {}).get("list", []):
        raw = (annotation.get("target") or {}).get("rawSql") or annotation.get("rawQuery")
        if raw and (annotation.get("datasource") or {}).get("type") in POSTGRES_TYPES:
            out.append((f"annotation: {annotation.get('name', '')}", render(raw)))
    return out
