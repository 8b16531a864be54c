"""Security headers of every answer the portal gives, API and pages alike, set in one place."""

from __future__ import annotations

from collections.abc import MutableMapping

# The page's scripts and styles are files of its own origin: no inline script or style, no framing, no plugin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

_ALWAYS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
# Personal answers must not stay in a shared computer's cache or in a proxy.
NO_STORE = "no-store"


def security_headers(personal: bool = True) -> dict[str, str]:
    """The headers every answer carries; `personal` adds Cache-Control: no-store."""
    headers = dict(_ALWAYS)
    if personal:
        headers["Cache-Control"] = NO_STORE
    return headers


def add_security_headers(headers: MutableMapping[str, str], personal: bool = True) -> None:
    """Adds the security headers to an answer's headers, keeping any the answer set itself."""
    present = {name.lower() for name in headers}
    for name, value in security_headers(personal).items():
        if name.lower() not in present:
            headers[name] = value
