"""A write's answer in Partner Center's shape, from its command's outcome.

- Applied: the referral as the command left it, its ``ETag``; 201 with ``Location`` for a
  create, 200 for a replace, 204 for a patch (200 with the referral when the request says
  ``Prefer: return=representation``). A retry answered from the store's record gets the
  referral as it is now.
- Rejected: Partner Center's error body, its status by the rejection's code:
  ``invalidRequest`` 400, ``itemNotFound`` 404, ``preconditionFailed`` 412 (target
  ``ETag``), ``conflict`` 409, ``accessDenied`` 403, ``illegalTransition`` 400 naming the
  rule; ``details`` lists the rejection's, ``innerError.code`` is the rejection's code.
- Answered from the store's record, a rejection is answered alike: the store keeps its
  reason (``ProcessedCommand.rejection``). A record written before reasons were kept says
  only that it was rejected: 400 ``invalidRequest`` saying so.
"""

import re
from typing import Any, Final, Literal

from fastapi.responses import Response

from service.api.errors import CONTENT_TYPE, ApiError, error_response
from service.api.writes.flow import Settled
from service.api.writes.waiter import CommandOutcome
from service.jsonio import dumps, loads
from service.store import ProcessedCommand, Store
from state.lifecycle import MAY_MOVE_TO

WriteKind = Literal["create", "patch", "replace"]
_STATUS: Final = {
    "invalidRequest": 400,
    "illegalTransition": 400,
    "itemNotFound": 404,
    "preconditionFailed": 412,
    "conflict": 409,
    "accessDenied": 403,
}
_SUCCESS: Final[dict[WriteKind, int]] = {"create": 201, "replace": 200, "patch": 204}


class Rejected(ApiError):
    """A command's rejection as an API error, with its details."""

    def __init__(self, rejection: dict[str, Any]) -> None:
        code = str(rejection.get("code"))
        details = [d for d in rejection.get("details") or () if isinstance(d, dict)]
        target = "ETag" if code == "preconditionFailed" else _first_target(details)
        public = "invalidRequest" if code == "illegalTransition" else code
        message = str(rejection.get("message") or code)
        if code == "illegalTransition":
            message = f"illegal transition: {message}{_rule(message)}"
        super().__init__(_STATUS.get(code, 400), public, message, target)
        self.details, self.inner = details, code


def _rule(message: str) -> str:
    """The row of Partner Center's status table the refused move broke."""
    source = re.search(r"\bin (\w+)/", message)
    status = source and next((s for s in MAY_MOVE_TO if s.value == source.group(1)), None)
    if not status:
        return ""
    targets = " or ".join(target.value for target in MAY_MOVE_TO[status])
    return f" (the rule: {status.value} moves only to {targets})"


def _first_target(details: list[dict[str, Any]]) -> str | None:
    targets = [str(d["target"]) for d in details if d.get("target")]
    return targets[0] if targets else None


def rejected_response(error: Rejected) -> Response:
    body: dict[str, Any] = {
        "error": {
            "code": error.code,
            "message": error.message,
            **({"target": error.target} if error.target else {}),
            "details": error.details,
            "innerError": {"code": error.inner},
        }
    }
    return Response(dumps(body), error.status, media_type=CONTENT_TYPE)


def stored_outcome(stored: ProcessedCommand) -> CommandOutcome | None:
    """The outcome the store's record tells exactly, as the waiter would hold it: a
    rejection with its reason; None when the record alone does not say it."""
    if stored.rejection is None:
        return None
    return CommandOutcome(rejection=loads(stored.rejection))


def refused(outcome: CommandOutcome) -> ApiError | None:
    """The error an outcome answers with; None when it applied."""
    if outcome.rejection is not None:
        return Rejected(outcome.rejection)
    if outcome.dead_letter_code is not None:
        return ApiError(
            400, "invalidRequest", f"the command was refused ({outcome.dead_letter_code})"
        )
    return None


async def answer(
    settled: Settled,
    kind: WriteKind,
    store: Store,
    tenant_id: str | None,
    location: str,
    representation: bool,
) -> Response:
    """The response to a write whose command settled as ``settled``."""
    outcome = settled.outcome
    if outcome is None and settled.stored is not None:
        outcome = stored_outcome(settled.stored)
    if outcome is not None:
        error = refused(outcome)
        if isinstance(error, Rejected):
            return rejected_response(error)
        if error is not None:
            return error_response(error)
        referral = outcome.referral
        body = dumps(referral) if referral is not None else None
        etag = str(referral.get("eTag") or "") if referral is not None else ""
    else:
        body, etag = await _stored_answer(settled, store, tenant_id)
    headers = {"ETag": etag} if etag else {}
    status = _SUCCESS[kind]
    if kind == "create":
        headers["Location"] = location
    if status == 204 and representation:
        status = 200
    if status == 204 or body is None:
        return Response(status_code=status, headers=headers)
    return Response(body, status, headers, media_type=CONTENT_TYPE)


async def _stored_answer(
    settled: Settled, store: Store, tenant_id: str | None
) -> tuple[bytes | None, str]:
    stored = settled.stored
    assert stored is not None
    if stored.outcome == "rejected":  # recorded before the store kept reasons
        raise ApiError(
            400,
            "invalidRequest",
            "the command of this request id was rejected; its reason is not held here"
            " (the rejections topic has it, causationid = the request id)",
        )
    if stored.outcome == "dead-lettered" or stored.referral_id is None:
        raise ApiError(400, "invalidRequest", "the command of this request id was refused")
    record = await store.get(stored.referral_id, tenant_id)
    if record is None:
        raise ApiError(404, "itemNotFound", "no referral with this id")
    return record.referral.encoded(dumps), record.referral.e_tag or ""
