"""A JWKS URL is no lever: keys held answer at once, without a lock, whatever the URL does;
it is fetched at most once per interval, whatever the answer and however many callers ask;
a key still unknown after that is a 401 at once; a rotated key is picked up. A real HTTP
server plays the URL; the interval is measured on a clock the test moves."""

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from service.api.errors import ApiError
from service.api.signing_keys import JwksUrl
from tests.support.jwks_server import JwksServer, KeyPair, jwks_of, key_pair, serving_jwks

INTERVAL = 300.0
TIMEOUT = 0.5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Fixture:
    keys: JwksUrl
    server: JwksServer
    clock: Clock
    current: KeyPair


@pytest.fixture
async def jwks() -> AsyncIterator[Fixture]:
    current = key_pair("current")
    clock = Clock()
    with serving_jwks() as (server, url):
        server.serve(jwks_of(current))
        keys = JwksUrl(
            url, refresh_seconds=INTERVAL, timeout_seconds=TIMEOUT, max_bytes=65_536, clock=clock
        )
        try:
            yield Fixture(keys, server, clock, current)
        finally:
            await keys.close()


async def _refused(keys: JwksUrl, kid: str) -> int:
    with pytest.raises(ApiError) as refused:
        await keys.key(kid)
    return refused.value.status


@pytest.mark.parametrize("answer", ["keys", "fail", "hang", "garbage", "huge", "redirect"])
async def test_unknown_kids_fetch_at_most_once_per_interval_whatever_the_answer(
    jwks: Fixture, answer: str
) -> None:
    assert await jwks.keys.key("current") is not None
    jwks.server.mode = answer
    jwks.clock.now += INTERVAL
    started = time.monotonic()
    burst = await asyncio.gather(*(_refused(jwks.keys, f"forged-{n}") for n in range(20)))
    assert burst == [401] * 20
    assert time.monotonic() - started < TIMEOUT + 2, "waited for one bounded fetch at most"
    assert jwks.server.requests == 2
    jwks.clock.now += INTERVAL - 1
    assert [await _refused(jwks.keys, f"again-{n}") for n in range(20)] == [401] * 20
    assert jwks.server.requests == 2, "no fetch before the interval is over"
    assert await jwks.keys.key("current") is not None, "a failed fetch keeps the keys held"


async def test_a_key_held_answers_at_once_while_the_url_hangs(jwks: Fixture) -> None:
    await jwks.keys.key("current")
    jwks.server.mode = "hang"
    jwks.clock.now += INTERVAL
    waiting = asyncio.create_task(_refused(jwks.keys, "forged"))
    await asyncio.to_thread(jwks.server.wait_for_requests, 2)
    started = time.monotonic()
    for _ in range(100):
        await asyncio.wait_for(jwks.keys.key("current"), timeout=0.1)
    assert time.monotonic() - started < 0.5
    assert not waiting.done(), "the unknown kid is still waiting for the one fetch"
    assert await waiting == 401
    assert jwks.server.requests == 2


async def test_a_stale_set_is_refreshed_in_the_background(jwks: Fixture) -> None:
    await jwks.keys.key("current")
    jwks.server.mode = "hang"
    jwks.clock.now += INTERVAL
    await asyncio.wait_for(jwks.keys.key("current"), timeout=0.1)
    await asyncio.to_thread(jwks.server.wait_for_requests, 2)


async def test_a_rotated_key_is_picked_up_once_the_interval_is_over(jwks: Fixture) -> None:
    await jwks.keys.key("current")
    following = key_pair("following")
    jwks.server.serve(jwks_of(following))
    assert await _refused(jwks.keys, "following") == 401
    assert jwks.server.requests == 1
    jwks.clock.now += INTERVAL
    assert await jwks.keys.key("following") is not None
    assert await _refused(jwks.keys, "current") == 401, "a key the set dropped is retired"
    assert jwks.server.requests == 2


async def test_before_any_fetch_succeeds_no_token_can_be_checked(jwks: Fixture) -> None:
    jwks.server.mode = "fail"
    assert [await _refused(jwks.keys, "current") for _ in range(5)] == [503] * 5
    assert jwks.server.requests == 1
    jwks.server.serve(jwks_of(jwks.current))
    jwks.clock.now += INTERVAL
    assert await jwks.keys.key("current") is not None
    assert await jwks.keys.key(None) is not None, "a set of one key serves a token with no kid"
    assert await _refused(jwks.keys, {"kid": "not a string"}) == 401  # type: ignore[arg-type]
