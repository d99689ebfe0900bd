"""``GET /v1.0/engagements/referralOperations/{requestId}``: what became of a write that was
answered 202, or of any write by its request id, in the caller's tenant.

Known from the outcome waiter's memory (the last outcomes this process saw, exact: the
referral's eTag, a rejection's reason), else from the store's processed-command record
(durable for ``REFERRALS_PROCESSED_RETENTION``: that it applied and to which referral, or
that it was rejected, not why). A command this process sent and still awaits is
``running``; one sent before a restart of the API and not processed yet is not known here
(404) until the service has processed it.
"""

from typing import Any

from fastapi.responses import Response

from service.api.errors import CONTENT_TYPE, ApiError
from service.api.write_answers import Rejected, refused
from service.api.write_flow import Writes
from service.jsonio import dumps
from state import CommandKey


async def operation_response(
    writes: Writes, root: str, referrals: str, tenant: str | None, request_id: str
) -> Response:
    key = CommandKey(tenant, request_id)
    body: dict[str, Any] = {"id": request_id}
    recent = writes.waiter.recent(key)
    if recent is not None:
        error = refused(recent)
        if error is None:
            referral = recent.referral or {}
            body |= {"status": "succeeded", "eTag": str(referral.get("eTag", ""))}
            body["resourceLocation"] = f"{root}{referrals}/{referral.get('id', '')}"
        else:
            body |= {"status": "failed", "error": _error(error)}
    elif (stored := await writes.store.processed(key)) is None:
        if not writes.waiter.waiting(key):
            raise ApiError(404, "itemNotFound", "no write with this request id")
        body["status"] = "running"
    else:
        if stored.outcome in ("rejected", "dead-lettered") or stored.referral_id is None:
            message = "the command was refused; its reason is no longer held here"
            body |= {"status": "failed", "error": {"code": "invalidRequest", "message": message}}
        else:
            body |= {"status": "succeeded"}
            body["resourceLocation"] = f"{root}{referrals}/{stored.referral_id}"
    headers = {"Retry-After": "1"} if body["status"] == "running" else {}
    return Response(dumps(body), 200, headers, media_type=CONTENT_TYPE)


def _error(error: ApiError) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.target:
        detail["target"] = error.target
    if isinstance(error, Rejected):
        detail["details"] = error.details
        detail["innerError"] = {"code": error.inner}
    return detail
