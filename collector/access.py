"""Who may do what: the one place that decides, for API tokens and signed-in people alike.

A caller is an API token (`collector.auth.Principal`: kinds admin, agency, viewer, probe, app)
or a signed-in account (`collector.accounts.store.Account`: roles admin, agency, viewer), or
nobody (None). Both answer `role` and `agency`, and every rule below reads only those, so an
agency token and an agency operator's account may do exactly the same things:

| role | reads | writes |
| --- | --- | --- |
| admin | everything, the audit trail included | everything; approves changes; manages accounts; any zone |
| agency | everything, owners' contacts included; its agency's trail and proposals | its own agency's apps, in the zones opened to it (people: by proposal) |
| viewer | everything, owners' contacts included | nothing |
| probe, app (tokens only) | the catalogue (when not public) | results, usage (their own routes) |
| nobody | the catalogue when `public_catalog` | nothing |
"""

from __future__ import annotations

from typing import Final, Protocol

from collector.config import CollectorConfig


class Caller(Protocol):
    """What the rules read of a caller (a token's principal or a signed-in account)."""

    @property
    def role(self) -> str: ...

    @property
    def agency(self) -> str | None: ...


# Roles of people (and of the tokens people hold); probe and app tokens are machines'.
PEOPLE_ROLES: Final = frozenset({"admin", "agency", "viewer"})


def may_read_catalog(config: CollectorConfig, who: Caller | None) -> bool:
    """The catalogue, the portal, states, incidents and the review: everyone when the catalogue is
    public, else any valid token and any signed-in account."""
    return config.public_catalog or who is not None


def may_read_non_public(who: Caller | None) -> bool:
    """What is not for everyone (owners' e-mail and phone, agencies' review mailboxes): people
    who manage or oversee applications, never machines' tokens nor anonymous readers."""
    return who is not None and who.role in PEOPLE_ROLES


def shows_contacts(config: CollectorConfig, who: Caller | None) -> bool:
    """Contacts are shown when published (`public_contacts`) or to whoever may read them."""
    return config.public_contacts or may_read_non_public(who)


def may_manage_app(who: Caller | None, agency: str) -> bool:
    """Create, edit, delete an application of `agency`, and its maintenance windows."""
    if who is None:
        return False
    return who.role == "admin" or (who.role == "agency" and who.agency == agency)


def may_change_apps(who: Caller | None) -> bool:
    """Change applications at all: directly (admins) or by proposal (an agency's operators, for
    its own apps: `may_manage_app`); the portal's forms and the proposals' pages. Never viewers."""
    if who is None:
        return False
    return who.role == "admin" or (who.role == "agency" and who.agency is not None)


def may_place_in_any_zone(who: Caller | None) -> bool:
    """Zones are the network's map: only an admin puts an app in a zone not opened to its agency."""
    return who is not None and who.role == "admin"


def reads_all_agencies(who: Caller | None) -> bool:
    """Reads every agency's staff records (proposals, the audit trail): admins and viewers."""
    return who is not None and who.role in ("admin", "viewer")


def may_read_proposals(who: Caller | None) -> bool:
    """Proposals' pages: admins and viewers read every agency's, an operator its own."""
    return reads_all_agencies(who) or may_change_apps(who)


def may_read_trail(who: Caller | None, agency: str) -> bool:
    """The audit trail of `agency`'s records: it names people, tokens and files, so it is for
    staff: admins, viewers (who read everything) and the agency itself; never anonymous
    readers (the API's rule for tokens, the portal's for accounts)."""
    if who is None:
        return False
    return reads_all_agencies(who) or (who.role == "agency" and who.agency == agency)


def may_manage_agencies(who: Caller | None) -> bool:
    return who is not None and who.role == "admin"


def may_approve(who: Caller | None) -> bool:
    """Approve or reject the changes agencies propose (Diskominfo's review)."""
    return who is not None and who.role == "admin"


def may_manage_accounts(who: Caller | None) -> bool:
    """Create accounts, change roles, disable, issue reset links, reset second factors."""
    return who is not None and who.role == "admin"
