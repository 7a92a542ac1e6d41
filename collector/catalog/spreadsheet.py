"""The spreadsheet agencies fill in, as CSV or .xlsx: one row per app, the same columns, the same
row-by-row errors (docs/configuration.md, "Spreadsheet import").

Two readers turn a file into rows of text cells; one row model turns the rows into a catalogue.
The bytes decide the reader (a zip archive is a workbook, anything else CSV), whatever the file
is called or the client says it is. A workbook is untrusted: it is refused, before openpyxl
reads a byte of it, when it is larger than `MAX_FILE_BYTES`, would unpack to more than
`MAX_UNPACKED_BYTES` (a zip bomb), holds macros or links to other workbooks; and a cell holding
a formula or an error is refused by row and column, since its value would be whatever a
calculation engine last made of it. Nothing is written until every row is right.

`import_catalog` is the one entry for the CLI, the API and the portal's upload form.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import warnings
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from collector.audit import Actor
from collector.catalog.sync import CatalogDiff, CatalogError, apply
from collector.db import Conn
from wire.catalog import Agency, App, Catalog
from wire.text import plain_message

COLUMNS = (
    "id", "name", "agency", "agency_name", "managed_by", "provider", "category", "lifecycle",
    "url", "description", "owner_name", "owner_email", "owner_phone", "target_uptime",
    "criticality", "tags", "zones", "check_url",
)  # fmt: skip
MAX_FILE_BYTES = 8 << 20
MAX_UNPACKED_BYTES = 32 << 20  # a workbook's members together, as their headers declare them
MAX_MEMBERS = 1000
MAX_ROWS = 10_000  # as many apps as a catalogue file may hold (wire/catalog.py)
MAX_ERRORS = 100  # reported; a file with more says how many more
SHEET = "apps"  # the sheet read when a workbook has several
_LIST_SPLIT = ";"
_ZIP = b"PK\x03\x04"
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, and an encrypted .xlsx
# Members that run code or pull values from elsewhere: VBA projects, Excel 4.0 macro sheets,
# ActiveX controls, links to other workbooks.
_ACTIVE = {
    "vbaproject.bin": "macros (VBA)",
    "xl/macrosheets/": "macros (Excel 4.0 macro sheets)",
    "xl/activex/": "ActiveX controls",
    "xl/externallinks/": "links to external workbooks",
}


class FileTooLarge(CatalogError):
    """The file is larger than `MAX_FILE_BYTES` (the API answers 413)."""


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """What an import changed, or would change with `dry_run` (CatalogDiff's lists)."""

    dry_run: bool
    created: list[str]  # "agency bkpsdm", "app simpeg"
    updated: list[str]  # "app simpeg: target_uptime, zones"
    kept: list[str]  # API-made maintenance windows the import leaves alone


@dataclass
class _Row:
    number: int  # as the spreadsheet program shows it: the header is row 1
    cells: dict[str, str]
    problems: list[str] = field(default_factory=list)  # the reader's own (formulas, ...)


def read_file(path: Path) -> bytes:
    """A file's bytes, refusing one past `MAX_FILE_BYTES` before reading it."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise FileTooLarge(f"{path}: {_too_large(size)}")
        return path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from exc


def load_file(path: Path) -> Catalog:
    """The catalogue of a CSV or .xlsx file (`load`)."""
    return load(read_file(path), name=str(path))


def _too_large(size: int) -> str:
    return f"{size:,} bytes, larger than {MAX_FILE_BYTES:,} bytes; split it into several files"


def load(data: bytes, *, name: str) -> Catalog:
    """The catalogue a CSV or .xlsx file holds; `name` prefixes every error."""
    if len(data) > MAX_FILE_BYTES:
        raise FileTooLarge(f"{name}: {_too_large(len(data))}")
    if data.startswith(_OLE):
        raise CatalogError(
            f"{name}: an Excel 97-2003 workbook (.xls) or an encrypted one: save it as .xlsx"
            " (Excel Workbook), without a password"
        )
    reader = _xlsx_rows if data.startswith(_ZIP) else _csv_rows
    with reader(data, name) as (header, rows):
        return _catalog(name, header, rows)


async def import_catalog(
    conn: Conn, data: bytes, *, name: str, actor: Actor, dry_run: bool = False
) -> CatalogDiff:
    """Check the whole file, then create and update its apps (and the agencies it names that do
    not exist yet) in one transaction as `actor`, or with `dry_run` only say what would change.
    Raises CatalogError (FileTooLarge) with every problem, and then changes nothing."""
    # A workbook of 10,000 rows takes about 2 s of CPU to read: not on the event loop.
    catalog = await asyncio.to_thread(load, data, name=name)
    return await apply(
        conn, catalog, source=name, actor=actor, dry_run=dry_run, create_agencies_only=True
    )


# --- the readers: bytes to rows of text -------------------------------------------------------


def _column(header: Sequence[str], i: int) -> str:
    """The name of the `i`th column (from 0); one with none is "column N" (an error if filled)."""
    return (header[i].strip() if i < len(header) else "") or f"column {i + 1}"


def _cells(header: Sequence[str], values: Sequence[str]) -> dict[str, str]:
    return {_column(header, i): v for i, v in enumerate(values)}


@contextlib.contextmanager
def _csv_rows(data: bytes, name: str) -> Iterator[tuple[list[str], Iterator[_Row]]]:
    try:
        text = data.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError as exc:
        raise CatalogError(f"{name}: cannot read as UTF-8 text: {exc}") from exc
    reader = csv.reader(io.StringIO(text, newline=""))

    def rows() -> Iterator[_Row]:
        for number, values in enumerate(reader, start=2):  # the header is row 1
            yield _Row(number, _cells(header, values))

    try:
        header = next(reader, [])
        yield header, rows()
    except csv.Error as exc:
        raise CatalogError(f"{name}: not a CSV file: {exc}") from exc


@contextlib.contextmanager
def _xlsx_rows(data: bytes, name: str) -> Iterator[tuple[list[str], Iterator[_Row]]]:
    _check_archive(data, name)
    import openpyxl  # only for workbooks: a second of import time the CSV path does without
    from openpyxl.utils import get_column_letter

    def unreadable(exc: Exception, where: str = "") -> CatalogError:
        return CatalogError(f"{name}: not a readable .xlsx workbook{where}: {_reason(exc)}")

    # openpyxl warns of what it leaves out ("Data Validation extension is not supported", "no
    # default style"): not the importer's concern, and no reason to refuse the file.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(
                io.BytesIO(data), read_only=True, data_only=False, keep_links=False
            )
        except Exception as exc:  # a hostile file breaks a parser in any of its ways
            raise unreadable(exc) from exc
        try:
            sheet = _the_sheet(book.worksheets, name)
            sheet.reset_dimensions()  # its claimed size is not trusted: rows as they come
            cells = sheet.iter_rows()
            try:
                header = ["" if c.value is None else str(c.value) for c in next(cells, ())]
            except Exception as exc:
                raise unreadable(exc) from exc

            def rows() -> Iterator[_Row]:
                number = 1
                try:
                    for number, row in enumerate(cells, start=2):
                        out = _Row(number, {})
                        values = [
                            ""
                            if c.value is None
                            else _cell_text(c, _column(header, i),
                                            f"{get_column_letter(i + 1)}{number}", out.problems)
                            for i, c in enumerate(row)
                        ]  # fmt: skip
                        out.cells = _cells(header, values)
                        yield out
                except Exception as exc:
                    raise unreadable(exc, f" (after row {number})") from exc

            yield header, rows()
        finally:
            book.close()


def _the_sheet(sheets: list[Any], name: str) -> Any:
    """The only sheet, or the one named `apps` (any case): a template may add a sheet of
    instructions or of lists for drop-downs."""
    chosen = [s for s in sheets if s.title.strip().lower() == SHEET]
    if chosen:
        return chosen[0]
    if len(sheets) == 1:
        return sheets[0]
    titles = ", ".join(s.title for s in sheets)
    raise CatalogError(f"{name}: {len(sheets)} sheets ({titles}): name the one to import `{SHEET}`")


def _check_archive(data: bytes, name: str) -> None:
    """Refuse what must not reach the parser: not a zip, too many members, a zip bomb, macros."""
    if name.lower().endswith((".xlsm", ".xltm", ".xlam")):
        raise CatalogError(f"{name}: a macro-enabled workbook (.xlsm): save it as .xlsx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            types = (
                archive.read("[Content_Types].xml")
                if "[Content_Types].xml" in archive.namelist()
                and archive.getinfo("[Content_Types].xml").file_size < 1 << 20
                else b""
            )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise CatalogError(f"{name}: not a readable .xlsx workbook: {_reason(exc)}") from exc
    if len(members) > MAX_MEMBERS:
        raise CatalogError(
            f"{name}: {len(members):,} files inside; a workbook has at most {MAX_MEMBERS:,}"
        )
    # zipfile never unpacks a member past the size its header declares, so these bound it all.
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_UNPACKED_BYTES:
        raise CatalogError(
            f"{name}: would unpack to {unpacked:,} bytes (at most {MAX_UNPACKED_BYTES:,}):"
            " not a catalogue sheet"
        )
    for member in members:
        lower = member.filename.lower()
        for marker, what in _ACTIVE.items():
            if marker in lower:
                raise CatalogError(
                    f"{name}: holds {what} ({member.filename}): save the sheet as a plain .xlsx"
                    " workbook, values only"
                )
    if b"macroenabled" in types.lower():
        raise CatalogError(f"{name}: a macro-enabled workbook (.xlsm): save it as .xlsx")


def _cell_text(cell: Any, column: str, ref: str, problems: list[str]) -> str:
    """A cell as the text the row model reads, as CSV would have it; a formula, an error, or a
    phone typed as a number is a problem of its row."""
    value = cell.value
    where = f"column `{column}` (cell {ref})"
    if cell.data_type == "f":
        formula = str(value)[:40]
        problems.append(
            f"{where} holds a formula ({formula}); type the value itself (copy, paste values)"
        )
        return ""
    if cell.data_type == "e":
        problems.append(f"{where} holds the error {value}")
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if column == "owner_phone":
            problems.append(
                f"{where} is a number, which loses a leading 0 or +: format the column as Text"
            )
            return ""
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _reason(exc: BaseException) -> str:
    return plain_message(str(exc))[:200] or type(exc).__name__


# --- the row model: rows of text to a catalogue -----------------------------------------------


def _catalog(name: str, header: Sequence[str], rows: Iterator[_Row]) -> Catalog:
    names = [h.strip() for h in header]
    unknown = [h for h in names if h and h not in COLUMNS]
    if unknown:
        raise CatalogError(f"{name}: unknown column(s) {', '.join(unknown)}")
    twice = sorted({h for h in names if h and names.count(h) > 1})
    if twice:
        raise CatalogError(f"{name}: column(s) {', '.join(twice)} appear twice")
    if "id" not in names:
        raise CatalogError(f"{name}: no `id` column: the first row names the columns")
    errors: list[str] = []
    apps: list[App] = []
    agencies: dict[str, Agency] = {}
    for row in rows:
        if row.number > MAX_ROWS + 1:
            raise CatalogError(f"{name}: more than {MAX_ROWS:,} rows; split it into several files")
        cells = {k: v.strip() for k, v in row.cells.items()}
        nameless = [k for k, v in cells.items() if v and k not in COLUMNS]
        problems = row.problems + [f"a value in {k}, which has no name in row 1" for k in nameless]
        if problems:
            errors += [f"{name}: row {row.number}: {p}" for p in problems]
            continue
        if not any(cells.values()):
            continue
        try:
            app = msgspec.convert(_app_dict(cells), App, strict=False)
        except msgspec.ValidationError as exc:
            errors.append(f"{name}: row {row.number}: {_field_name(str(exc))}")
            continue
        if cells.get("agency_name"):
            try:
                # convert(), not Agency(...): the constructor would skip the field checks.
                agency = msgspec.convert({"id": app.agency, "name": cells["agency_name"]}, Agency)
            except msgspec.ValidationError as exc:
                message = str(exc).replace("$.name", "$.agency_name")
                errors.append(f"{name}: row {row.number}: {_field_name(message)}")
                continue
            agencies[app.agency] = agency
        apps.append(app)
    if errors:
        more = len(errors) - MAX_ERRORS
        tail = [f"{name}: ... and {more} more (fix these first)"] if more > 0 else []
        raise CatalogError("\n".join(errors[:MAX_ERRORS] + tail))
    return Catalog(agencies=list(agencies.values()), apps=apps)


def _app_dict(cells: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    owner = {k: cells[f"owner_{k}"] for k in ("name", "email", "phone") if cells.get(f"owner_{k}")}
    if owner:
        out["owner"] = owner
    for key in ("tags", "zones"):
        if cells.get(key):
            out[key] = [x.strip() for x in cells[key].split(_LIST_SPLIT) if x.strip()]
    if cells.get("check_url"):
        out["checks"] = [{"type": "http", "url": cells["check_url"]}]
    skip = {"agency_name", "check_url", "tags", "zones", "owner_name", "owner_email", "owner_phone"}
    out.update({k: v for k, v in cells.items() if v and k not in skip})
    return out


def _field_name(message: str) -> str:
    # msgspec says "... - at `$.target_uptime`"; a spreadsheet user thinks in columns.
    return plain_message(message).replace(" - at `$.", " - column `").replace("owner.", "owner_")
