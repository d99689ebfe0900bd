"""Who is who: the keys referrals and commands are stored under, and the ids derived.

A referral's id comes from the command's subject, else from the document, else it is
derived from the command id, so that replaying the same commands yields the same ids.
Referral ids and command ids are scoped by tenant: a referral is stored under its key
(tenant, referral id), a processed command under (tenant, command id); a referral or
command without a tenant lives in a namespace of its own.
"""

import hashlib
import uuid
from collections.abc import Mapping
from typing import Final, NamedTuple

from state.commands import Command

#: Namespace of the ids the domain derives (referral ids, event ids).
DERIVED_IDS: Final = uuid.UUID("6f1c4a52-7f0e-4f5e-9a43-0c8d2b7e9a10")


class ReferralKey(NamedTuple):
    """Where a referral lives: its tenant (None: the tenant-less namespace) and its id."""

    tenant_id: str | None
    referral_id: str


class CommandKey(NamedTuple):
    """The idempotency key of a command: its tenant and its command id."""

    tenant_id: str | None
    command_id: str


def referral_id_for(command: Command) -> str:
    """The referral a command is about: its subject, the document's id, or a derived one."""
    if command.referral_id:
        return command.referral_id
    return document_id(command.data) or name_uuid(DERIVED_IDS, f"referral:{command.command_id}")


def name_uuid(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, without building a UUID object (a third of the
    cost): the SHA-1 digest's hex with the version and the RFC 4122 variant written in."""
    prefix = _NAMESPACES.get(namespace)
    if prefix is None:
        prefix = _NAMESPACES[namespace] = namespace.bytes
    return uuid5_text(prefix, name)


def uuid5_text(prefix: bytes, name: str) -> str:
    """``name_uuid`` of the namespace whose bytes are ``prefix`` (a UUID hashes in Python:
    a caller with one namespace keeps its bytes)."""
    digest = hashlib.sha1(prefix + name.encode()).hexdigest()
    variant = _VARIANT[digest[16]]
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{variant}{digest[17:20]}-{digest[20:32]}"


#: Each namespace's bytes (``UUID.bytes`` computes them on every call).
_NAMESPACES: dict[uuid.UUID, bytes] = {}
#: The variant digit for each hex digit it replaces: its two low bits after ``10``.
_VARIANT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def referral_key(command: Command) -> ReferralKey:
    """The referral a command is about, in the namespace of the command's tenant."""
    return _new_key(ReferralKey, (command.tenant_id, referral_id_for(command)))


def command_key(command: Command) -> CommandKey:
    return _new_key(CommandKey, (command.tenant_id, command.command_id))


#: What a NamedTuple's own ``__new__`` calls, without that Python frame: the consume loop
#: makes keys of every command, several times.
_new_key: Final = tuple.__new__


def document_id(data: object) -> str | None:
    """The id a referral document names, in any accepted spelling."""
    if isinstance(data, Mapping):
        for key in ("id", "ID", "Id"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    return None
