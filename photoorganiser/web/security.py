"""Every request to the web app is guarded here, before any route sees it.

- The token: every request carries it, as `?token=` or `Authorization: Bearer`;
  otherwise 401. Compared in constant time.
- The host: only the names the server was started on (a DNS-rebinding page cannot
  reach it through another name): otherwise 403.
- Cross-site requests: a request that changes anything (POST, PUT, PATCH, DELETE) must
  carry the token in its `Authorization` header (a page of another site cannot set one
  without a CORS preflight, which this app never grants), and an `Origin` or
  `Sec-Fetch-Site` header, when the browser sends one, must say the same origin:
  otherwise 403.
- Every response says: no referrer (the token is in page URLs), no framing, no
  sniffing, and a content security policy that allows only the app's own files.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from urllib.parse import parse_qs

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

SECURITY_HEADERS = {
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self'; style-src 'self';"
        " script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none';"
        " form-action 'self'"
    ),
}


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_of(scope: Scope) -> tuple[str | None, bool]:
    """The token a request carries, and whether it came in the Authorization header."""
    headers = Headers(scope=scope)
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), True
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    values = query.get("token")
    return (values[0] if values else None), False


class Guard:
    """ASGI middleware: the token, the host and cross-site checks, security headers."""

    def __init__(self, app: ASGIApp, token: str, hosts: Iterable[str]) -> None:
        self.app = app
        self.token = token
        self.hosts = frozenset(h.lower() for h in hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            status, text = refusal
            response = PlainTextResponse(text, status_code=status)
            for key, value in SECURITY_HEADERS.items():
                response.headers[key] = value
            if status == 401:
                response.headers["www-authenticate"] = 'Bearer realm="photoorganiser"'
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "").lower()
        if self.hosts and host not in self.hosts:
            return 403, f"unknown host {host!r}: use the address serve printed"
        token, in_header = token_of(scope)
        if token is None or not secrets.compare_digest(token.encode(), self.token.encode()):
            return 401, "a valid token is needed: open the address serve printed"
        if scope["method"].upper() in UNSAFE_METHODS:
            if not in_header:
                return 403, "a change needs the token in an Authorization: Bearer header"
            origin = headers.get("origin")
            if origin is not None and origin.lower() not in {f"http://{h}" for h in self.hosts}:
                return 403, "cross-site request refused"
            site = headers.get("sec-fetch-site")
            if site is not None and site not in ("same-origin", "none"):
                return 403, "cross-site request refused"
        return None
