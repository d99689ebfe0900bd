"""The keys bearer tokens are signed with: a JWKS file, or a JWKS URL no caller can lean on.

Keys are matched against the set held, without any lock: a token signed by a known key is
checked at once, whatever the identity provider is doing. A URL's set is fetched again at
most once per ``api_jwks_refresh_seconds``, whatever the last fetch gave and whoever asks:
when the set is older than that (in the background: callers keep using the set held), or
when a token names a key the set lacks (that caller, and any other arriving meanwhile,
waits for the one fetch, at most ``api_jwks_timeout_seconds``). A key still unknown after
that is a 401 at once. A failed fetch keeps the keys held; before any fetch has succeeded,
a token cannot be checked at all, which is a 503.

Fetches use the standard library's HTTP client on a thread of their own (never the event
loop's default executor, which its DNS lookups need), follow no redirect and read at most
``api_jwks_max_bytes``.
"""

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt

from service.api.errors import ApiError, unauthenticated
from service.errors import ConfigurationError

log = logging.getLogger(__name__)
_READ_CHUNK = 65_536


class SigningKeys(Protocol):
    async def key(self, kid: object) -> Any:
        """The key a token's ``kid`` names, or raises ApiError (401, or 503 when unknowable)."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class KeySet:
    """Signing keys by id; ``sole`` is the one key a set of one has, for tokens with no kid."""

    by_kid: Mapping[str, Any]
    sole: Any | None

    def match(self, kid: object) -> Any | None:
        if kid is None:
            return self.sole
        return self.by_kid.get(kid) if isinstance(kid, str) else None


def key_set(document: object) -> KeySet:
    """The signing keys of a JWKS document; raises ValueError when it holds none usable."""
    if not isinstance(document, dict):
        raise ValueError("the JWKS is not a JSON object")
    try:
        keys = jwt.PyJWKSet.from_dict(document).keys
    except jwt.PyJWKSetError as error:
        raise ValueError(str(error)) from None
    signing = [key for key in keys if key.public_key_use in ("sig", None)]
    if not signing:
        raise ValueError("the JWKS holds no signing key")
    by_kid = {key.key_id: key.key for key in signing if isinstance(key.key_id, str)}
    return KeySet(by_kid, signing[0].key if len(signing) == 1 else None)


class JwksFile:
    """The keys of a JWKS file, read once at start-up."""

    def __init__(self, path: str) -> None:
        try:
            self._keys = key_set(json.loads(Path(path).read_text()))
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"api_jwks_file {path}: {error}") from None

    async def key(self, kid: object) -> Any:
        found = self._keys.match(kid)
        if found is None:
            raise unauthenticated("the token is not signed by a key of the JWKS")
        return found

    async def close(self) -> None:
        pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


class JwksUrl:
    """The keys a JWKS URL publishes, fetched at most once per interval (module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        refresh_seconds: float,
        timeout_seconds: float,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url, self.refresh_seconds = url, refresh_seconds
        self.timeout_seconds, self.max_bytes = timeout_seconds, max_bytes
        self._clock = clock
        self._keys: KeySet | None = None
        self._attempted_at: float | None = None
        self._fetching: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="jwks-fetch")
        self._opener = urllib.request.build_opener(_NoRedirect())

    async def key(self, kid: object) -> Any:
        self._refresh_when_due()
        found = self._keys.match(kid) if self._keys else None
        if found is None and self._fetching is not None:
            # Shielded: a caller giving up must not cancel the fetch others wait for.
            await asyncio.shield(self._fetching)
            found = self._keys.match(kid) if self._keys else None
        if found is not None:
            return found
        if self._keys is None:
            raise ApiError(503, "serviceUnavailable", "the JWKS could not be fetched")
        raise unauthenticated("the token is not signed by a key of the JWKS")

    async def close(self) -> None:
        if self._fetching is not None:
            self._fetching.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _refresh_when_due(self) -> None:
        now = self._clock()
        due = self._attempted_at is None or now - self._attempted_at >= self.refresh_seconds
        if self._fetching is None and due:
            self._attempted_at = now
            self._fetching = asyncio.get_running_loop().create_task(self._fetch())

    async def _fetch(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            download = loop.run_in_executor(self._executor, self._download)
            self._keys = await asyncio.wait_for(download, self.timeout_seconds)
        except TimeoutError:
            log.warning("JWKS fetch gave up after %ss; keys held are kept", self.timeout_seconds)
        except Exception as error:  # whatever the provider sends or does is an outage
            log.warning("JWKS fetch failed (%s); keys held are kept", _reason(error))
        finally:
            self._fetching = None

    def _download(self) -> KeySet:
        """On the fetch thread: the set, read within the timeout and the size limit."""
        deadline = time.monotonic() + self.timeout_seconds
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})
        body = bytearray()
        try:
            response = self._opener.open(request, timeout=self.timeout_seconds)
        except urllib.error.HTTPError as error:
            error.close()  # an error answer holds its connection open until closed
            raise ValueError(f"the JWKS URL answered {error.code}") from None
        with response:
            while chunk := response.read(_READ_CHUNK):
                body += chunk
                if len(body) > self.max_bytes:
                    raise ValueError(f"the JWKS is larger than {self.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise TimeoutError("the JWKS took longer than the timeout to read")
        return key_set(json.loads(body))


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"[:300]
