"""``/openapi.json``: the routes' parameters as FastAPI reads them, and every body as a
named component schema generated from the models, as the contract's JSON Schemas and
AsyncAPI document are (``service.schemas``): ``Referral`` (the model), ``ReferralPage``
(the OData collection), ``ErrorBody``, the writes' (``writes.models``) and the webhook
registration's (``webhooks.models``). Each operation lists only the answers the API
gives (no 422: a malformed parameter is a 400 ``invalidRequest``), and both credentials
the API takes are security schemes of their own, either one enough.

Client generators get readable classes from it: ``openapi-python-client`` and
``datamodel-codegen`` are run on it in the tests.
"""

import copy
from typing import Annotated, Any, Final, NotRequired

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import Field
from starlette.routing import BaseRoute
from typing_extensions import TypedDict  # pydantic reads it for the schema on Python 3.11

from service.api.errors import ErrorBody
from service.api.webhooks import models as webhook_models
from service.api.writes.models import PatchOperation, ReferralOperation
from service.schemas import shape_schema
from state import Referral

_JSON: Final = "application/json"
_TEMPLATE: Final = "#/components/schemas/{model}"
MAX_PAGE: Final = 100

#: The list's body: OData's collection; the names are not identifiers, hence the call form.
ReferralPage = TypedDict(
    "ReferralPage",
    {
        "@odata.context": Annotated[
            str, Field(description="The $metadata URL of the entity set: ...$metadata#referrals")
        ],
        "@odata.count": NotRequired[
            Annotated[int, Field(ge=0, description="How many match in all (with $count=true).")]
        ],
        "@odata.nextLink": NotRequired[
            Annotated[str, Field(description="The same query's next page, while more match.")]
        ],
        "value": Annotated[list[Referral], Field(max_length=MAX_PAGE)],
    },
)
ReferralPage.__doc__ = "A page of referrals: an OData collection, continued by its nextLink."


#: Every body the document names, by its name.
NAMED_SHAPES: Final[dict[str, Any]] = {
    "Referral": Referral,
    "ReferralPage": ReferralPage,
    "ErrorBody": ErrorBody,
    "ReferralOperation": ReferralOperation,
    "PatchOperation": PatchOperation,
    **{
        shape.__name__: shape
        for shape in (
            webhook_models.WebhookRegistrationRequest,
            webhook_models.WebhookRegistration,
            webhook_models.WebhookRegistrationWithSecret,
            webhook_models.WebhookTestEvent,
        )
    },
}


def _components() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name, shape in NAMED_SHAPES.items():
        schema, definitions = shape_schema(shape, _TEMPLATE)
        schemas |= definitions | {name: schema}
    return dict(sorted(schemas.items()))


#: The schemas the responses refer to, under the document's ``components``.
COMPONENTS: Final[dict[str, Any]] = _components()
#: Both are sent as ``Authorization: Bearer ...``; the API tells them apart.
SECURITY_SCHEMES: Final[dict[str, Any]] = {
    "accessToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An OAuth2/OIDC access token of the configured issuer and audience;"
        " the write role (REFERRALS_API_WRITE_ROLE, by default Referrals.ReadWrite) in its"
        " roles claim gives write permission.",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A static API key (REFERRALS_API_KEYS), sent as the bearer value; a"
        ' key given "write": true has write permission.',
    },
}
_EITHER_CREDENTIAL: Final[list[dict[str, list[str]]]] = [{name: []} for name in SECURITY_SCHEMES]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _TEMPLATE.format(model=name)}


def _response(description: str, schema: str, **more: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": _ref(schema)}}, **more}


def _error(description: str, **more: Any) -> dict[str, Any]:
    return _response(description, "ErrorBody", **more)


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


Responses = dict[int | str, dict[str, Any]]
_ANY_REQUEST: Final[Responses] = {
    400: _error("A malformed parameter or query (invalidRequest)"),
    401: _error(
        "No credentials, or credentials that do not hold (unauthenticated)",
        headers={"WWW-Authenticate": _header("Bearer")},
    ),
    500: _error("A fault of the service (internalServerError)"),
    503: _error("The store or the JWKS URL did not answer; try again (serviceUnavailable)"),
}
#: What ``GET .../referrals/{id}`` answers.
REFERRAL: Final[Responses] = {
    200: _response("The referral", "Referral", headers={"ETag": _header("Its eTag")}),
    304: {
        "description": "Not modified: If-None-Match names its eTag",
        "headers": {"ETag": _header("Its eTag")},
    },
    404: _error("No referral with this id in the caller's tenant (itemNotFound)"),
    **_ANY_REQUEST,
}
#: What ``GET .../referrals`` answers.
REFERRAL_LIST: Final[Responses] = {
    200: _response("A page of referrals", "ReferralPage"),
    **_ANY_REQUEST,
}


def with_components(app: FastAPI) -> None:
    """Generate the app's document once: the routes, the named schemas, both credentials."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[_as_get(route) for route in app.routes],
            )
            app.openapi_schema = _completed(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def _as_get(route: BaseRoute) -> BaseRoute:
    """A route answering GET and HEAD, documented once: HEAD is GET without a body."""
    if not isinstance(route, APIRoute) or "HEAD" not in (route.methods or ()):
        return route
    documented = copy.copy(route)
    documented.methods = {method for method in route.methods or () if method != "HEAD"}
    return documented


def _completed(document: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's document with what it cannot know: no 422 is ever sent, and which
    credentials are taken."""
    for path in document["paths"].values():
        for operation in path.values():
            operation["responses"].pop("422", None)
            operation["security"] = _EITHER_CREDENTIAL
    document["components"] = {"schemas": COMPONENTS, "securitySchemes": SECURITY_SCHEMES}
    return document
