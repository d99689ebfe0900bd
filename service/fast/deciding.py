"""The decision of a command read in the canonical form, on Structs: creates, patches of
leaves and the lifecycle moves; or None, and the models decide it.

Each step is the models' step (``state.decide``, ``state.change``) for the documents the
Structs can hold, in the same order, so that a refusal is the one the models would give;
the refusals made here are built by the same functions. Where a step would need what only
the models can say (a problem in a document, a refusal naming a field, a replace) it hands
the command back. ``tests/unit/test_fast_path.py`` holds both ways to the same bytes.
"""

from typing import Any, Final

import msgspec
from msgspec import UNSET

from service.fast import schema
from service.fast.changes import Move, changed_referral, legal, move_between
from service.fast.command_data import MOVE_DATA, OPERATIONS, canonical, decoded, enums, within
from service.fast.events import FastEvent
from service.fast.leaves import LEAVES, with_leaf
from service.fast.recording import FastContext, FastDecision, Recording
from service.fast.referral import AnyRecord, FastRecord, fast_record
from service.fast.validation import checked_leaf, checked_referral
from service.outcomes import Outcome, OutcomeKind
from state import (
    Command,
    CommandType,
    EventType,
    LifecycleState,
    ReferralStatus,
)
from state.commands import MOVE_TARGETS
from state.decide import conflict, illegal, missing, read_only, stale, unpatchable
from state.errors import Refused
from state.lifecycle import named_state
from state.owned import SERVICE_OWNED
from state.stamping import BOOKKEEPING, etag_of

_OWNED_FOLDED: Final = frozenset(name.casefold() for name in SERVICE_OWNED)
#: (Python name, JSON Pointer) of the fields a create lists as changed when it sets them.
_CREATED: Final = tuple(
    (name, f"/{wire}")
    for name, wire in zip(
        schema.Referral.__struct_fields__, schema.Referral.__struct_encode_fields__, strict=True
    )
    if wire not in BOOKKEEPING
)
_INITIAL: Final = named_state(None, None, None)
#: The state each lifecycle move asks for, as the move table knows it, by the move's type.
_TARGETS: Final = {str(kind): legal(state) for kind, state in MOVE_TARGETS.items()}
_CREATE: Final = CommandType.CREATE
_PATCH: Final = CommandType.PATCH
#: The referral's fields that hold indexed strings (``state.indexed``), by Python name.
_INDEXED: Final = frozenset({"engagement_id", "external_reference_id", "team"})


def decide_fast(
    current: AnyRecord | None,
    command: Command,
    value: bytes | None,
    data: bytes | None,
    trace: tuple[tuple[str, str], ...],
    context: FastContext,
) -> FastDecision | None:
    """The command's decision, or None: the models decide it. ``value``: the record's value
    (its size bounds the data's); ``data``: the data's text; ``trace``: what its records
    carry."""
    if value is not None and not within(value, context.limits):
        return None
    if command.declared_tenant_id not in (None, command.tenant_id):
        return None
    own = current if current is not None and current.tenant_id == command.tenant_id else None
    deciding = _Deciding(command, trace, context)
    kind = command.type
    try:
        if kind is _CREATE:
            return deciding.create(own, data)
        if kind is _PATCH:
            return deciding.patch(own, data)
        target = _TARGETS.get(str(kind))  # by its text: an enum member hashes in Python
        if target is not None:
            return deciding.move(own, data, target)
    except Refused as refusal:
        return deciding.rejected(refusal)
    return None


class _Deciding(Recording):
    """One command's decision, with what its records carry."""

    __slots__ = ()

    def create(self, own: AnyRecord | None, data: bytes | None) -> FastDecision | None:
        referral = decoded(schema.DECODE_REFERRAL, data)
        if referral is None or referral.id not in (UNSET, None, "", self.command.referral_id):
            return None
        if own is not None:
            raise conflict()
        if checked_referral(referral) is None:
            return None
        status, substatus = referral.status, referral.substatus
        state = _INITIAL  # the state a create without one starts in, a legal one
        if isinstance(status, str) or isinstance(substatus, str):
            state = named_state(*enums(status, substatus), None)
            if illegal(state, "create") is not None:
                return None
        referral_id, tenant_id, now = (
            self.command.referral_id,
            self.command.tenant_id,
            self.context.time,
        )
        assert referral_id is not None
        referral.id = referral_id
        referral.created_date_time = referral.updated_date_time = now
        unset: msgspec.UnsetType = UNSET
        referral.accepted_date_time = now if state.status is ReferralStatus.ACTIVE else unset
        referral.closed_date_time = now if state.status is ReferralStatus.CLOSED else unset
        referral.status, referral.substatus = str(state.status), str(state.substatus)
        if referral.expiration_date_time in (UNSET, None):
            referral.expiration_date_time = self.context.expires
        referral.version, referral.e_tag = 1, etag_of(referral_id, 1, tenant_id)
        created = self._stored(referral, None)
        if created is None:
            return None
        paths = [path for name, path in _CREATED if getattr(referral, name) is not UNSET]
        return self.applied(FastEvent(EventType.CREATED, created, None), paths)

    def patch(self, own: AnyRecord | None, data: bytes | None) -> FastDecision | None:
        operations = decoded(OPERATIONS, data)
        limits = self.context.limits
        if not operations or len(operations) > limits.max_patch_operations:
            return None
        owned = None
        for index, operation in enumerate(operations):
            if operation.op not in ("add", "replace"):
                return None
            if operation.path not in LEAVES:
                key = operation.path[1:]
                if operation.path != f"/{key}" or key.casefold() not in _OWNED_FOLDED:
                    return None
                if bytes(operation.value)[:1] in (b"{", b"["):
                    return None  # its depth is checked first, by the models
                owned = owned or (index, key)
        record = self._existing(own)
        if record is None:
            return None
        if owned is not None:
            raise unpatchable(read_only(*owned))
        revised = record.referral
        given: dict[str, object] = {}
        touched: list[tuple[str, ...]] = []
        for operation in operations:
            leaf = LEAVES[operation.path]
            touched.append(leaf.names)
            try:
                value = leaf.decode(operation.value)
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
                return None
            if not canonical(value, operation.value):
                return None
            good, value = checked_leaf(value, leaf.kind)
            if not good:
                return None
            patched = with_leaf(revised, leaf.names, value, operation.op)
            if patched is None:
                return None
            revised = patched
            if len(leaf.names) == 1 and leaf.names[0] in ("status", "substatus"):
                given[leaf.names[0]] = value
        state = record.state
        if given:
            state = named_state(*enums(given.get("status"), given.get("substatus")), state)
            refusal = illegal(state, "change")
            if refusal is not None:
                raise refusal
        move = move_between(record.state, state)
        return self._changed(record, revised, tuple(touched), move)

    def move(
        self, own: AnyRecord | None, data: bytes | None, target: LifecycleState
    ) -> FastDecision | None:
        reason = None
        if data is not None:
            moved = decoded(MOVE_DATA, data)
            if moved is None:
                return None
            reason = moved.status_reason if isinstance(moved.status_reason, str) else None
        record = self._existing(own)
        if record is None:
            return None
        move = move_between(record.state, target)
        if move.same:
            return Outcome(str(self.command.type), OutcomeKind.NOOP, fast=True), [], None
        if reason is None:
            return self._changed(record, record.referral, (), move)
        return self._changed(
            record, record.referral, (("status_reason",),), move, status_reason=reason
        )

    def _existing(self, own: AnyRecord | None) -> FastRecord | None:
        """The referral the command changes in the fast path's form, or a refusal; None when
        its stored document is for the models to judge."""
        if own is None:
            raise missing()
        if_match = self.command.if_match
        if if_match is not None:
            etag = own.referral.e_tag
            refusal = stale(if_match, etag if isinstance(etag, str) else None)
            if refusal is not None:
                raise refusal
        return own if isinstance(own, FastRecord) else fast_record(own)

    def _changed(
        self,
        record: FastRecord,
        revised: schema.Referral,
        touched: tuple[tuple[str, ...], ...],
        move: Move,
        **also: Any,
    ) -> FastDecision | None:
        """The decision of a change: ``revised`` (the referral with the command's fields
        set, ``touched``, but for ``also``) moved as ``move`` says, stamped and stored."""
        change = changed_referral(record, revised, touched, move, self.context.time, **also)
        if change is None:
            return Outcome(str(self.command.type), OutcomeKind.NOOP, fast=True), [], None
        indexed = not _INDEXED.isdisjoint([names[0] for names in touched])
        before = record if indexed else None
        stored = self._stored(change.referral, before, indexed, change.state)
        if stored is None:
            return None
        return self.applied(FastEvent(change.kind, stored, record.state), change.paths)
