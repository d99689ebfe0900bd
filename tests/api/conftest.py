"""The read API over real HTTP: a real server on a free port, real stores (SQLite and
PostgreSQL), callers with real RSA-signed tokens (a key pair and JWKS made here) and API
keys, and referrals stored through the store's own batch write."""

import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

from service.api.compose import read_api
from service.api.server import ApiServer
from service.settings import Settings
from service.store import BatchWrite, ReferralWrite, Store, open_store
from state import Applied, Command, CommandType, ReferralRecord, decide
from tests.conftest import fresh_postgres_database

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


@pytest.fixture(scope="session")
def signer() -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return Signer(key, {"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]})


@pytest.fixture
def api_settings(tmp_path: Path, signer: Signer) -> Settings:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(signer.jwks))
    return Settings(
        database_url=SecretStr(f"sqlite:///{tmp_path / 'referrals.db'}"),
        api_port=0,
        api_jwt_issuer=ISSUER,
        api_jwt_audience=AUDIENCE,
        api_jwks_file=str(jwks),
        api_all_tenants_role=ALL_TENANTS_ROLE,
        api_keys=SecretStr(json.dumps(API_KEYS)),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'api.db'}"
        return
    async with fresh_postgres_database() as url:
        yield url


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


@pytest.fixture
async def api(api_settings: Settings, store_url: str) -> AsyncIterator[Api]:
    settings = api_settings.model_copy(update={"database_url": SecretStr(store_url)})
    async with running_api(settings) as running:
        yield running


@pytest.fixture
async def sqlite_api(api_settings: Settings) -> AsyncIterator[Api]:
    async with running_api(api_settings) as running:
        yield running


BASE_TIME = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def created(
    referral_id: str, tenant: str | None = "org-a", at: datetime = BASE_TIME, **document: Any
) -> ReferralRecord:
    command = Command(
        type=CommandType.CREATE,
        command_id=f"create-{uuid.uuid4()}",
        referral_id=referral_id,
        tenant_id=tenant,
        data={"name": f"Referral {referral_id}", **document},
    )
    decision = decide(None, command, at)
    assert isinstance(decision, Applied), decision
    return decision.record


def moved(record: ReferralRecord, kind: CommandType, at: datetime) -> ReferralRecord:
    command = Command(
        type=kind,
        command_id=f"move-{uuid.uuid4()}",
        referral_id=record.referral_id,
        tenant_id=record.tenant_id,
    )
    decision = decide(record, command, at)
    assert isinstance(decision, Applied), decision
    return decision.record


async def store_new(store: Store, *records: ReferralRecord) -> None:
    await store.write(BatchWrite(referrals=[ReferralWrite(r, 0) for r in records]))


async def store_changed(store: Store, before: ReferralRecord, after: ReferralRecord) -> None:
    await store.write(BatchWrite(referrals=[ReferralWrite(after, before.version)]))


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)
