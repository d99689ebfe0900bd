"""A JWKS URL on 127.0.0.1 whose answer a test chooses (the keys, a 500, a hang, a redirect,
an oversized or broken body), counting the requests it gets; and tokens signed with keys
made here, to publish and rotate."""

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.support.read_api import AUDIENCE, ISSUER

#: How long a hanging answer holds its request at most (the server's threads must end).
HANG_BOUND_SECONDS = 30.0


@dataclass(frozen=True)
class KeyPair:
    kid: str
    key: rsa.RSAPrivateKey

    @property
    def jwk(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        return {**public, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def token(self, tid: str = "org-a") -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300, "tid": tid}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})


def key_pair(kid: str) -> KeyPair:
    return KeyPair(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def jwks_of(*pairs: KeyPair) -> dict[str, Any]:
    return {"keys": [pair.jwk for pair in pairs]}


class JwksServer:
    """The URL's answer is ``mode``: "keys" (``jwks``), "fail" (500), "hang", "redirect",
    "huge" (a body over any sane limit) or "garbage" (not JSON)."""

    def __init__(self) -> None:
        self.mode, self.jwks = "keys", {"keys": []}
        self._requests = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self.released = threading.Event()

    @property
    def requests(self) -> int:
        with self._lock:
            return self._requests

    def serve(self, jwks: dict[str, Any]) -> None:
        self.mode, self.jwks = "keys", jwks

    def wait_for_requests(self, count: int, within: float = 10.0) -> None:
        """Blocks until the server has received ``count`` requests (a thread's wait)."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: self._requests >= count, within):
                raise AssertionError(f"the JWKS URL got {self._requests} requests, not {count}")

    def answer(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        with self._arrived:
            self._requests += 1
            self._arrived.notify_all()
        mode = self.mode
        if mode == "hang":
            self.released.wait(HANG_BOUND_SECONDS)
            return
        status, body, headers = {
            "keys": (200, json.dumps(self.jwks).encode(), {}),
            "fail": (500, b"internal error", {}),
            "redirect": (302, b"", {"Location": "http://127.0.0.1:9/keys"}),
            "huge": (200, b'{"keys": [' + b" " * 2_000_000 + b"]}", {}),
            "garbage": (200, b"<html>not a key set</html>", {}),
        }[mode]
        handler.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        with contextlib.suppress(OSError):  # a client that gave up has closed its socket
            handler.wfile.write(body)


@contextlib.contextmanager
def serving_jwks() -> Iterator[tuple[JwksServer, str]]:
    """A running JWKS server and its URL; its hanging requests are released at the end."""
    state = JwksServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.answer(self)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/keys"
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
