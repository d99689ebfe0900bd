"""How a notification is signed, and how a receiver checks it.

``X-Referrals-Signature: t=<unix seconds>,v1=<hex>``, where the hex is HMAC-SHA256 under
the registration's secret of ``"<t>.<body>"``: the time is signed with the body, so a
receiver that refuses times older than a tolerance refuses a captured request replayed
later. The secret is returned once, when the registration is made or its secret rotated.
"""

import hashlib
import hmac
import secrets
from typing import Final

SIGNATURE_HEADER: Final = "X-Referrals-Signature"
DELIVERY_HEADER: Final = "X-Referrals-Delivery"
EVENT_HEADER: Final = "X-Referrals-Event"
#: How old a signed time a receiver should still accept, in seconds (a suggestion).
TOLERANCE_SECONDS: Final = 300


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: bytes, now: float, tolerance: float = TOLERANCE_SECONDS
) -> bool:
    """Whether ``header`` signs ``body`` under ``secret`` at a time within ``tolerance``
    of ``now``: what a receiver does, in a few lines."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(parts.get("v1", ""), _mac(secret, timestamp, body))
