"""What ``/openapi.json`` says the responses hold: the referral document (Partner Center's
schema, unknown fields kept), the OData collection and the error body."""

from typing import Any, Final

_JSON: Final = "application/json"
_REFERRAL_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "A referral as its events carry it (Partner Center's camelCase JSON)",
    "properties": {
        "id": {"type": "string"},
        "status": {"type": "string"},
        "substatus": {"type": "string"},
        "eTag": {"type": "string"},
        "version": {"type": "integer"},
        "createdDateTime": {"type": "string"},
        "updatedDateTime": {"type": "string"},
    },
    "required": ["id", "status", "substatus"],
    "additionalProperties": True,
}
_ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "target": {"type": "string"},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
_LIST_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "@odata.context": {"type": "string"},
        "@odata.count": {"type": "integer", "minimum": 0},
        "@odata.nextLink": {"type": "string"},
        "value": {"type": "array", "items": _REFERRAL_SCHEMA, "maxItems": 100},
    },
    "required": ["@odata.context", "value"],
}


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _response(description, _ERROR_SCHEMA)


REFERRAL: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        **_response("The referral", _REFERRAL_SCHEMA),
        "headers": {"ETag": {"schema": {"type": "string"}, "description": "its eTag"}},
    },
    304: {"description": "Not modified: If-None-Match names its eTag"},
    404: _error("No referral with this id in the caller's tenant (itemNotFound)"),
}
REFERRAL_LIST: Final[dict[int | str, dict[str, Any]]] = {
    200: _response("A page of referrals", _LIST_SCHEMA),
}
ERROR: Final[dict[int | str, dict[str, Any]]] = {
    400: _error("A malformed query (invalidRequest)"),
    401: _error("No credentials, or credentials that do not hold (unauthenticated)"),
    503: _error("The store or the JWKS did not answer (serviceUnavailable)"),
}
