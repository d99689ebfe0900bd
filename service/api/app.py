"""The read API's routes: Partner Center's ``GET /v1.0/engagements/referrals[/{id}]``.

A referral is returned as the very document its events carry, with its ``eTag`` as the
``ETag`` header (``If-None-Match`` answered with 304). A list is an OData collection of
at most ``$top`` (100) referrals, ordered by ``$orderby``, filtered by ``$filter`` within
the caller's tenant, continued by ``@odata.nextLink``. ``HEAD`` is answered as ``GET``
without a body; a method a route does not take is a 405 naming the ones it does
(``Allow``). ``/openapi.json`` is generated from these routes and the models, and the
OData ``$metadata`` a list's ``@odata.context`` names is served
(``service.api.metadata``).

Links start with the configured public URL, or are relative to the server's root: never
built from the request's ``Host``, which a caller (or a proxy passing it through) chooses.
"""

from importlib.metadata import version
from typing import Annotated, Any, Final
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.api import errors, metadata
from service.api.auth import Authenticate, Principal
from service.api.errors import CONTENT_TYPE, invalid, not_found
from service.api.filters.parsing import FilterError, parse_filter, parse_orderby
from service.api.logging import RequestLog
from service.api.openapi import MAX_PAGE, REFERRAL, REFERRAL_LIST, with_components
from service.api.paging import decode_token, encode_token, query_digest
from service.api.webhooks.routes import WebhookOptions, route_webhooks
from service.api.writes.flow import Writes
from service.api.writes.routes import route_writes
from service.jsonio import dumps, encoded
from service.store import Store
from service.store.query import FIELDS, Column, Filter, ReferralQuery

PREFIX: Final = f"{metadata.SERVICE_ROOT}/{metadata.ENTITY_SET}"
MAX_TOP: Final = MAX_PAGE
#: Every route answers HEAD as it answers GET, without the body (the server drops it).
_READ: Final = ["GET", "HEAD"]
_OPTIONS: Final = {"$filter", "$orderby", "$top", "$count", "$skiptoken"}
#: The options a next link carries on, besides its own $skiptoken.
_KEPT_OPTIONS: Final = ("$filter", "$orderby", "$top", "$count")
_bearer = HTTPBearer(auto_error=False, description="A JWT access token, or an API key")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def build_api(
    store: Store,
    authenticate: Authenticate,
    public_url: str | None = None,
    webhooks: WebhookOptions | None = None,
    writes: Writes | None = None,
) -> FastAPI:
    """The app; its links start with ``public_url`` (no trailing slash), else are relative.
    ``webhooks``: the registration routes' options (``service.api.webhooks.routes``); ``writes``:
    the write routes' sender (``service.api.writes.routes``), none: reads only."""
    root = (public_url or "").rstrip("/")
    app = FastAPI(
        title="Referral lifecycle service: read API",
        version=version("referral-lifecycle"),
        description="Partner Center's Referrals REST API, read side, over the service's store.",
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(RequestLog)
    with_components(app)

    caller = _caller(authenticate)
    _route_metadata(app)
    _route_one(app, store, caller)
    _route_list(app, store, caller, root)
    route_webhooks(app, store, caller, webhooks or WebhookOptions())
    if writes is not None:
        route_writes(app, writes, caller, root)
    return app


def _route_metadata(app: FastAPI) -> None:
    """The OData CSDL of the entity set, as open as ``/openapi.json``: it describes, it
    holds no referral."""

    @app.api_route(metadata.PATH, methods=_READ, include_in_schema=False)
    async def odata_metadata() -> Response:
        return Response(
            metadata.DOCUMENT, media_type=metadata.MEDIA_TYPE, headers={"OData-Version": "4.0"}
        )


def _caller(authenticate: Authenticate) -> Any:
    """The dependency that authenticates a request and names its tenant in the request log."""

    async def caller(request: Request, credentials: Bearer) -> Principal:
        principal = await authenticate(credentials.credentials if credentials else None)
        request.state.tenant = principal.tenant_id or ("*" if principal.all_tenants else "")
        return principal

    return Annotated[Principal, Depends(caller)]


def _route_one(app: FastAPI, store: Store, Caller: Any) -> None:
    """``GET /v1.0/engagements/referrals/{id}`` (``Caller``: the authenticated principal)."""

    @app.api_route(
        PREFIX + "/{referral_id}",
        methods=_READ,
        operation_id="getReferral",
        tags=["referrals"],
        responses=REFERRAL,
        response_class=Response,
    )
    async def get_referral(
        principal: Caller,
        referral_id: Annotated[str, Path(min_length=1, max_length=256)],
        tenant_id: Annotated[str | None, Query(alias="tenantId", max_length=256)] = None,
        if_none_match: Annotated[str | None, Header(alias="If-None-Match")] = None,
    ) -> Response:
        """A referral by its id, in the caller's tenant (``tenantId``: for all-tenants callers)."""
        record = await store.get(referral_id, _tenant_for_get(principal, tenant_id))
        if record is None:
            raise not_found()
        etag = record.referral.e_tag
        headers = {"ETag": etag} if etag else {}
        if etag and _matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        body = record.referral.encoded(dumps)
        return Response(body, headers=headers, media_type=CONTENT_TYPE)


def _route_list(app: FastAPI, store: Store, Caller: Any, root: str) -> None:
    """``GET /v1.0/engagements/referrals``: the OData collection, its links under ``root``."""

    @app.api_route(
        PREFIX,
        methods=_READ,
        operation_id="listReferrals",
        tags=["referrals"],
        responses=REFERRAL_LIST,
        response_class=Response,
    )
    async def list_referrals(
        principal: Caller,
        request: Request,
        filter_text: Annotated[str | None, Query(alias="$filter", max_length=2000)] = None,
        orderby: Annotated[str | None, Query(alias="$orderby", max_length=100)] = None,
        top: Annotated[int, Query(alias="$top", ge=1, le=MAX_TOP)] = MAX_TOP,
        count: Annotated[bool, Query(alias="$count")] = False,
        skiptoken: Annotated[str | None, Query(alias="$skiptoken", max_length=2000)] = None,
    ) -> Response:
        """Referrals of the caller's tenant, filtered, ordered and paged as OData does."""
        _refuse_unknown_options(request)
        order, descending = _order(orderby)
        digest = query_digest(filter_text, orderby)
        query = ReferralQuery(
            tenant_id=None if principal.all_tenants else principal.tenant_id,
            where=_filter(filter_text),
            order=order,
            descending=descending,
            limit=top + 1,
            after=decode_token(skiptoken, digest, order) if skiptoken else None,
        )
        page = await store.query(query, count=count)
        body: dict[str, Any] = {
            "@odata.context": metadata.context_url(root),
            "value": [encoded(document) for document in page.documents[:top]],
        }
        if count:
            body["@odata.count"] = page.total
        if len(page.documents) > top:
            token = encode_token(page.positions[top - 1], digest)
            body["@odata.nextLink"] = _next_link(root, request, token)
        return Response(dumps(body), media_type=CONTENT_TYPE)


def _next_link(root: str, request: Request, token: str) -> str:
    """The same query from the page after: the request's options, this ``$skiptoken``."""
    given = request.query_params
    options = [(name, given[name]) for name in _KEPT_OPTIONS if name in given]
    options.append(("$skiptoken", token))
    return f"{root}{PREFIX}?{urlencode(options, quote_via=quote, safe='$')}"


def _tenant_for_get(principal: Principal, asked: str | None) -> str | None:
    """Whose referral an id names: the caller's tenant; an all-tenants caller names one
    with ``tenantId`` (none: the tenant-less referral). A tenant asking for another's
    tenant finds nothing, as for a missing id."""
    if principal.all_tenants:
        return asked or None
    if asked is not None and asked != principal.tenant_id:
        raise not_found()
    return principal.tenant_id


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def _refuse_unknown_options(request: Request) -> None:
    for name in request.query_params:
        if name.startswith("$") and name not in _OPTIONS:
            raise invalid(f"the query option {name} is not supported", name)


def _order(orderby: str | None) -> tuple[Column, bool]:
    if orderby is None:
        return FIELDS["createdDateTime"], False
    try:
        return parse_orderby(orderby)
    except FilterError as error:
        raise invalid(str(error), "$orderby") from None


def _filter(text: str | None) -> Filter | None:
    if text is None:
        return None
    try:
        return parse_filter(text)
    except FilterError as error:
        raise invalid(str(error), "$filter") from None
