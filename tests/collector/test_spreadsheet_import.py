"""The spreadsheet agencies fill in, as .xlsx or CSV: one row model, the same columns and the
same row-by-row errors; hostile workbooks (formulas, macros, zip bombs, oversized, not a
workbook) refused with a clear reason and nothing changed; the CLI and the admin API."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any

import asyncpg
import openpyxl
import pytest
from aiohttp.test_utils import TestClient

from collector.catalog import spreadsheet
from collector.catalog.sync import CatalogError
from tests.collector.conftest import TEST_ACTOR, Tokens, bearer
from tests.test_cli import EXAMPLES, run

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(
    rows: list[list[Any]], *, title: str = "Sheet1", more: dict[str, list[list[Any]]] | None = None
) -> bytes:
    """A real .xlsx as Excel or LibreOffice would save it, made with openpyxl."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title
    for row in rows:
        ws.append(row)
    for name, other in (more or {}).items():
        sheet = wb.create_sheet(name)
        for row in other:
            sheet.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def example_rows() -> list[list[Any]]:
    """deploy/examples/apps.csv, with numbers typed as numbers (as people fill a sheet in)."""
    with (EXAMPLES / "apps.csv").open(encoding="utf-8") as f:
        rows: list[list[Any]] = list(csv.reader(f))
    uptime = rows[0].index("target_uptime")
    for row in rows[1:]:
        row[uptime] = float(row[uptime])
        for i, cell in enumerate(row):
            row[i] = None if cell == "" else row[i]
    return rows


def rezip(
    data: bytes, *, add: dict[str, bytes] | None = None, replace: dict[str, bytes] | None = None
) -> bytes:
    """The workbook `data` with members added or rewritten (what a macro-enabled one holds)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info, (replace or {}).get(info.filename, src.read(info.filename)))
        for name, content in (add or {}).items():
            dst.writestr(name, content)
    return out.getvalue()


def test_xlsx_gives_the_same_catalogue_as_the_csv() -> None:
    from_csv = spreadsheet.load((EXAMPLES / "apps.csv").read_bytes(), name="apps.csv")
    from_xlsx = spreadsheet.load(workbook(example_rows()), name="apps.xlsx")
    assert from_xlsx == from_csv
    assert {a.id for a in from_xlsx.apps} == {"simpeg", "srikandi"}
    assert from_xlsx.apps[1].target_uptime == 98.0


BAD_ROWS = [
    ["id", "name", "agency", "managed_by", "target_uptime", "owner_email", "tags"],
    ["ok-app", "OK", "diskominfo", "self", 99, None, None],
    ["bad-one", "Bad", "diskominfo", "outsourced", 99, None, None],
    ["bad-two", "Bad 2", "diskominfo", "self", "lots", None, None],
    [None, None, None, None, None, None, None],  # an empty row is skipped, and still counted
    ["bad-three", "Bad 3", "diskominfo", "self", 99, "not-an-email", None],
    ["Bad Four", "Bad 4", "diskominfo", "self", 99, None, "a;b"],
]


def as_csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([["" if c is None else c for c in row] for row in rows])
    return out.getvalue().encode()


def test_row_errors_are_the_same_for_csv_and_xlsx() -> None:
    with pytest.raises(CatalogError) as from_csv:
        spreadsheet.load(as_csv(BAD_ROWS), name="apps")
    with pytest.raises(CatalogError) as from_xlsx:
        spreadsheet.load(workbook(BAD_ROWS), name="apps")
    lines = str(from_csv.value).splitlines()
    assert [line.split(":")[1] for line in lines] == [" row 3", " row 4", " row 6", " row 7"]
    assert "column `managed_by`" in lines[0]
    assert "column `target_uptime`" in lines[1]
    assert "column `owner_email`" in lines[2]
    assert "column `id`" in lines[3]
    assert str(from_xlsx.value) == str(from_csv.value)


@pytest.mark.parametrize(
    ("cell", "value", "column"),
    [
        ("E2", "=100-1", "target_uptime"),
        ("F2", '=HYPERLINK("http://evil/","x")', "url"),
        ("B2", "=CONCATENATE(A3,A4)", "name"),
    ],
)
def test_a_formula_is_refused_naming_the_row_and_column(cell: str, value: str, column: str) -> None:
    rows: list[list[Any]] = [
        ["id", "name", "agency", "managed_by", "target_uptime", "url"],
        ["simpus", "SIMPUS", "dinkes", "self", 99, "https://simpus"],
    ]
    wb = openpyxl.load_workbook(io.BytesIO(workbook(rows)))
    wb.active[cell] = value  # type: ignore[index]
    out = io.BytesIO()
    wb.save(out)
    with pytest.raises(CatalogError) as err:
        spreadsheet.load(out.getvalue(), name="apps.xlsx")
    message = str(err.value)
    assert message.startswith(f"apps.xlsx: row 2: column `{column}` (cell {cell}) holds a formula")
    assert "type the value itself" in message


def test_an_error_cell_and_a_phone_typed_as_a_number_are_refused() -> None:
    rows: list[list[Any]] = [
        ["id", "name", "agency", "managed_by", "target_uptime", "owner_phone"],
        ["simpus", "SIMPUS", "dinkes", "self", "#DIV/0!", "+62 812"],
        ["sik", "SIK", "dinkes", "self", 99, 62812000001],
    ]
    with pytest.raises(CatalogError) as err:
        spreadsheet.load(workbook(rows), name="apps.xlsx")
    first, second = str(err.value).splitlines()
    assert first == "apps.xlsx: row 2: column `target_uptime` (cell E2) holds the error #DIV/0!"
    assert second.startswith("apps.xlsx: row 3: column `owner_phone` (cell F3) is a number")


def test_macros_and_links_are_refused() -> None:
    plain = workbook(example_rows())
    with zipfile.ZipFile(io.BytesIO(plain)) as z:
        types = z.read("[Content_Types].xml")
    cases = {
        "vba": rezip(plain, add={"xl/vbaProject.bin": b"\xd0\xcf\x11\xe0macro"}),
        "xlm": rezip(plain, add={"xl/macrosheets/sheet1.xml": b"<xm:macrosheet/>"}),
        "type": rezip(plain, replace={"[Content_Types].xml": types.replace(
            b"spreadsheetml.sheet.main+xml", b"sheet.macroEnabled.main+xml")}),
        "link": rezip(plain, add={"xl/externalLinks/externalLink1.xml": b"<externalLink/>"}),
    }  # fmt: skip
    for case, data in cases.items():
        with pytest.raises(CatalogError, match=r"macro|external") as err:
            spreadsheet.load(data, name="apps.xlsx")
        assert str(err.value).startswith("apps.xlsx: "), case
    with pytest.raises(CatalogError, match=r"macro-enabled workbook \(\.xlsm\)"):
        spreadsheet.load(plain, name="apps.xlsm")


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    plain = workbook(example_rows())
    bomb = rezip(plain, add={"xl/media/image1.png": bytes(40 << 20)})  # 40 MiB of zeros
    assert len(bomb) < 200_000
    with pytest.raises(CatalogError, match=r"would unpack to 4\d,\d{3},\d{3} bytes"):
        spreadsheet.load(bomb, name="apps.xlsx")
    crowded = rezip(plain, add={f"xl/media/i{i}.png": b"" for i in range(2000)})
    with pytest.raises(CatalogError, match=r"2,0\d\d files"):
        spreadsheet.load(crowded, name="apps.xlsx")


def test_an_oversized_file_or_one_that_is_no_workbook_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "apps.xlsx"
    big.write_bytes(b"PK\x03\x04" + bytes(9 << 20))
    with pytest.raises(spreadsheet.FileTooLarge, match="larger than 8,388,608 bytes"):
        spreadsheet.read_file(big)
    with pytest.raises(spreadsheet.FileTooLarge):
        spreadsheet.load(big.read_bytes(), name="apps.xlsx")
    with pytest.raises(CatalogError, match=r"not a readable \.xlsx workbook"):
        spreadsheet.load(b"PK\x03\x04 this is no zip at all", name="apps.xlsx")
    with pytest.raises(CatalogError, match="Excel 97-2003"):
        spreadsheet.load(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), name="apps.xls")
    with pytest.raises(CatalogError, match=r"not a readable \.xlsx workbook"):
        spreadsheet.load(
            rezip(workbook([["id"]]), replace={"xl/workbook.xml": b"<nope"}), name="a.xlsx"
        )
    with pytest.raises(CatalogError, match="UTF-8"):
        spreadsheet.load(b"\xff\xfe i d", name="apps.csv")
    with pytest.raises(CatalogError, match="more than 10,000 rows"):
        spreadsheet.load(b"id,name,agency,managed_by\n" + b"x,X,a,self\n" * 10_001, name="apps.csv")


def test_the_sheet_read_is_the_only_one_or_the_one_named_apps() -> None:
    instructions = [["Isi satu baris per aplikasi"]]
    with pytest.raises(CatalogError, match=r"2 sheets \(Petunjuk, Data\).*`apps`"):
        spreadsheet.load(
            workbook(instructions, title="Petunjuk", more={"Data": example_rows()}), name="a.xlsx"
        )
    named = workbook(instructions, title="Petunjuk", more={"Apps": example_rows()})
    assert {a.id for a in spreadsheet.load(named, name="a.xlsx").apps} == {"simpeg", "srikandi"}
    # Other sheets are not read at all: a formula there (a list for a drop-down) is fine.
    lists = workbook(example_rows(), title="apps", more={"lists": [["self"], ["=A1"]]})
    assert len(spreadsheet.load(lists, name="a.xlsx").apps) == 2


async def test_a_refused_file_changes_nothing(seeded_db: str) -> None:
    rows = example_rows()
    rows[2][0] = "=A2"  # the second app's id is a formula
    conn = await asyncpg.connect(seeded_db)
    try:
        before = await conn.fetchval("SELECT count(*) FROM catalog_audit")
        with pytest.raises(CatalogError, match="row 3"):
            await spreadsheet.import_catalog(
                conn, workbook(rows), name="apps.xlsx", actor=TEST_ACTOR
            )
        assert await conn.fetchval("SELECT count(*) FROM apps WHERE id = 'simpeg'") == 0
        assert await conn.fetchval("SELECT count(*) FROM agencies WHERE id = 'bkpsdm'") == 0
        assert await conn.fetchval("SELECT count(*) FROM catalog_audit") == before
    finally:
        await conn.close()


async def test_cli_imports_an_xlsx_with_a_dry_run_first(fresh_db: str, tmp_path: Path) -> None:
    path = tmp_path / "apps.xlsx"
    path.write_bytes(workbook(example_rows()))
    env = {"DATABASE_URL": fresh_db}
    code, out, err = await run(
        "-m", "collector", "catalog", "import", str(path), "--dry-run", env=env
    )
    assert code == 0, err
    assert "+ app simpeg" in out
    assert "would change" in out
    code, out, err = await run("-m", "collector", "catalog", "import", str(path), env=env)
    assert code == 0, err
    assert "4 changed" in out
    conn = await asyncpg.connect(fresh_db)
    try:
        actors = await conn.fetch("SELECT DISTINCT actor_kind, actor, via FROM catalog_audit")
    finally:
        await conn.close()
    assert [tuple(a) for a in actors] == [("file", str(path), "import")]
    bad = tmp_path / "bad.xlsm"
    bad.write_bytes(workbook(example_rows()))
    code, _, err = await run("-m", "collector", "catalog", "import", str(bad), env=env)
    assert code == 2
    assert "macro-enabled" in err


async def test_api_import_previews_then_applies_as_the_token(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    data = workbook(example_rows())
    admin = {**bearer(tokens.admin), "Content-Type": XLSX}
    resp = await client.post(
        "/api/v1/catalog/import", params={"dry_run": "true"}, data=data, headers=admin
    )
    assert resp.status == 200, await resp.text()
    preview = await resp.json()
    assert preview["dry_run"] is True
    assert preview["created"] == ["agency bkpsdm", "app simpeg", "app srikandi"]
    assert (await client.get("/api/v1/apps/simpeg")).status == 404  # nothing applied yet

    resp = await client.post("/api/v1/catalog/import", data=data, headers=admin)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["dry_run"] is False
    assert (await client.get("/api/v1/apps/simpeg")).status == 200
    page = await (
        await client.get("/api/v1/apps/simpeg/history", headers=bearer(tokens.admin))
    ).json()
    actor = page["entries"][0]["actor"]
    assert (actor["kind"], actor["name"], actor["via"]) == ("token", "admin", "import")

    # CSV too, told apart by its bytes whatever the Content-Type says.
    changed = (EXAMPLES / "apps.csv").read_bytes().replace(b",99.5,", b",97,")
    resp = await client.post("/api/v1/catalog/import", data=changed,
                             headers={**bearer(tokens.admin), "Content-Type": XLSX})  # fmt: skip
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["updated"] == ["app simpeg: target_uptime"]


async def test_api_import_refusals(
    client: TestClient,  # type: ignore[type-arg]
    tokens: Tokens,
) -> None:
    rows = example_rows()
    rows[1][13] = "=99+1"
    url = "/api/v1/catalog/import"
    resp = await client.post(url, data=workbook(rows), headers=bearer(tokens.admin))
    assert resp.status == 400
    body = await resp.json()
    assert "row 2: column `target_uptime` (cell N2) holds a formula" in body["message"]
    assert body["field"] == "body"
    resp = await client.post(url, data=as_csv(BAD_ROWS), headers=bearer(tokens.admin))
    assert resp.status == 400
    assert "row 3" in (await resp.json())["message"]
    resp = await client.post(
        url, data=io.BytesIO(b"PK\x03\x04" + bytes(9 << 20)), headers=bearer(tokens.admin)
    )
    assert resp.status == 413
    resp = await client.post(url, data=b"", headers=bearer(tokens.admin))
    assert resp.status == 400
    for token, status in ((tokens.dinkes, 403), (tokens.probe_dc, 403)):
        resp = await client.post(url, data=workbook(example_rows()), headers=bearer(token))
        assert resp.status == status
    assert (await client.post(url, data=workbook(example_rows()))).status == 401
    assert (await client.get("/api/v1/apps/simpeg")).status == 404
