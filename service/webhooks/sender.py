"""One POST of a signed notification, bounded in every way: the target checked after
resolution and the connection made to the checked address (the URL's host kept for
``Host`` and TLS), no redirects followed, no proxy from the environment, bounded connect
and read times and at most ``max_response_bytes`` of the answer read."""

import asyncio
import ssl
import time
from dataclasses import dataclass

import httpx

from service.webhooks.signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signature
from service.webhooks.targets import TargetPolicy, UnsafeTarget, checked


@dataclass(frozen=True, slots=True)
class SendLimits:
    connect_seconds: float = 5.0
    read_seconds: float = 10.0
    max_response_bytes: int = 65_536

    @property
    def whole_seconds(self) -> float:
        """The most one attempt takes, whatever the receiver does."""
        return self.connect_seconds + 2 * self.read_seconds


@dataclass(frozen=True, slots=True)
class Sent:
    ok: bool
    error: str | None = None  # why not, in a few words


class Sender:
    def __init__(
        self, policy: TargetPolicy, limits: SendLimits, verify: ssl.SSLContext | None = None
    ) -> None:
        """``verify``: the certificates trusted (default: the system's)."""
        self.policy, self.limits = policy, limits
        timeout = httpx.Timeout(
            limits.read_seconds, connect=limits.connect_seconds, pool=limits.connect_seconds
        )
        self._client = httpx.AsyncClient(
            timeout=timeout,
            follow_redirects=False,
            trust_env=False,
            http2=False,
            verify=verify if verify is not None else True,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, secret: str, delivery_id: str, event: str, body: bytes) -> Sent:
        try:
            async with asyncio.timeout(self.limits.whole_seconds):
                return await self._post(url, secret, delivery_id, event, body)
        except UnsafeTarget as refused:
            return Sent(False, str(refused))
        except TimeoutError:
            return Sent(False, "timed out")
        except httpx.HTTPError as error:
            return Sent(False, f"{type(error).__name__}")

    async def _post(self, url: str, secret: str, delivery_id: str, event: str, body: bytes) -> Sent:
        parts, address = await checked(url, self.policy)
        host = f"[{address}]" if address.version == 6 else str(address)
        netloc = host if parts.port is None else f"{host}:{parts.port}"
        target = parts._replace(netloc=netloc).geturl()
        headers = {
            "Host": parts.netloc,
            "Content-Type": "application/json",
            "User-Agent": "referral-lifecycle-webhooks",
            SIGNATURE_HEADER: signature(secret, int(time.time()), body),
            DELIVERY_HEADER: delivery_id,
            EVENT_HEADER: event,
        }
        extensions = {"sni_hostname": parts.hostname} if parts.scheme == "https" else {}
        request = self._client.build_request(
            "POST", target, content=body, headers=headers, extensions=extensions
        )
        response = await self._client.send(request, stream=True)
        try:
            await self._read_some(response)
        finally:
            await response.aclose()
        if 200 <= response.status_code < 300:
            return Sent(True)
        return Sent(False, f"HTTP {response.status_code}")

    async def _read_some(self, response: httpx.Response) -> None:
        """Read at most the bound of the answer: a receiver's body is not used, but
        reading it lets the connection be reused."""
        read = 0
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read >= self.limits.max_response_bytes:
                return
