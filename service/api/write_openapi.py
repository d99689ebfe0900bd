"""The write operations' part of ``/openapi.json``: their request bodies (the ``Referral``
model, a ``JsonPatch``) and the answers each really sends."""

from typing import Any, Final

from service.api.openapi import _ANY_REQUEST, Responses, _error, _header, _ref, _response

_JSON: Final = "application/json"
_REQUEST_ID: Final = _header("The request id: the command's id (sent, or made for it)")
_ETAG: Final = _header("The referral's eTag after the write")
_WRITE_ERRORS: Final[Responses] = {
    403: _error("No write permission (accessDenied), or the command's refusal"),
    413: _error("The body is larger than the command limit (invalidRequest)"),
    503: _error(
        "The broker, the service or the store did not answer; try again (serviceUnavailable)",
        headers={"Retry-After": _header("Seconds to wait")},
    ),
}
_ACCEPTED: Final = _response(
    "No outcome within the wait: the command is sent; the status URL answers its outcome",
    "ReferralOperation",
    headers={"Location": _header("The status URL"), "request-id": _REQUEST_ID},
)
_REJECTIONS: Final[Responses] = {
    404: _error("No referral with this id in the caller's tenant (itemNotFound)"),
    409: _error("A create of an id the tenant already has (conflict)"),
    412: _error("If-Match is stale, or missing on a replace (preconditionFailed, target ETag)"),
}


def write_body(schema: str, *, many: bool = False) -> dict[str, Any]:
    """``openapi_extra`` naming a route's request body (the route reads it raw): the
    ``schema``, or a list of them."""
    named = {"type": "array", "items": _ref(schema)} if many else _ref(schema)
    return {"requestBody": {"required": True, "content": {_JSON: {"schema": named}}}}


def _applied(description: str, status: int) -> Responses:
    headers = {"ETag": _ETAG, "request-id": _REQUEST_ID}
    if status == 201:
        headers["Location"] = _header("The referral's URL")
    return {status: _response(description, "Referral", headers=headers)}


CREATED: Final[Responses] = {
    **_applied("The referral as created", 201),
    202: _ACCEPTED,
    **_REJECTIONS,
    **_ANY_REQUEST,
    **_WRITE_ERRORS,
}
REPLACED: Final[Responses] = {
    **_applied("The referral as replaced", 200),
    202: _ACCEPTED,
    **_REJECTIONS,
    **_ANY_REQUEST,
    **_WRITE_ERRORS,
}
PATCHED: Final[Responses] = {
    **_applied("The referral as patched (with Prefer: return=representation)", 200),
    204: {
        "description": "Patched (without Prefer: return=representation)",
        "headers": {"ETag": _ETAG, "request-id": _REQUEST_ID},
    },
    202: _ACCEPTED,
    **_REJECTIONS,
    **_ANY_REQUEST,
    **_WRITE_ERRORS,
}
OPERATION: Final[Responses] = {
    200: _response("What became of the write", "ReferralOperation"),
    404: _error("No write with this request id in the caller's tenant (itemNotFound)"),
    **_ANY_REQUEST,
}
