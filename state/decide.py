"""The decision: (stored referral or none, command, now) -> applied change or rejection.

Pure: no clock, no randomness, no I/O. One handler per kind of command; what they share
lives beside them (``change``, ``outcome``, ``stamping``, ``lifecycle``, ``limits``,
``json_patch``).

A command acts as the tenant established for it and sees only that tenant's referrals:
another tenant's referral is treated exactly as a missing one, so no answer tells a tenant
what exists elsewhere. Messages name fields and rules, never the values that were sent.
"""

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError

from state.change import Revision, change, refuse_oversized
from state.commands import MOVE_TARGETS, Command, CommandType, LifecycleMoveData
from state.errors import FieldProblem, Refused, RejectionCode
from state.events import EventType
from state.identity import document_id, referral_id_for
from state.indexed import refuse_unindexable
from state.json_patch import Operation, PatchProblem, apply, validate_operations
from state.lifecycle import LifecycleState, is_legal, named_state, state_problem
from state.limits import Limits, data_problem, identifier_problem
from state.outcome import Applied, Decision, DecisionContext, Policy, ReferralRecord
from state.patched_fields import patched_fields
from state.referral_schema import Referral
from state.stamping import event, is_service_owned, owned_fields, stamp, top_level_paths
from state.validation import problems_from, validate_referral
from state.variants import model_case_variants

_Handler = Callable[[ReferralRecord | None, DecisionContext], Applied]
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
        context = DecisionContext(command, now, policy)
        return _HANDLERS[command.type](_own(current, command), context)
    except Refused as refusal:
        return refusal.rejected


def _create(current: ReferralRecord | None, context: DecisionContext) -> Applied:
    command, now = context.command, context.now
    data = _document(command)
    referral_id = referral_id_for(command)
    _refuse_other_id(data, referral_id)
    if current is not None:
        raise conflict()
    referral = validate_referral(data)
    _refuse_case_variants(referral)
    state = _legal(named_state(referral.status, referral.substatus, None), "create")
    owned = owned_fields(None, None, state, now) | {"id": referral_id}
    if referral.expiration_date_time is None:
        owned["expiration_date_time"] = now + context.policy.default_expiry
    created = stamp(referral, 1, now, command.tenant_id, owned)
    document = created.to_document()
    refuse_oversized(created, context.policy.limits)
    refuse_unindexable(created, None, context.policy.limits)
    created_event = event(EventType.CREATED, created, None, top_level_paths(document), command, now)
    return Applied(ReferralRecord(created, command.tenant_id), (created_event,))


def _patch(current: ReferralRecord | None, context: DecisionContext) -> Applied:
    record = _existing(current, context.command)
    operations, document = _patched_document(record, context)
    before = record.referral.to_document()
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
    return change(record, Revision(record.referral, touched, updates), target, context)


def _patched_document(
    record: ReferralRecord, context: DecisionContext
) -> tuple[list[Operation], dict[str, Any]]:
    """The patch's operations and the stored document they make, or a refusal."""
    try:
        operations = validate_operations(context.command.data, context.policy.limits)
        for index, (_, segments, _) in enumerate(operations):
            if is_service_owned(segments[0]):
                raise PatchProblem(read_only(index, segments[0]))
        document = apply(record.referral.to_document(), operations, context.policy.limits)
    except PatchProblem as problem:
        raise unpatchable(*problem.problems) from None
    return operations, document


def read_only(index: int, key: str) -> FieldProblem:
    """The problem of a patch operation whose path starts at a field the service owns."""
    return FieldProblem(f"/{index}/path", "readOnly", f"/{key} is set by the service")


def _replace(current: ReferralRecord | None, context: DecisionContext) -> Applied:
    record = _existing(current, context.command)
    if context.command.if_match is None:
        raise Refused(RejectionCode.PRECONDITION_FAILED, "a replace needs the ifmatch eTag")
    data = _document(context.command)
    _refuse_other_id(data, record.referral_id)
    replacement = validate_referral(data)
    _refuse_case_variants(replacement)
    if replacement.expiration_date_time is None:
        # A document without an expiration must not make the referral unexpirable.
        expiration = record.referral.expiration_date_time
        replacement = replacement.model_copy(update={"expiration_date_time": expiration})
    named = named_state(replacement.status, replacement.substatus, record.state)
    return change(record, Revision(replacement), _legal(named, "change"), context)


def _move(current: ReferralRecord | None, context: DecisionContext) -> Applied:
    record = _existing(current, context.command)
    target = MOVE_TARGETS[context.command.type]
    reason = _status_reason(context.command.data)
    if record.state == target:
        return Applied(record, ())
    if reason is None:
        return change(record, Revision(record.referral, {}), target, context)
    revision = Revision(record.referral, {"statusReason": reason}, {"status_reason": reason})
    return change(record, revision, target, context)


def _refuse_other_declared_tenant(command: Command) -> None:
    declared = command.declared_tenant_id
    if declared is not None and declared != command.tenant_id:
        raise Refused(
            RejectionCode.ACCESS_DENIED,
            "the tenantid attribute names a tenant the command cannot act as: not the tenant of"
            " the topic it came from, or an expiry on the shared topic without a valid"
            " expirysignature",
        )


def _own(current: ReferralRecord | None, command: Command) -> ReferralRecord | None:
    """The stored referral if it is in the command's tenant namespace; else none at all."""
    if current is None or current.tenant_id != command.tenant_id:
        return None
    return current


def _existing(current: ReferralRecord | None, command: Command) -> ReferralRecord:
    if current is None:
        raise missing()
    refusal = stale(command.if_match, current.referral.e_tag)
    if refusal is not None:
        raise refusal
    return current


def missing() -> Refused:
    return Refused(RejectionCode.ITEM_NOT_FOUND, "the referral does not exist")


def stale(if_match: str | None, etag: str | None) -> Refused | None:
    """The refusal of a command whose ``ifmatch`` names another version than ``etag``."""
    if if_match in (None, "*") or _bare(if_match) == _bare(etag):
        return None
    return Refused(
        RejectionCode.PRECONDITION_FAILED, "ifmatch does not match the referral's current eTag"
    )


def conflict() -> Refused:
    return Refused(RejectionCode.CONFLICT, "the referral already exists")


def unpatchable(*problems: FieldProblem) -> Refused:
    return Refused(RejectionCode.INVALID_REQUEST, "the patch cannot be applied", problems)


def _legal(state: LifecycleState, what: str) -> LifecycleState:
    refusal = illegal(state, what)
    if refusal is not None:
        raise refusal
    return state


def illegal(state: LifecycleState, what: str) -> Refused | None:
    """The refusal of a state the table does not have, named by a ``create`` or a change."""
    if not is_legal(state):
        # A create names a starting state (bad data); a change asks for a move.
        code = (
            RejectionCode.INVALID_REQUEST if what == "create" else RejectionCode.ILLEGAL_TRANSITION
        )
        return Refused(code, f"{state} is not a lifecycle state", (state_problem(state),))
    return None


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
        message = f"data cannot be taken as it is: {problem.message}"
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


_HANDLERS: Final[dict[CommandType, _Handler]] = {
    CommandType.CREATE: _create,
    CommandType.PATCH: _patch,
    CommandType.REPLACE: _replace,
    **{move_type: _move for move_type in MOVE_TARGETS},
}
