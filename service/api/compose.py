"""How the read API is put together from the settings: its app, its server, its caller check.

With no authentication configured the API is not served (and says so): reads are never
open by accident. Only ``referrals dev`` passes ``open_access``, and that is logged loudly.
"""

import logging

from prometheus_client import CollectorRegistry

from service.api.app import build_api
from service.api.auth import Authenticate, Authenticator, authenticator, open_access
from service.api.server import ApiServer
from service.api.telemetry import ApiTelemetry
from service.api.webhooks.routes import webhook_options
from service.api.writes.flow import Writes
from service.settings import Settings
from service.store import Store

log = logging.getLogger(__name__)
OFF_WARNING = (
    "read API off: configure REFERRALS_API_KEYS(_FILE) or REFERRALS_API_JWT_ISSUER,"
    " _AUDIENCE and REFERRALS_API_JWKS_URL (or _FILE)"
)
DEV_WARNING = (
    "the API runs WITHOUT AUTHENTICATION (development mode): anyone who reaches"
    " its port reads and writes every tenant's referrals"
)


def read_api(
    settings: Settings,
    store: Store,
    authenticate: Authenticate | None = None,
    *,
    registry: CollectorRegistry | None = None,
    telemetry: ApiTelemetry | None = None,
) -> ApiServer | None:
    """The API server for ``store``; None when the settings configure no authentication.
    Its requests are traced as the ``OTEL_*`` variables say and measured on ``registry``,
    unless ``telemetry`` says otherwise."""
    check = authenticate or authenticator(settings)
    if check is None:
        return None
    if check is open_access:
        log.warning(DEV_WARNING)
    observed = telemetry or ApiTelemetry.configured(registry)
    writes = Writes(settings, store)
    app = build_api(store, check, settings.api_public_url, webhook_options(settings), writes)
    observed.instrument(app)

    async def stopped() -> None:
        await writes.stop()
        observed.close()
        if isinstance(check, Authenticator):
            await check.close()

    return ApiServer(
        app,
        settings.api_bind_host,
        settings.api_port,
        settings.api_forwarded_allow_ips,
        on_stop=stopped,
    )
