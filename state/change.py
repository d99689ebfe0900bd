"""Applying a change to a stored referral: the move, the new document, the stamp, the event.

A handler says what the command revises (a ``Revision``) and which state it asks for; the
steps here put that through the machine, build the changed document from the stored one
(sharing what did not change), stamp the new version and record the event, or find that
nothing changed at all.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from state.errors import FieldProblem, Refused, RejectionCode
from state.events import ARRIVAL_EVENTS, EventType
from state.fields import format_utc
from state.indexed import refuse_unindexable
from state.lifecycle import IllegalMove, LifecycleState, move
from state.limits import Limits
from state.outcome import Applied, DecisionContext, ReferralRecord
from state.referral_schema import WIRE_NAMES, Referral
from state.stamping import changed_paths, event, owned_fields, stamp_fields


class Revision(NamedTuple):
    """What a command revises of a stored referral, before the machine and the stamp.

    ``referral``: the referral as the command leaves it. ``document``: the top-level fields
    of its document that changed, when the handler knows them (the rest is shared with the
    stored document); None: any may have. ``updates``: those fields by Python name, set on
    ``referral`` when it is stamped.
    """

    referral: Referral
    document: Mapping[str, Any] | None = None
    updates: Mapping[str, Any] = {}


class _Draft:
    """The changed referral's document while it is built from the stored one.

    It keeps whether its keys are still in the order ``to_document`` writes them (true
    until a step adds a key), so the changed referral can take it as its own document
    without putting the keys in order again.
    """

    __slots__ = ("document", "in_order")

    def __init__(self, document: dict[str, Any], in_order: bool) -> None:
        self.document = document
        self.in_order = in_order

    def write_owned(self, owned: Mapping[str, Any]) -> None:
        """Write owned fields (by Python name) into the document as ``to_document`` would."""
        for name, value in owned.items():
            key = WIRE_NAMES[name]
            if value is None:
                self.document.pop(key, None)  # to_document leaves out a cleared owned field
            else:
                self.in_order = self.in_order and key in self.document
                self.document[key] = format_utc(value) if isinstance(value, datetime) else value

    def adopted_by(self, referral: Referral) -> Referral:
        return referral.with_document(self.document, self.in_order)


def change(
    record: ReferralRecord, revision: Revision, target: LifecycleState, context: DecisionContext
) -> Applied:
    """Put a revised referral through the machine and record the event, or a no-op."""
    source = record.state
    target = moved(source, target)
    owned = owned_fields(record.referral, source, target, context.now)
    before = record.referral.to_document()
    draft = _draft(record, revision, owned)
    changed = changed_paths(before, draft.document)
    if not changed:
        return Applied(record, ())
    stamped = stamp_fields(record.referral_id, record.version + 1, context.now, record.tenant_id)
    draft.write_owned(stamped)
    fields = {**revision.updates, **owned, **stamped}
    changed_referral = draft.adopted_by(revision.referral.model_copy(update=fields))
    refuse_oversized(changed_referral, context.policy.limits)
    refuse_unindexable(changed_referral, record.referral, context.policy.limits)
    kind = EventType.UPDATED if target == source else _arrival(target)
    recorded = event(kind, changed_referral, source, tuple(changed), context.command, context.now)
    return Applied(ReferralRecord(changed_referral, record.tenant_id), (recorded,))


def moved(source: LifecycleState, target: LifecycleState) -> LifecycleState:
    """Where the machine takes a referral in ``source`` asked to go to ``target``; a refusal
    if the table forbids it."""
    if target == source:
        return target
    try:
        return move(source, target)
    except IllegalMove as error:
        raise Refused(RejectionCode.ILLEGAL_TRANSITION, str(error)) from None


def _draft(record: ReferralRecord, revision: Revision, owned: Mapping[str, Any]) -> _Draft:
    """The revised document with the owned fields of the move, before the stamp."""
    if revision.document is None:
        serialized = revision.referral.model_copy(update=owned).to_document()
        return _Draft(dict(serialized), in_order=True)
    revised = revision.document
    before = record.referral.to_document()
    # The stored document is in order; it stays so unless the change added a key.
    draft = _Draft({**before, **revised}, in_order=before.keys() >= revised.keys())
    # An owned field the command wrote (a null status) is written back as the service has it.
    draft.write_owned(
        {
            name: value
            for name, value in owned.items()
            if getattr(record.referral, name) is not value or WIRE_NAMES[name] in revised
        }
    )
    return draft


def _arrival(target: LifecycleState) -> EventType:
    return ARRIVAL_EVENTS.get(target.substatus, EventType.UPDATED)


def refuse_oversized(referral: Referral, limits: Limits) -> None:
    size = len(referral.encoded(limits.encode_document))
    if size > limits.max_document_bytes:
        message = f"the referral would be {size} bytes, over {limits.max_document_bytes}"
        raise Refused(
            RejectionCode.INVALID_REQUEST, message, (FieldProblem("", "tooLarge", message),)
        )
