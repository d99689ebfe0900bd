"""How the tenant of a command is established: by the topic it was read from, and for an
expiry on the shared commands topic, by the proof it carries.

Multi-tenant mode gives each tenant a command topic of its own, which Kafka ACLs let only
that tenant's producers write. A command read from a tenant's topic acts as that tenant,
whatever its ``tenantid`` attribute says; an attribute naming another tenant is kept as
declared so the decision refuses the command (``accessDenied``). The shared commands topic
is the operators' and the service's own: a ``tenantid`` there is taken as sent, except on
a ``referral.expire``. An expiry naming a tenant there acts as that tenant only when its
``expirysignature`` is the HMAC-SHA256, under the service's expiry secret, of its id,
referral id, tenant and ``ifmatch``: the scheduler signs what it sends, and so does an
operator's ``referrals expire``. Unproven, it acts as no tenant while declaring one, which
the decision refuses (``accessDenied``): a writer of the shared topic without the secret
cannot close another tenant's referrals. A signature proves nothing more than that one
command; a tenant's own topic needs none. In single-tenant mode ``tenantid`` is a label,
not a security boundary, and is taken as sent everywhere, an expiry's too.
"""

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Final

from state import Command, CommandType

#: The CloudEvents extension attribute carrying an expiry's proof.
EXPIRY_SIGNATURE: Final = "expirysignature"
#: Sets these signatures apart from anything else the same secret keys (expiry command ids).
_PURPOSE: Final = b"referral.expire signature\x00"


@dataclass(frozen=True, slots=True)
class Tenancy:
    """What establishing a tenant takes: the tenant of each tenant topic (none: single-tenant
    mode) and the key expiry signatures are checked with (none: no expiry is proven)."""

    topic_tenants: Mapping[str, str] = field(default_factory=dict)
    expiry_key: bytes | None = None


SINGLE_TENANT: Final = Tenancy()


def expiry_signature(
    key: bytes, command_id: str, referral_id: str, tenant_id: str, if_match: str | None = None
) -> str:
    """The proof that lets a ``referral.expire`` on the shared topic act as ``tenant_id``.
    The fields are identifiers, which hold no control character: NUL separates them."""
    signed = "\x00".join((command_id, referral_id, tenant_id, if_match or ""))
    return hmac.new(key, _PURPOSE + signed.encode(), hashlib.sha256).hexdigest()


def expiry_proven(command: Command, key: bytes | None) -> bool:
    """Whether the command carries a valid signature of its id, referral, tenant and
    ``ifmatch`` under ``key``."""
    given, referral, tenant = command.expiry_signature, command.referral_id, command.tenant_id
    if key is None or given is None or referral is None or tenant is None:
        return False
    expected = expiry_signature(key, command.command_id, referral, tenant, command.if_match)
    return hmac.compare_digest(expected.encode(), given.encode())


def established(command: Command, topic: str, tenancy: Tenancy = SINGLE_TENANT) -> Command:
    """``command`` acting as the tenant of ``topic``, or as it declared on a shared topic
    (an expiry naming a tenant there: only with its proof)."""
    tenant = tenancy.topic_tenants.get(topic)
    if tenant is not None:
        return replace(command, tenant_id=tenant)
    if _unproven_expiry(command, tenancy):
        return replace(command, tenant_id=None)  # declaring a tenant still: refused
    return command


def _unproven_expiry(command: Command, tenancy: Tenancy) -> bool:
    return (
        bool(tenancy.topic_tenants)
        and command.type is CommandType.EXPIRE
        and command.tenant_id is not None
        and not expiry_proven(command, tenancy.expiry_key)
    )
