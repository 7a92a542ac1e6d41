"""Security headers of the collector's HTML (the portal and the monthly review), in one place."""

from __future__ import annotations


def html_security_headers(*, own_assets: bool) -> dict[str, str]:
    """Headers for an HTML page whose CSS is inline and whose charts are inline SVG.

    Nothing else may load or run: no script, no frame, no foreign image, no form target,
    no `<base>`. `own_assets`: the page may also load scripts and images from the collector
    itself and send its forms there (the portal's /portal.js, favicon and filter form).
    """
    own = "'self'" if own_assets else "'none'"
    images = "'self' data:" if own_assets else "data:"
    policy = (
        f"default-src 'none'; script-src {own}; style-src 'unsafe-inline'; img-src {images};"
        f" form-action {own}; base-uri 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
    }
