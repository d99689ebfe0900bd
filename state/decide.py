"""The decision: (stored referral or none, command, now) -> applied change or rejection.

Pure: no clock, no randomness, no I/O. One handler per kind of command; what they share
lives beside them (``outcome``, ``stamping``, ``lifecycle``, ``limits``, ``json_patch``).

A command acts as the tenant established for it and sees only that tenant's referrals:
another tenant's referral is treated exactly as a missing one, so no answer tells a tenant
what exists elsewhere. Messages name fields and rules, never the values that were sent.
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from state.commands import MOVE_TARGETS, Command, CommandType, LifecycleMoveData
from state.errors import FieldProblem, Refused, RejectionCode
from state.events import ARRIVAL_EVENTS, EventType
from state.identity import document_id, referral_id_for
from state.json_patch import PatchProblem, apply, validate_operations
from state.lifecycle import IllegalMove, LifecycleState, is_legal, move, named_state, state_problem
from state.limits import Limits, data_problem, identifier_problem
from state.outcome import Applied, Decision, Policy, ReferralRecord
from state.patched_fields import patched_fields
from state.referral_schema import WIRE_NAMES, Referral
from state.stamping import (
    changed_paths,
    event,
    is_service_owned,
    owned_fields,
    stamp,
    stamp_fields,
    top_level_paths,
    write_owned,
)
from state.validation import problems_from, validate_referral
from state.variants import model_case_variants

_Handler = Callable[[ReferralRecord | None, Command, datetime, Policy], Applied]
_DEFAULT_POLICY: Final = Policy()


def decide(
    current: ReferralRecord | None,
    command: Command,
    now: datetime,
    policy: Policy = _DEFAULT_POLICY,
) -> Decision:
    try:
        _refuse_other_declared_tenant(command)
        _refuse_over_limits(command, policy.limits)
        return _HANDLERS[command.type](_own(current, command), command, now, policy)
    except Refused as refusal:
        return refusal.rejected


def _create(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy
) -> Applied:
    data = _document(command)
    referral_id = referral_id_for(command)
    _refuse_other_id(data, referral_id)
    if current is not None:
        raise Refused(RejectionCode.CONFLICT, "the referral already exists")
    referral = validate_referral(data)
    _refuse_case_variants(referral)
    state = _legal(named_state(referral.status, referral.substatus, None), "create")
    owned = owned_fields(None, None, state, now) | {"id": referral_id}
    if referral.expiration_date_time is None:
        owned["expiration_date_time"] = now + policy.default_expiry
    created = stamp(referral, 1, now, command.tenant_id, owned)
    document = created.to_document()
    _refuse_oversized(created, policy.limits)
    created_event = event(EventType.CREATED, created, None, top_level_paths(document), command, now)
    return Applied(ReferralRecord(created, command.tenant_id), (created_event,))


def _patch(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy
) -> Applied:
    record = _existing(current, command)
    try:
        operations = validate_operations(command.data, policy.limits)
        for index, (_, segments, _) in enumerate(operations):
            if is_service_owned(segments[0]):
                problem = f"/{segments[0]} is set by the service"
                raise PatchProblem(FieldProblem(f"/{index}/path", "readOnly", problem))
        before = record.referral.to_document()
        document = apply(before, operations, policy.limits)
    except PatchProblem as problem:
        raise Refused(
            RejectionCode.INVALID_REQUEST, "the patch cannot be applied", problem.problems
        ) from None
    # Only what the patch touched is validated again: the rest was valid when stored.
    updates = patched_fields(record.referral, document, operations)
    touched = {k: v for k, v in document.items() if k not in before or v is not before[k]}
    if updates is None:
        part = validate_referral(touched)
        _refuse_case_variants(part)  # (the short way looks at its own values)
        updates, touched = Referral.revision(part), part.to_document()
    named = {segments[0].casefold() for _, segments, _ in operations if len(segments) == 1}
    status = updates.get("status") if "status" in named else None
    substatus = updates.get("substatus") if "substatus" in named else None
    target = _legal(named_state(status, substatus, record.state), "change")
    return _change(record, record.referral, target, command, now, policy, touched, updates)


def _replace(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy
) -> Applied:
    record = _existing(current, command)
    if command.if_match is None:
        raise Refused(RejectionCode.PRECONDITION_FAILED, "a replace needs the ifmatch eTag")
    data = _document(command)
    _refuse_other_id(data, record.referral_id)
    replacement = validate_referral(data)
    _refuse_case_variants(replacement)
    if replacement.expiration_date_time is None:
        # A document without an expiration must not make the referral unexpirable.
        expiration = record.referral.expiration_date_time
        replacement = replacement.model_copy(update={"expiration_date_time": expiration})
    named = named_state(replacement.status, replacement.substatus, record.state)
    return _change(record, replacement, _legal(named, "change"), command, now, policy)


def _move(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy
) -> Applied:
    record = _existing(current, command)
    target = MOVE_TARGETS[command.type]
    reason = _status_reason(command.data)
    if record.state == target:
        return Applied(record, ())
    if reason is None:
        return _change(record, record.referral, target, command, now, policy, {})
    revised, updates = {"statusReason": reason}, {"status_reason": reason}
    return _change(record, record.referral, target, command, now, policy, revised, updates)


def _change(
    record: ReferralRecord,
    referral: Referral,
    target: LifecycleState,
    command: Command,
    now: datetime,
    policy: Policy,
    revised: Mapping[str, Any] | None = None,
    updates: Mapping[str, Any] | None = None,
) -> Applied:
    """Put a changed referral through the machine and record the event, or a no-op.

    ``revised`` is the document of the top-level fields that changed, when the caller knows
    them (the rest of the document is shared with the stored one); None: all may have.
    ``updates``: those fields' values by Python name, set on ``referral`` when it is stamped.
    """
    source = record.state
    if target != source:
        try:
            target = move(source, target)
        except IllegalMove as error:
            raise Refused(RejectionCode.ILLEGAL_TRANSITION, str(error)) from None
    owned = owned_fields(record.referral, source, target, now)
    before = record.referral.to_document()
    if revised is None:
        document = dict(referral.model_copy(update=owned).to_document())
        in_order = True
    else:
        # An owned field the command wrote (a null status) is written back as the service has it.
        moved = {
            k: v
            for k, v in owned.items()
            if getattr(record.referral, k) is not v or WIRE_NAMES[k] in revised
        }
        document = {**before, **revised}
        # The stored document is in order; it stays so unless the change added a key.
        in_order = write_owned(document, moved) and before.keys() >= revised.keys()
    changed = changed_paths(before, document)
    if not changed:
        return Applied(record, ())
    version = record.version + 1
    stamped = stamp_fields(record.referral_id, version, now, record.tenant_id)
    in_order = write_owned(document, stamped) and in_order
    fields = {**(updates or {}), **owned, **stamped}
    changed_referral = referral.model_copy(update=fields).with_document(document, in_order)
    _refuse_oversized(changed_referral, policy.limits)
    kind = ARRIVAL_EVENTS.get(target.substatus, EventType.UPDATED)
    if target == source:
        kind = EventType.UPDATED
    recorded = event(kind, changed_referral, source, tuple(changed), command, now)
    return Applied(ReferralRecord(changed_referral, record.tenant_id), (recorded,))


def _refuse_other_declared_tenant(command: Command) -> None:
    declared = command.declared_tenant_id
    if declared is not None and declared != command.tenant_id:
        raise Refused(
            RejectionCode.ACCESS_DENIED,
            "the tenantid attribute does not match the tenant of the topic the command came from",
        )


def _own(current: ReferralRecord | None, command: Command) -> ReferralRecord | None:
    """The stored referral if it is in the command's tenant namespace; else none at all."""
    if current is None or current.tenant_id != command.tenant_id:
        return None
    return current


def _existing(current: ReferralRecord | None, command: Command) -> ReferralRecord:
    if current is None:
        raise Refused(RejectionCode.ITEM_NOT_FOUND, "the referral does not exist")
    if command.if_match not in (None, "*") and _bare(command.if_match) != _bare(
        current.referral.e_tag
    ):
        raise Refused(
            RejectionCode.PRECONDITION_FAILED, "ifmatch does not match the referral's current eTag"
        )
    return current


def _legal(state: LifecycleState, what: str) -> LifecycleState:
    if not is_legal(state):
        # A create names a starting state (bad data); a change asks for a move.
        code = (
            RejectionCode.INVALID_REQUEST if what == "create" else RejectionCode.ILLEGAL_TRANSITION
        )
        raise Refused(code, f"{state} is not a lifecycle state", (state_problem(state),))
    return state


def _bare(etag: str | None) -> str:
    value = (etag or "").strip()
    value = value.removeprefix("W/")
    return value.strip('"')


def _document(command: Command) -> dict[str, Any]:
    if not isinstance(command.data, Mapping):
        raise Refused(
            RejectionCode.INVALID_REQUEST, "data must be a referral document (a JSON object)"
        )
    return dict(command.data)


def _refuse_other_id(data: Mapping[str, Any], referral_id: str) -> None:
    named = document_id(data)
    if named is not None and named != referral_id:
        problem = FieldProblem("/id", "mismatch", "must be the id of the referral (the subject)")
        raise Refused(
            RejectionCode.INVALID_REQUEST, "the document's id is not the referral's", (problem,)
        )


def _status_reason(data: object) -> str | None:
    """The move's data, checked against the same model the published contract is built from."""
    if data is None:
        return None
    try:
        return LifecycleMoveData.model_validate(data).status_reason
    except ValidationError as error:
        raise Refused(
            RejectionCode.INVALID_REQUEST,
            'data must be absent or {"statusReason": "..."}',
            problems_from(error),
        ) from None


def _refuse_over_limits(command: Command, limits: Limits) -> None:
    problem = data_problem(command.data, limits, command.data_extent)
    if problem is not None:
        message = f"data is over a limit: {problem.message}"
        raise Refused(RejectionCode.INVALID_REQUEST, message, (problem,))
    shape = None if command.referral_id else identifier_problem(document_id(command.data),
                                                                limits.max_id_length)  # fmt: skip
    if shape is not None:
        problem = FieldProblem("/id", "invalidValue", f"the referral id {shape}")
        raise Refused(RejectionCode.INVALID_REQUEST, problem.message, (problem,))


def _refuse_case_variants(referral: Referral) -> None:
    problems = model_case_variants(referral)
    if problems:
        message = "the document spells a field twice, differing only by case"
        raise Refused(RejectionCode.INVALID_REQUEST, message, tuple(problems))


def _refuse_oversized(referral: Referral, limits: Limits) -> None:
    size = len(referral.encoded(limits.encode_document))
    if size > limits.max_document_bytes:
        message = f"the referral would be {size} bytes, over {limits.max_document_bytes}"
        raise Refused(
            RejectionCode.INVALID_REQUEST, message, (FieldProblem("", "tooLarge", message),)
        )


_HANDLERS: Final[dict[CommandType, _Handler]] = {
    CommandType.CREATE: _create,
    CommandType.PATCH: _patch,
    CommandType.REPLACE: _replace,
    **{move_type: _move for move_type in MOVE_TARGETS},
}
