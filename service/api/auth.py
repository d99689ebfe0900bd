"""Who is calling: every request names a tenant through ``Authorization: Bearer ...``.

- A JWT (OAuth2/OIDC access token) is verified against the configured issuer, audience
  and JWKS (a file, or a URL fetched as ``service.api.signing_keys`` says, so that no
  caller can make the service lean on it); its tenant is the configured claim. A
  token whose roles claim holds the all-tenants role reads every tenant's referrals and
  the tenant-less ones.
- Otherwise the bearer value is looked up among the static API keys (key -> tenant, ``*``
  for every tenant, or key -> ``{"tenant": ..., "write": true}``), compared by digest.
- Changing what the service holds for a tenant (its webhook registration) needs write
  permission: the write role (``Referrals.ReadWrite``) in a token's roles claim, or an API
  key given ``"write": true``.
- ``open_access`` is the development mode of ``referrals dev``: no check, every tenant.

Anything missing or wrong is a 401 that names the problem, never the credentials.
"""

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from service.api.errors import unauthenticated
from service.api.signing_keys import JwksFile, JwksUrl, SigningKeys
from service.errors import ConfigurationError
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller: its tenant, or ``None`` with ``all_tenants`` for one that reads them all."""

    tenant_id: str | None
    all_tenants: bool = False
    kind: str = "jwt"
    can_write: bool = False


EVERY_TENANT = Principal(None, all_tenants=True, kind="open", can_write=True)
#: Turns the bearer value (None: none sent) into the caller, or raises ApiError.
Authenticate = Callable[[str | None], Awaitable[Principal]]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _key_grant(given: object) -> tuple[str, bool]:
    """(tenant, write) of an API key's entry: a tenant id, or {"tenant", "write"}."""
    if isinstance(given, dict):
        write = given.get("write", False)
        known = isinstance(write, bool) and set(given) <= {"tenant", "write"}
        given = given.get("tenant") if known else None
    else:
        write = False
    if not isinstance(given, str) or not given:
        raise ConfigurationError(
            'api_keys: every key maps to a tenant id or \'*\', or {"tenant": ..., "write": true}'
        )
    return given, write


class ApiKeys:
    def __init__(self, keys: Mapping[str, object]) -> None:
        self._grants = {_digest(key): _key_grant(given) for key, given in keys.items()}

    def principal(self, key: str) -> Principal | None:
        grant = self._grants.get(_digest(key))
        if grant is None:
            return None
        tenant, write = grant
        if tenant == "*":
            return Principal(None, all_tenants=True, kind="key", can_write=write)
        return Principal(tenant, kind="key", can_write=write)


class BearerTokens:
    def __init__(self, settings: Settings) -> None:
        assert settings.api_jwt_issuer
        assert settings.api_jwt_audience
        self.issuer, self.audience = settings.api_jwt_issuer, settings.api_jwt_audience
        self.algorithms = settings.api_jwt_algorithms
        self.leeway = settings.api_jwt_leeway_seconds
        self.tenant_claim, self.roles_claim = settings.api_tenant_claim, settings.api_roles_claim
        self.all_tenants_role = settings.api_all_tenants_role
        self.write_role = settings.api_write_role
        self.keys = _signing_keys(settings)

    async def principal(self, token: str) -> Principal:
        key = await self._signing_key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise unauthenticated("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise unauthenticated("the token is not meant for this audience") from None
        except jwt.InvalidIssuerError:
            raise unauthenticated("the token is not from the configured issuer") from None
        except jwt.InvalidSignatureError:
            raise unauthenticated("the token's signature does not verify") from None
        except jwt.InvalidTokenError as error:
            raise unauthenticated(f"the token is not valid ({type(error).__name__})") from None
        return self._caller(claims)

    def _caller(self, claims: Mapping[str, Any]) -> Principal:
        roles = claims.get(self.roles_claim)
        held = roles.split() if isinstance(roles, str) else roles if isinstance(roles, list) else []
        write = self.write_role in held
        if self.all_tenants_role in held:
            return Principal(None, all_tenants=True, can_write=write)
        tenant = claims.get(self.tenant_claim)
        if not isinstance(tenant, str) or not tenant:
            raise unauthenticated(f"the token has no '{self.tenant_claim}' claim naming a tenant")
        return Principal(tenant, can_write=write)

    async def _signing_key(self, token: str) -> Any:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError:
            raise unauthenticated("the token is not signed by a key of the JWKS") from None
        return await self.keys.key(kid)


def _signing_keys(settings: Settings) -> SigningKeys:
    if settings.api_jwks_file:
        return JwksFile(settings.api_jwks_file)
    assert settings.api_jwks_url
    return JwksUrl(
        settings.api_jwks_url,
        refresh_seconds=settings.api_jwks_refresh_seconds,
        timeout_seconds=settings.api_jwks_timeout_seconds,
        max_bytes=settings.api_jwks_max_bytes,
    )


class Authenticator:
    """Bearer JWTs and API keys, whichever are configured; at least one must be."""

    def __init__(self, tokens: BearerTokens | None, keys: ApiKeys | None) -> None:
        self.tokens, self.keys = tokens, keys

    async def __call__(self, bearer: str | None) -> Principal:
        if not bearer:
            raise unauthenticated("no credentials: send Authorization: Bearer <token or key>")
        if self.keys is not None:
            found = self.keys.principal(bearer)
            if found is not None:
                return found
        if self.tokens is not None and bearer.count(".") == 2:
            return await self.tokens.principal(bearer)
        raise unauthenticated("the bearer value is neither a valid token nor a known API key")

    async def close(self) -> None:
        if self.tokens is not None:
            await self.tokens.keys.close()


async def open_access(_: str | None) -> Principal:
    return EVERY_TENANT


def authenticator(settings: Settings) -> Authenticator | None:
    """The authentication the settings configure; None when they configure none."""
    tokens = BearerTokens(settings) if settings.api_jwt_issuer else None
    keys = _api_keys(settings)
    return Authenticator(tokens, keys) if tokens or keys else None


def _api_keys(settings: Settings) -> ApiKeys | None:
    keys: dict[str, object] = {}
    sources = []
    if settings.api_keys is not None:
        sources.append(("api_keys", settings.api_keys.get_secret_value()))
    if settings.api_keys_file:
        try:
            sources.append(("api_keys_file", Path(settings.api_keys_file).read_text()))
        except OSError as error:
            raise ConfigurationError(f"api_keys_file: {error.strerror}") from None
    for name, text in sources:
        try:
            given = json.loads(text)
        except json.JSONDecodeError:
            raise ConfigurationError(f"{name} is not a JSON object of key -> tenant") from None
        if not isinstance(given, dict):
            raise ConfigurationError(f"{name} is not a JSON object of key -> tenant")
        keys.update(given)
    return ApiKeys(keys) if keys else None
