"""A proposal's life: an agency proposes a change to one of its apps; an admin approves it (as
proposed, or edited), or rejects it with a reason; the agency may withdraw it while it waits.

The rules are the catalogue's own (collector/catalog/changes.py): checked with the proposer's
rights when proposed, so it hears at once what a direct write would have answered, and again
against the catalogue as it is when an admin approves, with the admin's rights. Approving is
one transaction: the proposal is locked (two admins approving at once apply it once), the app
is held, the change applied through `changes`, and the decision recorded.

The app may have changed between the proposal and the approval (an admin's own edit, a
`catalog apply`). Approving applies the whole proposed app, so it would also undo those changes:
`review` shows the diff against the app as it is now (`applies`) with a `current_hash`, and an
approval of an app changed since its proposal must quote that hash, i.e. the admin approves
exactly the diff seen. An approval that quotes an older hash is refused, as is one without a
hash once the app changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated

import asyncpg
import msgspec

from collector import access
from collector.audit import Actor
from collector.catalog import changes
from collector.catalog import store as catalog_store
from collector.catalog.changes import ChangeError, Editor
from collector.db import Conn, Executor
from collector.proposals import store
from collector.proposals.diff import Action, AppDiff, app_json, diff_apps
from collector.proposals.store import Proposal, State
from wire.catalog import App
from wire.text import lines, plain_message

Reason = Annotated[str, lines(min_length=1, max_length=2000)]
MAX_LIST = 1000


class Review(msgspec.Struct, frozen=True, kw_only=True):
    """A proposal as an admin reviews it."""

    proposal: Proposal
    changes: AppDiff  # what the proposal changes: from the app when proposed to the proposal
    stale: bool  # pending, and the app changed since the proposal
    applies: AppDiff | None  # pending: what approving does to the app as it is now
    current_hash: str  # of the app as it is now: quoted when approving a stale proposal


def current_hash(app: App | None) -> str:
    """A fingerprint of the app as it is (absent included)."""
    encoded = msgspec.json.encode(app_json(app), order="sorted")
    return hashlib.sha256(encoded).hexdigest()[:32]


async def propose(conn: Conn, app: App, *, new: bool, by: Editor) -> Proposal:
    """Propose to create (`new`) or replace `app`, refused as the same write by `by` would be."""
    async with conn.transaction():
        if not new and await catalog_store.get_app(conn, app.id) is None:
            raise ChangeError(404, f"no application {app.id!r}", code="no_app")
        before = await changes.check_app(conn, app, by=by, must_be_new=new)
        if before is not None and app_json(before) == app_json(app):
            raise ChangeError(400, f"the proposal changes nothing of application {app.id!r}",
                              code="no_change")  # fmt: skip
        action: Action = "create" if new else "update"
        return await _insert(conn, action, app, base=before, by=by)


async def propose_delete(conn: Conn, app_id: str, *, by: Editor) -> Proposal:
    """Propose to delete the app, refused as the deletion by `by` would be."""
    async with conn.transaction():
        app = await changes.check_delete(conn, app_id, by=by)
        return await _insert(conn, "delete", None, base=app, by=by)


async def _insert(
    conn: Conn, action: Action, app: App | None, *, base: App | None, by: Editor
) -> Proposal:
    """Record the proposal (`app`: the proposed version; `base`: the app as it is)."""
    subject = app or base
    assert subject is not None
    waiting = await store.pending_for_app(conn, subject.id)
    if waiting is not None:
        raise _one_pending(waiting, subject.id)
    try:
        async with conn.transaction():
            return await store.insert(
                conn, agency=subject.agency, app_id=subject.id, action=action,
                proposed=app_json(app), base=app_json(base), proposed_by=by.identity,
            )  # fmt: skip
    except asyncpg.UniqueViolationError:  # another proposal for the app came in meanwhile
        raise _one_pending(await store.pending_for_app(conn, subject.id), subject.id) from None


def _one_pending(waiting: int | None, app_id: str) -> ChangeError:
    return ChangeError(
        409,
        f"proposal {waiting} for application {app_id!r} is pending; withdraw it, or wait for"
        " its review, before proposing another",
        code="proposal_pending",
    )


async def list_proposals(
    conn: Executor,
    *,
    by: Editor,
    state: State | None = None,
    app_id: str | None = None,
    agency: str | None = None,
    limit: int = 200,
) -> list[Proposal]:
    """Admins: the queue (pending first, oldest first; then the decided, latest first), of one
    `agency` if given (viewers read the same). An agency: its own proposals, in the same
    order. Others: none."""
    if not access.reads_all_agencies(by):
        if by.agency is None:
            return []
        agency = by.agency
    return await store.find(conn, agency=agency, state=state, app_id=app_id,
                            limit=max(1, min(limit, MAX_LIST)))  # fmt: skip


async def get(conn: Executor, proposal_id: int, *, by: Editor) -> Proposal:
    """The proposal, for an admin or its agency."""
    return _visible(await store.get(conn, proposal_id), proposal_id, by=by)


def _visible(found: Proposal | None, proposal_id: int, *, by: Editor) -> Proposal:
    if found is None:
        raise ChangeError(404, f"no proposal {proposal_id}", code="no_proposal")
    if not access.reads_all_agencies(by) and by.agency != found.agency:
        raise ChangeError(403, f"{changes.this(by)} may not see proposals of agency"
                          f" {found.agency!r}", code="forbidden")  # fmt: skip
    return found


async def review(conn: Executor, proposal_id: int, *, by: Editor) -> Review:
    """The proposal with what it changes, and (while pending) what approving it does now."""
    proposal = await get(conn, proposal_id, by=by)
    current = await catalog_store.get_app(conn, proposal.app_id)
    pending = proposal.state == "pending"
    now = app_json(current)
    applies = None
    if pending and (now is not None or proposal.to_apply is not None):
        applies = diff_apps(now, proposal.to_apply)
    return Review(
        proposal=proposal,
        changes=diff_apps(proposal.base, proposal.to_apply),
        stale=pending and now != proposal.base,
        applies=applies,
        current_hash=current_hash(current),
    )


def _admin(by: Editor) -> None:
    if not by.is_admin:
        raise ChangeError(403, "only an admin decides proposals", code="forbidden")


async def _pending(conn: Conn, proposal_id: int, *, by: Editor) -> Proposal:
    """The proposal, locked until the transaction ends, if it still waits for a decision."""
    found = _visible(await store.get(conn, proposal_id, for_update=True), proposal_id, by=by)
    if found.state != "pending":
        raise ChangeError(
            409, f"proposal {proposal_id} is already {found.state} by {found.decided_by}",
            code="decided",
        )  # fmt: skip
    return found


async def approve(
    conn: Conn,
    proposal_id: int,
    *,
    by: Editor,
    app: App | None = None,
    current_hash: str | None = None,
) -> Proposal:
    """Apply the proposal (or the admin's edit of it, `app`) as `by`, an admin, in one
    transaction. `current_hash`: the one `review` gave, required once the app changed since
    the proposal (see the module's text). Field paths in errors are the edited app's."""
    _admin(by)
    async with conn.transaction():
        proposal = await _pending(conn, proposal_id, by=by)
        target = _target(proposal, app)
        current = await changes.locked_app(conn, proposal.app_id)
        _still_applies(proposal, current)
        if app is None and target is not None and not await _agency_exists(conn, target.agency):
            raise ChangeError(409, f"agency {target.agency!r} no longer exists; reject the"
                              " proposal, or edit it before approving", code="no_agency")  # fmt: skip
        _seen(proposal, current, current_hash)
        writer = Approving(by, proposal.id)
        if target is None:
            await changes.delete_app(conn, proposal.app_id, by=writer)
        else:
            await changes.save_app(conn, target, by=writer, must_be_new=proposal.action == "create")
        approved = proposal.proposed if app is None else app_json(app)
        return await store.decide(conn, proposal_id, state="approved", decided_by=by.identity,
                                  approved=approved)  # fmt: skip


@dataclass(frozen=True)
class Approving:
    """The approving admin as the catalogue's writer: the audit trail records the change as the
    admin's, through `<via>/proposal <id>` (`portal/proposal 12`), so the app's trail names the
    proposal (and, through it, who proposed it)."""

    by: Editor
    proposal_id: int

    @property
    def identity(self) -> str:
        return self.by.identity

    @property
    def role(self) -> str:
        return self.by.role

    @property
    def is_admin(self) -> bool:
        return self.by.is_admin

    @property
    def agency(self) -> str | None:
        return self.by.agency

    @property
    def actor(self) -> Actor:
        actor = self.by.actor
        via = f"{actor.via}/proposal {self.proposal_id}"[-32:]  # the actor's limit; the id kept
        return msgspec.structs.replace(actor, via=via)

    def may_manage_app(self, agency: str) -> bool:
        return self.by.may_manage_app(agency)


async def _agency_exists(conn: Conn, agency: str) -> bool:
    return await catalog_store.get_agency(conn, agency) is not None


def _target(proposal: Proposal, edited: App | None) -> App | None:
    """The app approving writes (None: the deletion)."""
    if edited is not None:
        if proposal.action == "delete":
            raise ChangeError(400, "a deletion is approved as it is; reject it to keep the app",
                              code="edit_delete")  # fmt: skip
        if edited.id != proposal.app_id:
            raise ChangeError(400, f"the edited application keeps the proposal's id"
                              f" {proposal.app_id!r}", field="$.id", code="edit_id")  # fmt: skip
        return edited
    if proposal.proposed is None:
        return None
    try:
        return msgspec.json.decode(msgspec.json.encode(proposal.proposed), type=App)
    except msgspec.ValidationError as exc:  # the rules tightened since it was proposed
        raise ChangeError(
            409, f"the proposed application no longer passes today's rules"
            f" ({plain_message(str(exc))}); reject it, or edit it before approving",
            code="invalid_now",
        ) from exc  # fmt: skip


def _still_applies(proposal: Proposal, current: App | None) -> None:
    app_id = proposal.app_id
    if proposal.action == "create" and current is not None:
        raise ChangeError(409, f"application {app_id!r} exists: it was created since the"
                          " proposal; reject the proposal", code="app_exists")  # fmt: skip
    if proposal.action != "create" and current is None:
        raise ChangeError(409, f"application {app_id!r} no longer exists; reject the proposal",
                          code="no_app")  # fmt: skip


def _seen(proposal: Proposal, current: App | None, quoted: str | None) -> None:
    """The admin approves the diff against the app as it is now, and only that one."""
    app_id = proposal.app_id
    if quoted is not None:
        if quoted != current_hash(current):
            raise ChangeError(409, f"application {app_id!r} changed since you reviewed the"
                              " proposal; review it again", code="changed")  # fmt: skip
    elif app_json(current) != proposal.base:
        raise ChangeError(
            409,
            f"application {app_id!r} changed since the proposal; approving it would also undo"
            " those changes: review what it does now (`applies`) and approve with that review's"
            " `current_hash`",
            code="changed",
        )


async def reject(conn: Conn, proposal_id: int, *, by: Editor, reason: str) -> Proposal:
    """Reject the proposal, keeping it with the reason (required) the agency will read."""
    _admin(by)
    if not reason.strip():
        raise ChangeError(400, "a rejection needs a reason, for the agency to read",
                          field="$.reason", code="reason")  # fmt: skip
    try:
        kept = msgspec.convert(reason.strip(), Reason)
    except msgspec.ValidationError as exc:  # too long, or control characters
        text = plain_message(str(exc)).removesuffix(" - at `$`")
        raise ChangeError(400, f"reason: {text}", field="$.reason", code="reason") from exc
    async with conn.transaction():
        await _pending(conn, proposal_id, by=by)
        return await store.decide(conn, proposal_id, state="rejected", decided_by=by.identity,
                                  reason=kept)  # fmt: skip


async def withdraw(conn: Conn, proposal_id: int, *, by: Editor) -> Proposal:
    """The proposer (or a colleague of its agency) takes a waiting proposal back; an admin
    rejects instead, with a reason."""
    async with conn.transaction():
        proposal = await _pending(conn, proposal_id, by=by)
        mine = by.identity == proposal.proposed_by
        if not mine and (by.is_admin or by.agency != proposal.agency):
            raise ChangeError(403, "only its proposer or its agency withdraws a proposal; an"
                              " admin rejects it", code="forbidden")  # fmt: skip
        return await store.decide(conn, proposal_id, state="withdrawn", decided_by=by.identity)
