"""The write routes, Partner Center's: ``POST /v1.0/engagements/referrals`` (create),
``PATCH .../referrals/{id}`` (JSON Patch, ``add``/``replace``; ``If-Match`` used when sent),
``PUT .../referrals/{id}`` (the whole document; ``If-Match`` required: without it 412
``preconditionFailed``, nothing sent), and ``GET .../referralOperations/{requestId}``, the
status of a write answered 202. Each write becomes one command (``commands``), sent
and awaited (``flow``), answered as ``answers`` says.

Writes need write permission (``Principal.can_write``), act as the caller's tenant (an
all-tenants caller names one with ``tenantId``), and are held to the command limits: a body
over ``REFERRALS_MAX_COMMAND_BYTES`` is a 413, a patch of more operations than
``REFERRALS_MAX_PATCH_OPERATIONS`` a 400, before anything is sent.
"""

import uuid
from typing import Annotated, Any, Final

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from service.api import metadata
from service.api.errors import CONTENT_TYPE, ApiError, invalid
from service.api.writes import commands as write_commands
from service.api.writes.answers import WriteKind, answer
from service.api.writes.commands import WriteCommand
from service.api.writes.flow import Pending, Writes, WritesUnavailable
from service.api.writes.openapi import CREATED, OPERATION, PATCHED, REPLACED, write_request
from service.api.writes.status import operation_response
from service.jsonio import JsonRefused, dumps, loads

REFERRALS: Final = f"{metadata.SERVICE_ROOT}/{metadata.ENTITY_SET}"
OPERATIONS: Final = f"{metadata.SERVICE_ROOT}/referralOperations"
RETRY_AFTER: Final = "5"
_PROPAGATOR: Final = TraceContextTextMapPropagator()
ReferralId = Annotated[str, Path(min_length=1, max_length=256)]
TenantOption = Annotated[str | None, Query(alias="tenantId", max_length=256)]
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=256,
        description="The referral's eTag as last read: a write of a changed referral is 412",
    ),
]
Prefer = Annotated[
    str | None,
    Header(
        alias="Prefer",
        max_length=256,
        description="return=representation: a patch is answered 200 with the referral, not 204",
    ),
]


def route_writes(app: FastAPI, writes: Writes, Caller: Any, root: str) -> None:
    """The write routes over ``writes`` (``Caller``: the authenticated principal)."""
    sender = _Sender(writes, root)
    _route_create(app, sender, Caller)
    _route_update(app, sender, Caller)
    _route_replace(app, sender, Caller)

    @app.api_route(OPERATIONS + "/{request_id}", methods=["GET", "HEAD"],
                   operation_id="getReferralOperation", tags=["referrals"], responses=OPERATION,
                   response_class=Response)  # fmt: skip
    async def get_referral_operation(
        principal: Caller,
        request_id: Annotated[str, Path(min_length=1, max_length=256)],
        tenant_id: TenantOption = None,
    ) -> Response:
        """What became of a write: running, succeeded (with the referral) or failed."""
        tenant = _reader(principal, tenant_id)
        return await operation_response(writes, root, REFERRALS, tenant, request_id)


class _Sender:
    """Sends a write's command, awaits its outcome and answers with it."""

    def __init__(self, writes: Writes, root: str) -> None:
        self.writes, self.settings, self.root = writes, writes.settings, root

    def ids(self, request: Request) -> tuple[str, str | None]:
        return _ids(request, self.settings.max_attribute_length)

    async def body(self, request: Request) -> Any:
        return await _body(request, self.settings.max_command_bytes)

    async def __call__(
        self, request: Request, kind: WriteKind, tenant: str | None, command: WriteCommand
    ) -> Response:
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)  # the request's span, when the API is traced
        command = write_commands.traced(command, carrier)
        try:
            settled = await self.writes.submit(command, self.settings.api_write_wait_seconds)
        except WritesUnavailable as error:
            retry = {"Retry-After": RETRY_AFTER}
            message = f"{error}; try again"
            raise ApiError(503, "serviceUnavailable", message, headers=retry) from None
        request_id = {"request-id": str(command.envelope["id"])}
        if isinstance(settled, Pending):
            return _accepted(self.root, command, request_id)
        location = f"{self.root}{REFERRALS}/{command.referral_id}"
        representation = "return=representation" in (request.headers.get("prefer") or "")
        store = self.writes.store
        response = await answer(settled, kind, store, tenant, location, representation)
        response.headers.update(request_id)
        return response


def _route_create(app: FastAPI, send: _Sender, Caller: Any) -> None:
    @app.post(REFERRALS, operation_id="createReferral", tags=["referrals"], responses=CREATED,
              status_code=201, openapi_extra=write_request("Referral"),
              response_class=Response)  # fmt: skip
    async def create_referral(
        principal: Caller, request: Request, tenant_id: TenantOption = None
    ) -> Response:
        """Create a referral: the document as Partner Center's create sends it."""
        tenant = _writer(principal, tenant_id)
        command_id, correlation = send.ids(request)
        document = await send.body(request)
        command = write_commands.create(send.settings, command_id, tenant, document, correlation)
        return await send(request, "create", tenant, command)


def _route_update(app: FastAPI, send: _Sender, Caller: Any) -> None:
    @app.patch(REFERRALS + "/{referral_id}", operation_id="updateReferral", tags=["referrals"],
               responses=PATCHED, openapi_extra=write_request("PatchOperation", many=True),
               response_class=Response)  # fmt: skip
    async def update_referral(
        principal: Caller,
        request: Request,
        referral_id: ReferralId,
        tenant_id: TenantOption = None,
        if_match: IfMatch = None,
        prefer: Prefer = None,
    ) -> Response:
        """Change a referral with a JSON Patch (``add``, ``replace``); ``If-Match`` optional;
        ``Prefer: return=representation`` answers with the referral."""
        tenant = _writer(principal, tenant_id)
        command_id, correlation = send.ids(request)
        operations = await send.body(request)
        most = send.settings.max_patch_operations
        if isinstance(operations, list) and len(operations) > most:
            raise invalid(f"a patch has at most {most} operations", "body")
        command = write_commands.patch(
            send.settings, command_id, tenant, referral_id, operations, if_match, correlation
        )
        return await send(request, "patch", tenant, command)


def _route_replace(app: FastAPI, send: _Sender, Caller: Any) -> None:
    @app.put(REFERRALS + "/{referral_id}", operation_id="replaceReferral", tags=["referrals"],
             responses=REPLACED, openapi_extra=write_request("Referral"),
             response_class=Response)  # fmt: skip
    async def replace_referral(
        principal: Caller,
        request: Request,
        referral_id: ReferralId,
        tenant_id: TenantOption = None,
        if_match: IfMatch = None,
    ) -> Response:
        """Replace a referral with the whole document (``links`` ignored); ``If-Match``
        required."""
        tenant = _writer(principal, tenant_id)
        if not if_match:
            raise ApiError(412, "preconditionFailed", "a replace needs the If-Match header", "ETag")
        command_id, correlation = send.ids(request)
        document = await send.body(request)
        command = write_commands.replace(
            send.settings, command_id, tenant, referral_id, document, if_match, correlation
        )
        return await send(request, "replace", tenant, command)


def _writer(principal: Any, asked: str | None) -> str | None:
    if not principal.can_write:
        raise ApiError(403, "accessDenied", "writing referrals needs write permission")
    return _reader(principal, asked)


def _reader(principal: Any, asked: str | None) -> str | None:
    """The tenant a request acts as: the caller's; an all-tenants caller names one."""
    if principal.all_tenants:
        return asked or None
    if asked is not None and asked != principal.tenant_id:
        raise ApiError(404, "itemNotFound", "no referral with this id")
    return str(principal.tenant_id)


def _ids(request: Request, limit: int) -> tuple[str, str | None]:
    """The command id (the request's, else the one the request log made) and the
    correlation id (``MS-CorrelationId``), each refused when no command could carry it."""
    given = write_commands.request_id(request.headers)
    command_id = given or getattr(request.state, "request_id", None) or str(uuid.uuid4())
    correlation = request.headers.get("ms-correlationid") or None
    for name, value in (("request id", command_id), ("MS-CorrelationId", correlation)):
        problem = value and write_commands.attribute_problem(value, limit)
        if problem:
            raise invalid(f"the {name} {problem}", name)
    return command_id, correlation


async def _body(request: Request, limit: int) -> Any:
    """The request's JSON, read up to ``limit`` bytes (the command limit)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "invalidRequest", f"the body is larger than {limit} bytes", "body")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, "invalidRequest", f"the body is larger than {limit} bytes", "body")
    try:
        return loads(bytes(raw), unique_keys=True)
    except JsonRefused as error:
        raise invalid(str(error), "body") from None


def _accepted(root: str, command: WriteCommand, headers: dict[str, str]) -> Response:
    status_url = f"{root}{OPERATIONS}/{command.envelope['id']}"
    body = {"id": command.envelope["id"], "status": "running", "statusUrl": status_url}
    return Response(
        dumps(body),
        202,
        {**headers, "Location": status_url, "Retry-After": RETRY_AFTER},
        media_type=CONTENT_TYPE,
    )
