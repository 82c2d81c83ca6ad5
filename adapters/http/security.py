"""The headers every page (and its assets and stream) carries: a strict
Content-Security-Policy (scripts and styles from this origin only, no
inline script), no MIME sniffing, no referrer (page URLs may carry a
postcode), no framing."""

from __future__ import annotations

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


def page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
    }
