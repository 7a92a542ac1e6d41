"""Contacts are personal data: who may see them, and the catalogue without them.

Owners' e-mail and phone, and the mailbox an agency's review is mailed to (`Agency.email`,
often a person's), follow one rule: `collector.access.shows_contacts`.
"""

from __future__ import annotations

import msgspec

from wire.catalog import Agency, App


def without_contacts(app: App) -> App:
    """`app` without its owner's e-mail and phone; the owner's name (who answers for the
    application) stays, as on the review."""
    if app.owner.email is None and app.owner.phone is None:
        return app
    owner = msgspec.structs.replace(app.owner, email=None, phone=None)
    return msgspec.structs.replace(app, owner=owner)


def agency_without_contacts(agency: Agency) -> Agency:
    """`agency` without the e-mail its review is mailed to. The office `contact` stays: it is
    the agency's public address, not a person's."""
    if agency.email is None:
        return agency
    return msgspec.structs.replace(agency, email=None)
