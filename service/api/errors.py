"""Errors of the read API, in the shape Partner Center's REST API answers them:
``{"error": {"code", "message", "target"?}}``, with a stable ``code`` a client may branch on.

- ``invalidRequest`` (400): a malformed query (``$filter``, ``$orderby``, ``$top``, token).
- ``unauthenticated`` (401): no credentials, or credentials that do not hold.
- ``itemNotFound`` (404): no such referral for this caller (another tenant's is not found).
- ``methodNotAllowed`` (405, with ``Allow``): the route exists, not for that method.
- ``serviceUnavailable`` (503): the store did not answer; try again.
- ``internalServerError`` (500): a fault of the service; the message says nothing more.
"""

import logging
from collections.abc import Mapping
from typing import Annotated, Final, NotRequired

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import Field
from starlette.exceptions import HTTPException
from starlette.routing import Match, Route
from typing_extensions import TypedDict  # pydantic reads it for the schema on Python 3.11

from service.errors import ServiceError
from service.jsonio import dumps

log = logging.getLogger(__name__)
CONTENT_TYPE: Final = "application/json; charset=utf-8"
_BY_STATUS: Final = {
    400: "invalidRequest",
    401: "unauthenticated",
    403: "accessDenied",
    404: "itemNotFound",
    405: "methodNotAllowed",
    406: "notAcceptable",
}


class ProblemDetail(TypedDict):
    """One problem of a refused write: where (a JSON Pointer into the body), and what."""

    code: str
    message: str
    target: NotRequired[str]


class InnerError(TypedDict):
    """The service's own code for a refused write (the Kafka rejection's ``code``)."""

    code: str


class ErrorDetail(TypedDict):
    """What went wrong: a stable code, a message for people, and what it is about."""

    code: Annotated[str, Field(description="Stable: a client may branch on it.")]
    message: str
    target: NotRequired[Annotated[str, Field(description="The query option or field.")]]
    details: NotRequired[list[ProblemDetail]]
    innerError: NotRequired[InnerError]


class ErrorBody(TypedDict):
    """Every error the API answers with: Partner Center's error body."""

    error: ErrorDetail


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        target: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.target = status, code, message, target
        self.headers = headers


def invalid(message: str, target: str) -> ApiError:
    return ApiError(400, "invalidRequest", message, target)


def not_found() -> ApiError:
    return ApiError(404, "itemNotFound", "no referral with this id")


def unauthenticated(message: str) -> ApiError:
    return ApiError(401, "unauthenticated", message)


def error_body(code: str, message: str, target: str | None = None) -> ErrorBody:
    error: ErrorDetail = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    return {"error": error}


def error_response(error: ApiError) -> Response:
    headers = dict(error.headers or {})
    if error.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    body = dumps(error_body(error.code, error.message, error.target))
    return Response(body, error.status, headers, media_type=CONTENT_TYPE)


def _allowed(request: Request) -> str:
    """Every method the routes of the request's path take."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


def install(app: FastAPI) -> None:
    """Every error the app can end in becomes the Partner Center error body."""

    async def api_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, ApiError)
        return error_response(error)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        code = _BY_STATUS.get(error.status_code, "invalidRequest")
        # The router's 405 names the methods of the first route of the path; a path served
        # by several routes (reads and writes) takes the methods of them all.
        headers = error.headers
        if error.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed(request)}
        problem = ApiError(error.status_code, code, str(error.detail), headers=headers)
        return error_response(problem)

    async def validation_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        problem = error.errors()[0]
        target = str(problem["loc"][-1]) if problem.get("loc") else None
        return error_response(invalid(str(problem["msg"]), target or "request"))

    async def store_error(_: Request, error: Exception) -> Response:
        return error_response(
            ApiError(503, "serviceUnavailable", "the store did not answer; try again")
        )

    async def fault(_: Request, error: Exception) -> Response:
        log.error("request failed", extra={"error": type(error).__name__})
        return error_response(ApiError(500, "internalServerError", "the service failed"))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(Exception, fault)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ServiceError, store_error)
