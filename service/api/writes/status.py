"""``GET /v1.0/engagements/referralOperations/{requestId}``: what became of a write that was
answered 202, or of any write by its request id, in the caller's tenant.

Known from the outcome waiter's memory (the last outcomes this process saw: the referral's
eTag, a rejection's reason), else from the store's processed-command record (durable for
``REFERRALS_PROCESSED_RETENTION``: that it applied and to which referral, or a rejection
with its reason, answered as from memory). A command this process sent and still awaits
is ``running``; one sent before a restart of the API and not processed yet is not known
here (404) until the service has processed it.
"""

from typing import Any

from fastapi.responses import Response

from service.api.errors import CONTENT_TYPE, ApiError
from service.api.writes.answers import Rejected, refused, stored_outcome
from service.api.writes.flow import Writes
from service.api.writes.waiter import CommandOutcome
from service.jsonio import dumps
from service.store import ProcessedCommand
from state import CommandKey


async def operation_response(
    writes: Writes, root: str, referrals: str, tenant: str | None, request_id: str
) -> Response:
    key = CommandKey(tenant, request_id)
    body: dict[str, Any] = {"id": request_id}
    outcome = writes.waiter.recent(key)
    stored = None if outcome is not None else await writes.store.processed(key)
    if stored is not None:
        outcome = stored_outcome(stored)
    if outcome is not None:
        body |= _from_outcome(outcome, root + referrals)
    elif stored is not None:
        body |= _from_record(stored, root + referrals)
    elif writes.waiter.waiting(key):
        body["status"] = "running"
    else:
        raise ApiError(404, "itemNotFound", "no write with this request id")
    headers = {"Retry-After": "1"} if body["status"] == "running" else {}
    return Response(dumps(body), 200, headers, media_type=CONTENT_TYPE)


def _from_outcome(outcome: CommandOutcome, referrals: str) -> dict[str, Any]:
    """The status of a command whose outcome is known exactly (in memory or stored)."""
    error = refused(outcome)
    if error is not None:
        return {"status": "failed", "error": _error(error)}
    referral = outcome.referral or {}
    return {
        "status": "succeeded",
        "eTag": str(referral.get("eTag", "")),
        "resourceLocation": f"{referrals}/{referral.get('id', '')}",
    }


def _from_record(stored: ProcessedCommand, referrals: str) -> dict[str, Any]:
    """The status of a command known only by its record: it applied (to which referral),
    or it was refused and the record does not say why (written before reasons were kept,
    or a dead letter)."""
    if stored.outcome in ("rejected", "dead-lettered") or stored.referral_id is None:
        message = "the command was refused; its reason is not held here"
        return {"status": "failed", "error": {"code": "invalidRequest", "message": message}}
    return {"status": "succeeded", "resourceLocation": f"{referrals}/{stored.referral_id}"}


def _error(error: ApiError) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.target:
        detail["target"] = error.target
    if isinstance(error, Rejected):
        detail["details"] = error.details
        detail["innerError"] = {"code": error.inner}
    return detail
