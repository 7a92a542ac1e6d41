"""The second factor: TOTP codes (RFC 6238, pyotp) from any authenticator app.

A code is accepted for its 30-second step and the one before and after (a clock off by a few
seconds, a code typed as it changed), and only once: the account remembers the last step used,
and a code of that step or an earlier one is refused, so a code seen over a shoulder or in a
proxy's log is worth nothing after its owner used it.
"""

from __future__ import annotations

import re
import time
from typing import Final

import pyotp
import segno
from markupsafe import Markup

ISSUER: Final = "Pantau"
WINDOW: Final = 1  # steps either side of now
_CODE: Final = re.compile(r"[0-9]{6}")


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code (no script, no image request: fits the CSP)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, title="otpauth QR", dark="#111")
    return Markup(svg)  # noqa: S704 (segno's own markup; the URI is encoded in paths)


def matching_step(secret: str, code: str, *, now: float | None = None) -> int | None:
    """The time step whose code `code` is (within the window), or None."""
    code = code.replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    at = time.time() if now is None else now
    for offset in range(-WINDOW, WINDOW + 1):
        moment = at + offset * totp.interval
        if pyotp.utils.strings_equal(totp.at(moment), code):
            return totp.timecode(moment)
    return None
