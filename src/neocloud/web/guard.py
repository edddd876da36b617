"""Request checks that keep a server on a laptop safe from the web pages its user visits (pure ASGI).

- **Trusted host.** The ``Host`` header must name the server (loopback names by default): a page that
  rebinds its own DNS name to 127.0.0.1 is refused, since its requests carry its own name.
- **Same origin.** A request that changes anything (POST, PUT, PATCH, DELETE) and carries an ``Origin``
  header must come from the server's own origin: another site's page is refused (403).
- **Content types.** Such a request under ``/api`` must be JSON or YAML. Plain text and form bodies,
  which a page on another site can send without a CORS preflight, are refused (415).
- **Headers.** Every answer says ``nosniff``, may not be framed, and sends no referrer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
BODY_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)


def host_name(value: str) -> str:
    """The host part of a ``Host`` header or URL netloc, without port or IPv6 brackets, lower-case."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class RequestGuard:
    """Refuse requests from the wrong host, another origin or with a body type a form could send.

    Parameters
    ----------
    app
        The application to guard.
    allowed_hosts
        Host names (no port) the ``Host`` header may give; ``"*"`` allows any (a server behind a token).
    """

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str] = LOOPBACK_HOSTS) -> None:
        self.app = app
        self.allowed_hosts = {host_name(host) for host in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope.get("headers") or []}
        problem = self.problem(scope, headers)
        if problem is not None:
            status, detail = problem
            await answer_detail(send, status, detail)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in SECURITY_HEADERS if name not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def problem(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        """The status and one-line reason to refuse a request, or None to let it through."""
        host = headers.get("host", "")
        if "*" not in self.allowed_hosts and host_name(host) not in self.allowed_hosts:
            return 400, f"Host header '{host[:100]}' is not a name of this server"
        if scope.get("method", "GET") not in UNSAFE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return 403, f"requests from origin '{origin[:100]}' are not accepted; use this server's own page"
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if str(scope.get("path", "")).startswith("/api/") and media not in BODY_TYPES:
            shown = media or "none"
            return 415, f"Content-Type {shown[:100]} is not accepted; send {', '.join(BODY_TYPES[:2])}"
        return None


async def answer_detail(send: Send, status: int, detail: str) -> None:
    """Answer a request with ``{"detail": ...}`` as JSON, with the security headers."""
    body = json.dumps({"detail": detail}).encode()
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *SECURITY_HEADERS,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
