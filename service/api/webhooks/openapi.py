"""The webhook registration routes' part of ``/openapi.json``: the answers each really sends
(``routes``), their bodies the named schemas of ``models``."""

from typing import Final

from service.api.openapi import _ANY_REQUEST, Responses, _error, _header, _response

_DENIED: Final = _error("No write permission, or another tenant named (accessDenied)")
_NONE: Final = _error("The tenant has no webhook registration (itemNotFound)")
_REFUSED_BODY: Final = _error(
    "A malformed parameter or body, unknown events, or an unsafe WebhookUrl, naming why"
    " (invalidRequest)"
)
_WITH_SECRET: Final = "WebhookRegistrationWithSecret"

REGISTERED: Final[Responses] = {
    201: _response("Registered; the signing secret is answered this once", _WITH_SECRET),
    **_ANY_REQUEST,
    400: _REFUSED_BODY,
    403: _DENIED,
    409: _error("The tenant has a registration: PUT replaces it (conflict)"),
}
REPLACED: Final[Responses] = {
    200: _response("Replaced, with a new signing secret, answered this once", _WITH_SECRET),
    **_ANY_REQUEST,
    400: _REFUSED_BODY,
    403: _DENIED,
}
SHOWN: Final[Responses] = {
    200: _response("The tenant's registration, without its secret", "WebhookRegistration"),
    403: _error("Another tenant named (accessDenied)"),
    404: _NONE,
    **_ANY_REQUEST,
}
DELETED: Final[Responses] = {
    204: {"description": "Deleted, with its undelivered notifications"},
    403: _DENIED,
    404: _NONE,
    **_ANY_REQUEST,
}
TEST_EVENT: Final[Responses] = {
    200: _response("A test-created notification is queued for the URL", "WebhookTestEvent"),
    403: _DENIED,
    404: _NONE,
    429: _error(
        "The tenant's test events of the last minute are at the limit (tooManyRequests)",
        headers={"Retry-After": _header("Seconds to wait")},
    ),
    **_ANY_REQUEST,
}
