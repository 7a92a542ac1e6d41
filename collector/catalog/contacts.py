"""Owners' contacts are personal data: who may see them, and the catalogue without them."""

from __future__ import annotations

import msgspec

from collector.auth import Principal
from collector.config import CollectorConfig
from wire.catalog import App

# Token kinds held by people who manage applications; probe and app tokens are machines'.
CONTACT_READERS = frozenset({"admin", "agency"})


def shows_contacts(config: CollectorConfig, who: Principal | None) -> bool:
    """Contacts are shown when published (`public_contacts`) or to an admin or agency token."""
    return config.public_contacts or (who is not None and who.kind in CONTACT_READERS)


def without_contacts(app: App) -> App:
    """`app` without its owner's e-mail and phone; the owner's name (who answers for the
    application) stays, as on the review."""
    if app.owner.email is None and app.owner.phone is None:
        return app
    owner = msgspec.structs.replace(app.owner, email=None, phone=None)
    return msgspec.structs.replace(app, owner=owner)
