"""The read API over a JWKS URL that fails, hangs or rotates its keys, on real time: valid
tokens keep answering in milliseconds, forged ones cause no more fetches than one per
interval, and a rotated key is picked up once the interval is over."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from pydantic import SecretStr

from service.settings import Settings
from tests.support.jwks_server import JwksServer, jwks_of, key_pair, serving_jwks
from tests.support.read_api import REFERRALS, Api, running_api
from tests.support.stored_referrals import created, store_new

INTERVAL = 0.3
TIMEOUT = 0.5


@pytest.fixture
def jwks_server() -> Iterator[tuple[JwksServer, str]]:
    with serving_jwks() as serving:
        yield serving


@asynccontextmanager
async def _api_over(api_settings: Settings, url: str) -> AsyncIterator[Api]:
    settings = api_settings.model_copy(
        update={
            "api_jwks_file": None,
            "api_jwks_url": url,
            "api_keys": SecretStr("{}"),
            "api_jwks_refresh_seconds": INTERVAL,
            "api_jwks_timeout_seconds": TIMEOUT,
        }
    )
    async with running_api(settings) as api:
        await store_new(api.store, created("a-1"))
        yield api


async def _status(api: Api, token: str) -> int:
    response = await api.client.get(REFERRALS, headers={"Authorization": f"Bearer {token}"})
    return response.status_code


def _forged(n: int) -> str:
    """A token naming a key nobody published (signed by a key of its own)."""
    return key_pair(f"forged-{n % 3}").token()


@pytest.fixture(scope="module")
def forged_tokens() -> list[str]:
    return [_forged(n) for n in range(3)]


@pytest.mark.parametrize("answer", ["fail", "hang"])
async def test_forged_tokens_cause_at_most_one_fetch_per_interval(
    api_settings: Settings,
    jwks_server: tuple[JwksServer, str],
    forged_tokens: list[str],
    answer: str,
) -> None:
    server, url = jwks_server
    valid = key_pair("current")
    server.serve(jwks_of(valid))
    async with _api_over(api_settings, url) as api:
        assert await _status(api, valid.token()) == 200
        first_fetch = time.monotonic()
        server.mode = answer
        statuses: list[int] = []
        while time.monotonic() - first_fetch < 4 * INTERVAL:
            burst = [_status(api, forged_tokens[n % 3]) for n in range(6)]
            statuses += await asyncio.gather(*burst)
        elapsed = time.monotonic() - first_fetch
    assert set(statuses) == {401}
    assert 2 <= server.requests <= 1 + elapsed / INTERVAL, (server.requests, elapsed)


async def test_valid_tokens_answer_in_milliseconds_while_the_url_hangs(
    api_settings: Settings, jwks_server: tuple[JwksServer, str], forged_tokens: list[str]
) -> None:
    server, url = jwks_server
    valid = key_pair("current")
    server.serve(jwks_of(valid))
    async with _api_over(api_settings, url) as api:
        assert await _status(api, valid.token()) == 200
        server.mode = "hang"
        await asyncio.sleep(INTERVAL)  # the time after which a fetch is allowed again
        forged = [asyncio.create_task(_status(api, token)) for token in forged_tokens]
        await asyncio.to_thread(server.wait_for_requests, 2)
        token = valid.token()
        durations = []
        for _ in range(20):
            started = time.monotonic()
            assert await _status(api, token) == 200
            durations.append(time.monotonic() - started)
        assert await asyncio.gather(*forged) == [401] * 3
    assert max(durations) < TIMEOUT / 2, durations
    assert server.requests == 2


async def test_a_rotated_key_is_picked_up_after_the_interval(
    api_settings: Settings, jwks_server: tuple[JwksServer, str]
) -> None:
    server, url = jwks_server
    current, following = key_pair("current"), key_pair("following")
    server.serve(jwks_of(current))
    async with _api_over(api_settings, url) as api:
        assert await _status(api, current.token()) == 200
        server.serve(jwks_of(following))
        await asyncio.sleep(INTERVAL)  # the time after which a fetch is allowed again
        assert await _status(api, following.token()) == 200
        assert await _status(api, current.token()) == 401
        response = await api.client.get(
            REFERRALS, headers={"Authorization": f"Bearer {current.token()}"}
        )
    assert "not signed by a key of the JWKS" in response.json()["error"]["message"]


async def test_while_the_url_has_never_answered_tokens_are_a_503(
    api_settings: Settings, jwks_server: tuple[JwksServer, str], forged_tokens: list[str]
) -> None:
    server, url = jwks_server
    server.mode = "fail"
    async with _api_over(api_settings, url) as api:
        statuses = await asyncio.gather(*(_status(api, token) for token in forged_tokens * 3))
    assert set(statuses) == {503}
    assert server.requests == 1
