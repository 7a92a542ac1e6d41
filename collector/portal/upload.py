"""The admins' spreadsheet import in the portal: upload the agencies' `.xlsx` or CSV, see what it
would change (a dry run), then apply it.

Nothing is stored between the two steps: the preview page asks for the same file again and
carries the SHA-256 of the previewed one, and applying refuses a different file. So there is no
upload kept on the server to clean up or to be applied by someone else, and what is applied is
exactly what was previewed. The file is read by `collector.catalog.spreadsheet` (the CLI's and
the API's reader: formulas, macros, external links and zip bombs refused, every row's errors
listed); a form is at most 1 MiB (collector/accounts/web.py `MAX_FORM_BYTES`), so bigger files
go through `pantau-collector catalog import` or `POST /api/v1/catalog/import` (8 MiB).
"""

from __future__ import annotations

import hashlib

import msgspec
from aiohttp import web

from collector import access
from collector.accounts import pages
from collector.accounts.store import Account
from collector.accounts.views import signed_in
from collector.catalog import spreadsheet
from collector.catalog.sync import CatalogError
from collector.i18n_catalog import N_, translate
from collector.web import keys

IMPORT_PATH = "/admin/import"


def _page(
    request: web.Request,
    *,
    status: int = 200,
    error: str | None = None,
    problems: list[str] | None = None,
    diff: spreadsheet.ImportResult | None = None,
    expect: str = "",
    notice: str | None = None,
) -> web.Response:
    lang = pages.lang_of(request)
    return pages.render(
        request, "portal/import.html", title=translate(lang, N_("Import a spreadsheet")),
        status=status,
        context={"error": error, "problems": problems or [], "diff": diff, "expect": expect,
                 "notice": notice, "limit": "1 MiB"},
    )  # fmt: skip


@signed_in(access.may_manage_agencies)
async def import_form(request: web.Request, account: Account) -> web.StreamResponse:
    return _page(request)


@signed_in(access.may_manage_agencies)
async def import_submit(request: web.Request, account: Account) -> web.StreamResponse:
    form = await request.post()
    lang = pages.lang_of(request)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return _page(request, status=400, error=translate(lang, N_("Choose a file to upload.")))
    data = upload.file.read(spreadsheet.MAX_FILE_BYTES + 1)
    name = (upload.filename or "upload")[-100:]
    digest = hashlib.sha256(data).hexdigest()
    apply = pages.form_text(form, "action", 20) == "apply"
    if apply and pages.form_text(form, "expect", 64) != digest:
        return _page(request, status=409, error=translate(lang, N_(
            "This is not the file you previewed; preview it first. Nothing was changed.")))  # fmt: skip
    try:
        async with request.app[keys.POOL].acquire() as conn:
            diff = await spreadsheet.import_catalog(
                conn,
                data,
                name=name,
                actor=msgspec.structs.replace(account.actor, via="import"),
                dry_run=not apply,
            )
    except spreadsheet.FileTooLarge as exc:
        return _page(request, status=413, error=str(exc))
    except CatalogError as exc:
        return _page(
            request, status=400, problems=str(exc).splitlines(),
            error=translate(lang, N_("The file was not imported; nothing was changed:")),
        )  # fmt: skip
    result = spreadsheet.ImportResult(
        dry_run=not apply, created=diff.created, updated=diff.updated, kept=diff.kept
    )
    if apply:
        return _page(request, diff=result, notice=translate(lang, N_("The file is imported.")))
    return _page(request, diff=result, expect=digest)
