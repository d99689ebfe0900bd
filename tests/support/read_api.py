"""The read API over real HTTP in tests: its auth settings, callers' tokens signed with a
key pair made here (and with one its JWKS does not hold), and a running server over a store.
"""

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

from service.api.compose import read_api
from service.api.server import ApiServer
from service.settings import Settings
from service.store import Store, open_store

ISSUER = "https://login.example.test/issuer/v2.0"
AUDIENCE = "api://referrals-test"
KID = "test-key-1"
ALL_TENANTS_ROLE = "Referrals.Read.AllTenants"
API_KEYS = {"key-org-a": "org-a", "key-org-b": "org-b", "key-operator": "*"}
REFERRALS = "/v1.0/engagements/referrals"


@dataclass(frozen=True)
class Signer:
    """Makes tokens with the test key pair, or with another key the JWKS does not hold."""

    key: rsa.RSAPrivateKey
    jwks: dict[str, Any]
    other: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def token(self, *, foreign_key: bool = False, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "sub": "user-1"}
        body.update(claims)
        body = {name: value for name, value in body.items() if value is not None}
        key = self.other if foreign_key else self.key
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": KID})


def new_signer() -> Signer:
    """A fresh key pair and the JWKS publishing its public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return Signer(key, {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]})


def api_settings_for(signer: Signer, folder: Path) -> Settings:
    """Settings accepting the signer's tokens and the API keys, over a SQLite file in
    ``folder`` (where the JWKS file is written too)."""
    jwks = folder / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks))
    return Settings(
        database_url=SecretStr(f"sqlite:///{folder / 'referrals.db'}"),
        api_port=0,
        api_jwt_issuer=ISSUER,
        api_jwt_audience=AUDIENCE,
        api_jwks_file=str(jwks),
        api_all_tenants_role=ALL_TENANTS_ROLE,
        api_keys=SecretStr(json.dumps(API_KEYS)),
    )


@dataclass
class Api:
    """A running read API and the store behind it."""

    server: ApiServer
    store: Store
    client: httpx.AsyncClient

    async def get(self, path: str, key: str | None = "key-org-a", **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.client.get(path, params=params or None, headers=headers)


@contextlib.asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[Api]:
    store = open_store(settings.database_url.get_secret_value())
    await store.open()
    server = read_api(settings, store)
    assert server is not None
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            yield Api(server, store, client)
    finally:
        await server.stop()
        await store.close()
