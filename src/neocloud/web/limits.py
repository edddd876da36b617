"""A request-body size limit for the whole application (a pure ASGI middleware)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from neocloud.web.guard import answer_detail


class BodyTooLargeError(Exception):
    """The request body grew past the limit while it was being read."""


class BodyLimit:
    """Answer 413 to a request whose body is larger than ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await answer_detail(send, 400, "Content-Length is not a whole number")
                return
            if length > self.max_bytes:
                await answer_detail(send, 413, self._too_large(length))
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLargeError
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLargeError:
            if not started:
                await answer_detail(send, 413, self._too_large(received))

    def _too_large(self, size: int) -> str:
        return f"body: {size:,} bytes or more; this server accepts at most {self.max_bytes:,}"

