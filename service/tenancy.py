"""How the tenant of a command is established: by the topic it was read from.

Multi-tenant mode gives each tenant a command topic of its own, which Kafka ACLs let only
that tenant's producers write. A command read from a tenant's topic acts as that tenant,
whatever its ``tenantid`` attribute says; an attribute naming another tenant is kept as
declared so the decision refuses the command (``accessDenied``). The shared commands topic
is the operators' and the service's own (expiry): a ``tenantid`` there is taken as sent,
as it is everywhere in single-tenant mode, where it is a label and not a security boundary.
"""

from collections.abc import Mapping
from dataclasses import replace

from state import Command


def established(command: Command, topic: str, topic_tenants: Mapping[str, str]) -> Command:
    """``command`` acting as the tenant of ``topic``, or as it declared on a shared topic."""
    tenant = topic_tenants.get(topic)
    if tenant is None:
        return command
    return replace(command, tenant_id=tenant)
