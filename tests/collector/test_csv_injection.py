"""The review's CSV never hands a spreadsheet a formula (CSV injection), however it is disguised."""

from __future__ import annotations

import csv
import io

import asyncpg

from collector.audit import acting
from collector.review.render.csv_report import render_csv
from collector.review.report import build_report
from tests.collector.conftest import TEST_ACTOR
from tests.collector.review_month import MONTH, NOW, SETTINGS
from tests.live import apply_catalog

# Free text as an agency might type it (\uff1d and co. are the fullwidth = + - @); each would run as a formula if written as it is.
HOSTILE = {
    "eq": '=HYPERLINK("http://x")',
    "plus": "+1+cmd|' /C calc'!A0",
    "minus": "-2+3",
    "at": "@SUM(A1)",
    "tab": "\t=1+1",
    "cr": "\r=1+1",
    "space": " =1+1",
    "spaces": "   +1",
    "newline": "\n=1+1",
    "crlf-space": "\r\n @SUM(1)",
    "fw-eq": '\uff1dHYPERLINK("http://x")',
    "fw-plus": "\uff0b1",
    "fw-minus": "\uff0d1",
    "fw-at": "\uff20SUM(A1)",
    "space-fw": "  \uff1d1",
}
HARMLESS = {
    "plain": "Sistem Informasi Puskesmas",
    "inner": "A = B + C - D @ E",  # operators inside the text are no formula
    "spaced": "  Dinas  ",
}


async def test_formula_starts_are_defused_in_every_disguise(fresh_db: str) -> None:
    apps = [
        {"id": f"app-{key}", "name": value, "agency": "dinkes", "managed_by": "vendor",
         "provider": value, "owner": {"name": value}}
        for key, value in {**HOSTILE, **HARMLESS}.items()
    ]  # fmt: skip
    # The catalogue refuses control characters in names now (wire/text.py); rows stored before
    # that rule may still hold them, so those are written straight into the database.
    controlled = {k: v for k, v in HOSTILE.items() if any(c in v for c in "\t\r\n")}
    for app in apps:
        if app["name"] in controlled.values():
            app["name"] = app["provider"] = "placeholder"
            app["owner"] = {"name": "placeholder"}
    await apply_catalog(fresh_db, {"agencies": [{"id": "dinkes", "name": "-Dinkes"}], "apps": apps})
    conn = await asyncpg.connect(fresh_db)
    try:
        async with acting(conn, TEST_ACTOR):
            for key, value in controlled.items():
                await conn.execute(
                    "UPDATE apps SET name = $2, provider = $2,"
                    " owner = jsonb_set(owner, '{name}', to_jsonb($2::text)) WHERE id = $1",
                    f"app-{key}", value,
                )  # fmt: skip
        report = await build_report(conn, month=MONTH.label, settings=SETTINGS, now=NOW)
    finally:
        await conn.close()
    text = render_csv(report, "id").decode("utf-8-sig")
    rows = {r["app"]: r for r in csv.DictReader(io.StringIO(text, newline=""))}
    for key, value in HOSTILE.items():
        row = rows[f"app-{key}"]
        for column in ("name", "provider", "owner"):
            # The text is kept to the letter behind one apostrophe, which spreadsheets hide.
            assert row[column] == "'" + value, (key, column, row[column])
        assert row["agency_name"] == "'-Dinkes"
    for key, value in HARMLESS.items():
        assert rows[f"app-{key}"]["name"] == value, key
    # Numbers are not text: a negative change stays a readable number.
    assert all(not r["usage_change_percent"].startswith("'") for r in rows.values())
