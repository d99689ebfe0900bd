"""The write operations' part of ``/openapi.json``: their request bodies (the ``Referral``
model, a ``JsonPatch``), the request-id headers they read (``write_commands``) and the
answers each really sends, with the headers sent."""

from typing import Any, Final

from service.api.openapi import _ANY_REQUEST, Responses, _error, _header, _ref, _response

_JSON: Final = "application/json"
_REQUEST_ID: Final = _header("The request id: the command's id (sent, or made for it)")
_ETAG: Final = _header("The referral's eTag after the write")
_RETRY_AFTER: Final = _header("Seconds to wait")
#: A refusal of the command once sent carries its request id; one before, not.
_REFUSAL: Final = {"request-id": _header("The request id, when the command was sent")}
_ID_HEADERS: Final = {
    "MS-RequestId": "The request id: the command's id, with the tenant its idempotency key (a"
    " retry with the same id is answered, not applied again). Else request-id, else"
    " Idempotency-Key; none: one is made. At most the service's attribute length, no"
    " control characters.",
    "request-id": "The request id, when MS-RequestId is not given.",
    "Idempotency-Key": "The request id, when neither MS-RequestId nor request-id is given.",
    "MS-CorrelationId": "The command's correlation id, carried to the events it causes.",
}
_ID_PARAMETERS: Final = [
    {"name": name, "in": "header", "required": False, "description": text,
     "schema": {"type": "string"}}
    for name, text in _ID_HEADERS.items()
]  # fmt: skip
_WRITE_ERRORS: Final[Responses] = {
    400: _error(
        "A malformed parameter, body or request id, or the command's refusal (invalidRequest)",
        headers=_REFUSAL,
    ),
    403: _error("No write permission, or the command's refusal (accessDenied)", headers=_REFUSAL),
    413: _error("The body is larger than the command limit (invalidRequest)"),
    503: _error(
        "The broker, the service or the store did not answer; try again (serviceUnavailable)",
        headers={"Retry-After": _RETRY_AFTER},
    ),
}
_ACCEPTED: Final = _response(
    "No outcome within the wait: the command is sent; the status URL answers its outcome",
    "ReferralOperation",
    headers={
        "Location": _header("The status URL"),
        "request-id": _REQUEST_ID,
        "Retry-After": _header("Seconds before asking the status URL"),
    },
)
_REJECTIONS: Final[Responses] = {
    404: _error("No referral with this id in the caller's tenant (itemNotFound)", headers=_REFUSAL),
    409: _error("A create of an id the tenant already has (conflict)", headers=_REFUSAL),
    412: _error(
        "If-Match is stale, or missing on a replace (preconditionFailed, target ETag)",
        headers=_REFUSAL,
    ),
}


def write_request(schema: str, *, many: bool = False) -> dict[str, Any]:
    """``openapi_extra`` of a write: its request body (the route reads it raw: the
    ``schema``, or a list of them) and the request-id headers it reads."""
    named = {"type": "array", "items": _ref(schema)} if many else _ref(schema)
    return {
        "parameters": _ID_PARAMETERS,
        "requestBody": {"required": True, "content": {_JSON: {"schema": named}}},
    }


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
    200: _response(
        "What became of the write",
        "ReferralOperation",
        headers={"Retry-After": _header("Seconds before asking again, while running")},
    ),
    404: _error("No write with this request id in the caller's tenant (itemNotFound)"),
    **_ANY_REQUEST,
}
