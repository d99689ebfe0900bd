"""One log line per request: its ids, route, status and duration, and the caller's tenant.

Nothing personal: never the query string (a ``$filter`` may hold an e-mail address), the
credentials or a body. The request id comes from ``MS-RequestId`` (or is made) and is sent
back with ``MS-CorrelationId`` as Partner Center does.
"""

import logging
import re
import time
import uuid
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("service.api.requests")
_ID: Final = re.compile(r"[A-Za-z0-9._:-]{1,100}")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = _id(headers.get("ms-requestid")) or str(uuid.uuid4())
        correlation_id = _id(headers.get("ms-correlationid"))
        started, status = time.perf_counter(), 500
        # A write without a request id of its own takes this one as its command id.
        scope.setdefault("state", {})["request_id"] = request_id

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                extra = [(b"ms-requestid", request_id.encode())]
                if correlation_id:
                    extra.append((b"ms-correlationid", correlation_id.encode()))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "correlation_id": correlation_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "tenant": scope.get("state", {}).get("tenant"),
                },
            )


def _id(value: str | None) -> str | None:
    return value if value is not None and _ID.fullmatch(value) else None
