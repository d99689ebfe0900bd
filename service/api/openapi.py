"""What ``/openapi.json`` says the responses hold: the referral document (the JSON Schema
the contract publishes for it, generated from the model, unknown fields kept), the OData
collection and the error body."""

from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.schemas import shape_schema
from state import Referral

_JSON: Final = "application/json"
_REFERRAL, _REFERRAL_DEFINITIONS = shape_schema(Referral, "#/components/schemas/{model}")
#: The schemas the responses refer to, under the document's ``components``.
COMPONENTS: Final[dict[str, Any]] = {**_REFERRAL_DEFINITIONS, "Referral": _REFERRAL}
_REFERRAL_SCHEMA: Final[dict[str, Any]] = {"$ref": "#/components/schemas/Referral"}
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


def with_components(app: FastAPI) -> None:
    """Generate the app's document once, with the referral's schemas in its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            document.setdefault("components", {}).setdefault("schemas", {}).update(COMPONENTS)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
