"""The portal's forms that change the catalogue: a new app, an app's edit or deletion, and the
proposals' pages (the admins' queue and decisions, an agency's own proposals).

An admin's change applies at once (`changes.save_app`, `delete_app`); an agency operator's
becomes a proposal (`workflow.propose`, `propose_delete`) that an admin approves, edits before
approving, or rejects with a reason. Who may do what is `collector.access`; the catalogue's
rules (and their refusals) are `collector.catalog.changes`, the API's own. A viewer reads the
catalogue and changes nothing: these pages answer it 403.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Sequence
from typing import Any

from aiohttp import web

from collector import access
from collector.accounts import pages
from collector.accounts.store import Account
from collector.accounts.views import signed_in
from collector.catalog import changes
from collector.catalog import store as catalog
from collector.catalog.changes import ChangeError
from collector.i18n_catalog import N_, Lang, translate
from collector.portal import app_form
from collector.portal.app_form import AppForm, FormInvalid
from collector.portal.page import app_path
from collector.proposals import workflow
from collector.proposals.diff import AppDiff, diff_apps
from collector.web import keys
from wire.catalog import App

NEW_APP_PATH = "/apps/new"
PROPOSALS_PATH = "/proposals"


def proposal_path(proposal_id: int) -> str:
    return f"{PROPOSALS_PATH}/{proposal_id}"


def _lang(request: web.Request) -> Lang:
    return pages.lang_of(request)


def _refused(request: web.Request, exc: ChangeError) -> web.Response:
    """A refusal that is not about a field (403, 404, 409): a page that says it."""
    titles = {403: N_("Not allowed"), 404: N_("Not found"), 409: N_("Not possible now")}
    lang = _lang(request)
    return pages.message(
        request, exc.status, titles.get(exc.status, N_("Not accepted")), "%(detail)s",
        detail=app_form.error_text(exc, lang) + " " + translate(lang, N_("Nothing was changed.")),
        link=(N_("Back to the portal"), pages.href(lang, "/")),
    )  # fmt: skip


def _forbidden(request: web.Request) -> web.Response:
    return pages.message(
        request, 403, N_("Not allowed"),
        N_("Your account may not change this application; nothing was changed."),
        link=(N_("Back to the portal"), pages.href(_lang(request), "/")),
    )  # fmt: skip


async def _agencies(request: web.Request, account: Account) -> list[Any]:
    agencies = await catalog.list_agencies(request.app[keys.POOL])
    return [a for a in agencies if access.may_manage_app(account, a.id)]


async def _form_page(
    request: web.Request,
    account: Account,
    form: AppForm,
    *,
    title: str,
    action: str,
    new: bool,
    status: int = 200,
    hidden: dict[str, str] | None = None,
    note: str | None = None,
) -> web.Response:
    return pages.render(
        request, "portal/app_form.html", title=title, status=status,
        context={"form": form, "action": action, "new": new, "hidden": hidden or {},
                 "agencies": await _agencies(request, account), "choices": app_form.CHOICES,
                 "direct": account.is_admin, "note": note,
                 "error": form.errors.get("") or (translate(_lang(request), N_(
                     "The form has errors; they are shown next to their fields.")) if form.errors
                     else None)},
    )  # fmt: skip


# --- a new app, an app's edit ------------------------------------------------------------------


def _app_page(
    request: web.Request, account: Account, form: AppForm, *, app: App | None, status: int = 200
) -> Awaitable[web.Response]:
    """The form for a new app (`app` None) or for the edit of `app`, as it stands in the catalogue."""
    lang = _lang(request)
    if app is None:
        title = translate(lang, N_("Register an application"))
        action = pages.href(lang, NEW_APP_PATH)
    else:
        title = translate(lang, N_("Edit %(name)s"), name=app.name)
        action = pages.href(lang, app_path(app.id) + "/edit")
    return _form_page(
        request, account, form, title=title, action=action, new=app is None, status=status
    )


@signed_in(access.may_change_apps)
async def new_form(request: web.Request, account: Account) -> web.StreamResponse:
    values = app_form.values_of(None)
    if account.agency:
        values["agency"] = account.agency
    return await _app_page(request, account, AppForm(values), app=None)


@signed_in(access.may_change_apps)
async def new_submit(request: web.Request, account: Account) -> web.StreamResponse:
    return await _submit(request, account, app_form.posted(await request.post()), edited=None)


async def _managed_app(request: web.Request, account: Account) -> App | web.Response:
    """The app the address names if `account` may change it; else the page that refuses it."""
    app = await catalog.get_app(request.app[keys.POOL], request.match_info["id"])
    if app is None:
        return _refused(request, ChangeError(404, "no app", code="no_app"))
    if not access.may_manage_app(account, app.agency):
        return _forbidden(request)
    return app


@signed_in(access.may_change_apps)
async def edit_form(request: web.Request, account: Account) -> web.StreamResponse:
    app = await _managed_app(request, account)
    if isinstance(app, web.Response):
        return app
    return await _app_page(request, account, AppForm(app_form.values_of(app)), app=app)


@signed_in(access.may_change_apps)
async def edit_submit(request: web.Request, account: Account) -> web.StreamResponse:
    app = await _managed_app(request, account)
    if isinstance(app, web.Response):
        return app  # before reading the form: nothing of it is taken
    values = app_form.posted(await request.post())
    values["id"] = app.id  # the address names the app; its id is not edited here
    return await _submit(request, account, values, edited=app)


async def _submit(
    request: web.Request, account: Account, values: dict[str, str], *, edited: App | None
) -> web.StreamResponse:
    """An admin's change is saved; an operator's is proposed. Errors go back to the form.
    `edited`: the app as it stands, or None for a new one."""
    lang = _lang(request)
    new = edited is None

    def again(errors: dict[str, str], status: int = 400) -> Awaitable[web.Response]:
        return _app_page(request, account, AppForm(values, errors), app=edited, status=status)

    try:
        app = app_form.read_app(values, lang)
    except FormInvalid as exc:
        return await again(exc.errors)
    if not access.may_manage_app(account, app.agency):
        return _forbidden(request)
    try:
        async with request.app[keys.POOL].acquire() as conn:
            if account.is_admin:
                await changes.save_app(conn, app, by=account, must_be_new=new)
                return pages.redirect(pages.href(lang, app_path(app.id), done="saved"))
            proposal = await workflow.propose(conn, app, new=new, by=account)
    except ChangeError as exc:
        if exc.status in (403, 404) and exc.field is None:  # not about a field: a page says it
            return _refused(request, exc)
        return await again({app_form.field_of(exc.field): app_form.error_text(exc, lang)},
                           status=exc.status)  # fmt: skip
    return pages.redirect(pages.href(lang, proposal_path(proposal.id), done="proposed"))


@signed_in(access.may_change_apps)
async def delete_form(request: web.Request, account: Account) -> web.StreamResponse:
    """Asks first: without JavaScript there is no confirm() dialog, so a page does it."""
    app = await _managed_app(request, account)
    if isinstance(app, web.Response):
        return app
    lang = _lang(request)
    return pages.render(
        request, "portal/delete.html", title=translate(lang, N_("Delete %(name)s"), name=app.name),
        context={"app": app, "direct": account.is_admin,
                 "action": pages.href(lang, app_path(app.id) + "/delete"),
                 "back": pages.href(lang, app_path(app.id))},
    )  # fmt: skip


@signed_in(access.may_change_apps)
async def delete_submit(request: web.Request, account: Account) -> web.StreamResponse:
    app = await _managed_app(request, account)
    if isinstance(app, web.Response):
        return app
    lang = _lang(request)
    try:
        async with request.app[keys.POOL].acquire() as conn:
            if account.is_admin:
                await changes.delete_app(conn, app.id, by=account)
                return pages.redirect(pages.href(lang, "/", done="deleted"))
            proposal = await workflow.propose_delete(conn, app.id, by=account)
    except ChangeError as exc:
        return _refused(request, exc)
    return pages.redirect(pages.href(lang, proposal_path(proposal.id), done="proposed"))


# --- proposals ---------------------------------------------------------------------------------

DONE = {
    "proposed": N_("Your change is proposed; Diskominfo reviews it. Its state is shown here."),
    "approved": N_("The proposal is approved and applied."),
    "rejected": N_("The proposal is rejected; the agency sees the reason."),
    "withdrawn": N_("The proposal is withdrawn."),
}


def _json_text(value: object) -> str:
    if value is None:
        return "—"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 400 else text[:400] + "…"


def diff_rows(diff: AppDiff) -> list[tuple[str, str, str]]:
    """The structured diff as rows a table shows: what, before, after."""
    rows = [(f.field, _json_text(f.before), _json_text(f.after)) for f in diff.fields]
    for item in diff.items:
        what = f"{item.section}: {item.name}"
        if item.change == "changed":
            rows += [(f"{what} · {f.field}", _json_text(f.before), _json_text(f.after))
                     for f in item.fields]  # fmt: skip
        else:
            rows.append((what, _json_text(item.before), _json_text(item.after)))
    rows += [(f"{section}: order", "", "") for section in diff.reordered]
    return rows


def _notice(request: web.Request) -> str | None:
    done = DONE.get(request.query.get("done", ""))
    return translate(_lang(request), done) if done else None


@signed_in(access.may_read_proposals)
async def proposals_page(request: web.Request, account: Account) -> web.StreamResponse:
    async with request.app[keys.POOL].acquire() as conn:
        found = await workflow.list_proposals(conn, by=account)
    rows = [
        (p, diff_rows(diff_apps(p.base, p.to_apply)) if p.state == "pending" else []) for p in found
    ]
    lang = _lang(request)
    title = (N_("Proposals to review") if account.is_admin
             else N_("Proposals") if account.agency is None  # a viewer reads them all
             else N_("My agency's proposals"))  # fmt: skip
    return pages.render(request, "portal/proposals.html", title=translate(lang, title),
                        context={"rows": rows, "admin": account.is_admin})  # fmt: skip


async def _review(request: web.Request, account: Account) -> workflow.Review | web.Response:
    raw = request.match_info["id"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return _refused(request, ChangeError(404, "no proposal", code="no_proposal"))
    try:
        async with request.app[keys.POOL].acquire() as conn:
            return await workflow.review(conn, int(raw), by=account)
    except ChangeError as exc:
        return _refused(request, exc)


@signed_in(access.may_read_proposals)
async def proposal_page(request: web.Request, account: Account) -> web.StreamResponse:
    return await _proposal_page(request, account)


async def _proposal_page(
    request: web.Request, account: Account, *, status: int = 200, error: str | None = None
) -> web.Response:
    review = await _review(request, account)
    if isinstance(review, web.Response):
        return review
    p = review.proposal
    lang = _lang(request)
    return pages.render(
        request, "portal/proposal.html", status=status,
        title=translate(lang, N_("Proposal %(id)s"), id=p.id),
        context={"review": review, "p": p, "admin": account.is_admin, "error": error,
                 "notice": _notice(request), "changes": diff_rows(review.changes),
                 "applies": diff_rows(review.applies) if review.applies else [],
                 "mine": not account.is_admin and account.agency == p.agency,
                 "app_href": pages.href(lang, app_path(p.app_id))},
    )  # fmt: skip


def _id(request: web.Request) -> int:
    return int(request.match_info["id"])


async def _decide(request: web.Request, account: Account, what: str) -> web.StreamResponse:
    review = await _review(request, account)  # 404/403 before anything
    if isinstance(review, web.Response):
        return review
    form = await request.post()
    lang = _lang(request)
    try:
        async with request.app[keys.POOL].acquire() as conn:
            if what == "approve":
                quoted = pages.form_text(form, "current_hash", 64) or None
                await workflow.approve(conn, _id(request), by=account, current_hash=quoted)
            elif what == "reject":
                reason = pages.form_text(form, "reason", 4000)
                await workflow.reject(conn, _id(request), by=account, reason=reason)
            else:
                await workflow.withdraw(conn, _id(request), by=account)
    except ChangeError as exc:
        if exc.status == 403:
            return _refused(request, exc)
        return await _proposal_page(request, account, status=exc.status,
                                    error=app_form.error_text(exc, lang))  # fmt: skip
    done = {"approve": "approved", "reject": "rejected"}.get(what, "withdrawn")
    return pages.redirect(pages.href(lang, proposal_path(_id(request)), done=done))


@signed_in(access.may_approve)
async def approve_submit(request: web.Request, account: Account) -> web.StreamResponse:
    return await _decide(request, account, "approve")


@signed_in(access.may_approve)
async def reject_submit(request: web.Request, account: Account) -> web.StreamResponse:
    return await _decide(request, account, "reject")


@signed_in(access.may_change_apps)
async def withdraw_submit(request: web.Request, account: Account) -> web.StreamResponse:
    return await _decide(request, account, "withdraw")


def _proposal_form_page(
    request: web.Request,
    account: Account,
    proposal_id: int,
    form: AppForm,
    current_hash: str,
    *,
    status: int = 200,
) -> Awaitable[web.Response]:
    """An admin's edit of a pending proposal, approved when submitted."""
    lang = _lang(request)
    return _form_page(
        request, account, form, status=status,
        title=translate(lang, N_("Edit proposal %(id)s before approving"), id=proposal_id),
        action=pages.href(lang, proposal_path(proposal_id) + "/edit"), new=False,
        hidden={"current_hash": current_hash},
        note=translate(lang, N_("Submitting approves the proposal as edited here.")),
    )  # fmt: skip


@signed_in(access.may_approve)
async def proposal_edit_form(request: web.Request, account: Account) -> web.StreamResponse:
    review = await _review(request, account)
    if isinstance(review, web.Response):
        return review
    p = review.proposal
    if p.to_apply is None or p.state != "pending":
        return _refused(request, ChangeError(409, "", code="edit_delete" if p.to_apply is None
                                             else "decided"))  # fmt: skip
    form = AppForm(app_form.values_of(p.to_apply))
    return await _proposal_form_page(request, account, p.id, form, review.current_hash)


@signed_in(access.may_approve)
async def proposal_edit_submit(request: web.Request, account: Account) -> web.StreamResponse:
    review = await _review(request, account)
    if isinstance(review, web.Response):
        return review
    p = review.proposal
    form = await request.post()
    values = app_form.posted(form)
    values["id"] = p.app_id
    quoted = pages.form_text(form, "current_hash", 64) or None
    lang = _lang(request)

    def again(errors: dict[str, str], status: int = 400) -> Awaitable[web.Response]:
        return _proposal_form_page(request, account, p.id, AppForm(values, errors),
                                   quoted or review.current_hash, status=status)  # fmt: skip

    try:
        app = app_form.read_app(values, lang)
    except FormInvalid as exc:
        return await again(exc.errors)
    try:
        async with request.app[keys.POOL].acquire() as conn:
            await workflow.approve(conn, p.id, by=account, app=app, current_hash=quoted)
    except ChangeError as exc:
        if exc.status == 403 and exc.field is None:
            return _refused(request, exc)
        return await again({app_form.field_of(exc.field): app_form.error_text(exc, lang)},
                           status=exc.status)  # fmt: skip
    return pages.redirect(pages.href(lang, proposal_path(p.id), done="approved"))


def routes(router: web.UrlDispatcher) -> Sequence[Any]:
    """Register the pages (before `/apps/{id}`, which would take `/apps/new`)."""
    return [
        router.add_get(NEW_APP_PATH, new_form, name="portal-app-new"),
        router.add_post(NEW_APP_PATH, new_submit),
        router.add_get("/apps/{id}/edit", edit_form, name="portal-app-edit"),
        router.add_post("/apps/{id}/edit", edit_submit),
        router.add_get("/apps/{id}/delete", delete_form, name="portal-app-delete"),
        router.add_post("/apps/{id}/delete", delete_submit),
        router.add_get(PROPOSALS_PATH, proposals_page, name="portal-proposals"),
        router.add_get(PROPOSALS_PATH + "/{id}", proposal_page, name="portal-proposal"),
        router.add_post(PROPOSALS_PATH + "/{id}/approve", approve_submit),
        router.add_post(PROPOSALS_PATH + "/{id}/reject", reject_submit),
        router.add_post(PROPOSALS_PATH + "/{id}/withdraw", withdraw_submit),
        router.add_get(PROPOSALS_PATH + "/{id}/edit", proposal_edit_form),
        router.add_post(PROPOSALS_PATH + "/{id}/edit", proposal_edit_submit),
    ]
