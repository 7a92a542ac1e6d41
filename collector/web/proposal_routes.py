"""Proposals API: agencies propose changes to their apps, admins approve or reject them
(collector/proposals/workflow.py holds the rules; these handlers read and answer HTTP)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Annotated

import msgspec
from aiohttp import web

from collector.catalog.changes import ChangeError
from collector.proposals import workflow
from collector.proposals.diff import Action
from collector.proposals.store import STATES, Proposal
from collector.web import keys
from collector.web.errors import ApiError
from collector.web.requests import (
    json_response,
    query_choice,
    query_of,
    read_body,
    read_json,
    require,
)
from collector.web.routes import Route
from wire.catalog import App
from wire.specs import Slug
from wire.text import lines

_FILTERS = ("state", "agency", "app", "limit")


class ProposalRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    action: Action
    app: App | None = None  # create, update: the whole app, as PUT /api/v1/apps/{id} takes it
    app_id: Slug | None = None  # delete: which app


class ApproveRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    app: App | None = None  # the admin's edit, applied instead of the proposal (which is kept)
    # From GET /api/v1/proposals/{id}: required once the app changed since the proposal.
    current_hash: Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{32}$")] | None = None


class RejectRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, lines(max_length=2000)] = ""  # required: checked with its field


@contextlib.contextmanager
def _app_in_body() -> Iterator[None]:
    """The rules name the app's fields (`$.zones`); in these bodies the app is under `app`."""
    try:
        yield
    except ChangeError as exc:
        if exc.field is not None and exc.field.startswith("$"):
            exc.field = "$.app" + exc.field[1:]
        raise


def _proposal_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**63:
        raise ApiError(404, f"no proposal {raw!r}")
    return int(raw)


async def create_proposal(request: web.Request) -> web.Response:
    who = await require(request, "admin", "agency")
    body = await read_json(request, ProposalRequest)
    async with request.app[keys.POOL].acquire() as conn:
        if body.action == "delete":
            if body.app is not None:
                raise ApiError(400, "a deletion names its app in `app_id`, without `app`",
                               field="$.app")  # fmt: skip
            if body.app_id is None:
                raise ApiError(400, "a deletion needs `app_id`", field="$.app_id")
            made = await workflow.propose_delete(conn, body.app_id, by=who)
        else:
            if body.app is None:
                raise ApiError(400, f"a proposal to {body.action} needs the `app`", field="$.app")
            if body.app_id is not None and body.app_id != body.app.id:
                raise ApiError(400, "app_id differs from the app's id", field="$.app_id")
            with _app_in_body():
                made = await workflow.propose(conn, body.app, new=body.action == "create", by=who)
    return json_response(made, status=201)


async def list_proposals(request: web.Request) -> web.Response:
    who = await require(request, "admin", "agency", "viewer")
    q = query_of(request, _FILTERS)
    state = query_choice(q, "state", STATES)
    try:
        limit = int(q.get("limit", "200"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= workflow.MAX_LIST:
        raise ApiError(400, f"limit must be between 1 and {workflow.MAX_LIST}", field="query.limit")
    found = await workflow.list_proposals(
        request.app[keys.POOL], by=who, state=state, app_id=q.get("app"),  # type: ignore[arg-type]
        agency=q.get("agency"), limit=limit,
    )  # fmt: skip
    return json_response(found)


async def get_proposal(request: web.Request) -> web.Response:
    who = await require(request, "admin", "agency", "viewer")
    pool = request.app[keys.POOL]
    return json_response(await workflow.review(pool, _proposal_id(request), by=who))


async def approve_proposal(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    raw = await read_body(request)
    body = msgspec.json.decode(raw, type=ApproveRequest) if raw.strip() else ApproveRequest()
    async with request.app[keys.POOL].acquire() as conn:
        with _app_in_body():
            done = await workflow.approve(conn, _proposal_id(request), by=who, app=body.app,
                                          current_hash=body.current_hash)  # fmt: skip
    return json_response(done)


async def reject_proposal(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    body = await read_json(request, RejectRequest)
    async with request.app[keys.POOL].acquire() as conn:
        done = await workflow.reject(conn, _proposal_id(request), by=who, reason=body.reason)
    return json_response(done)


async def withdraw_proposal(request: web.Request) -> web.Response:
    who = await require(request, "admin", "agency")
    async with request.app[keys.POOL].acquire() as conn:
        done = await workflow.withdraw(conn, _proposal_id(request), by=who)
    return json_response(done)


_ID = {"id": {"type": "integer", "minimum": 1}}

ROUTES = [
    Route(method="POST", path="/api/v1/proposals", handler=create_proposal,
          summary="Propose to create, update or delete an application, for an admin to approve;"
                  " refused at once as the direct write would be (the app's fields under `$.app`)",
          auth="admin_or_agency", tag="proposals", request=ProposalRequest, response=Proposal,
          statuses={201: "Proposed", 404: "No such application",
                    409: "Exists, or the app already has a pending proposal"}),
    Route(method="GET", path="/api/v1/proposals", handler=list_proposals,
          summary="Proposals: pending first (oldest first), then decided (latest first). An admin"
                  " sees all (filter by state, agency, app), an agency token its agency's",
          auth="staff", tag="proposals", response=list[Proposal], query=_FILTERS,
          params={"state": {"enum": list(STATES)},
                  "limit": {"type": "integer", "minimum": 1, "maximum": workflow.MAX_LIST}}),
    Route(method="GET", path="/api/v1/proposals/{id}", handler=get_proposal,
          summary="A proposal with its diff and, while pending, what approving it does to the app"
                  " as it is now (`applies`, `stale`, `current_hash`)",
          auth="staff", tag="proposals", response=workflow.Review, params=_ID),
    Route(method="POST", path="/api/v1/proposals/{id}/approve", handler=approve_proposal,
          summary="Approve and apply a proposal in one transaction; optionally an edited `app`"
                  " instead (the proposal is kept). Once the app changed since the proposal,"
                  " quote the review's `current_hash`. The body may be empty",
          auth="admin", tag="proposals", request=ApproveRequest, response=Proposal, params=_ID,
          statuses={409: "Already decided, or the app changed, or it can no longer apply"}),
    Route(method="POST", path="/api/v1/proposals/{id}/reject", handler=reject_proposal,
          summary="Reject a proposal with a reason (kept, for the agency to read)",
          auth="admin", tag="proposals", request=RejectRequest, response=Proposal, params=_ID,
          statuses={409: "Already decided"}),
    Route(method="POST", path="/api/v1/proposals/{id}/withdraw", handler=withdraw_proposal,
          summary="Withdraw a pending proposal (its proposer, or its agency)",
          auth="admin_or_agency", tag="proposals", response=Proposal, params=_ID,
          statuses={409: "Already decided"}),
]  # fmt: skip
