"""The decision: (stored referral or none, command, now) -> applied change or rejection.

Pure: no clock, no randomness, no I/O. Ids that must be generated (a referral id when a
create names none, event ids, eTags) are derived from the command and the version, so
replaying the same commands yields the same referrals and events.
"""

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError

from state.commands import MOVE_TARGETS, Command, CommandType, LifecycleMoveData
from state.enums import ReferralStatus as Status
from state.enums import ReferralSubstatus as Substatus
from state.errors import FieldProblem, Refused, Rejected, RejectionCode
from state.events import ARRIVAL_EVENTS, EventType, ReferralEvent
from state.lifecycle import INITIAL_STATE, SUBSTATUSES, IllegalMove, LifecycleState, is_legal, move
from state.limits import DEFAULT_LIMITS, Limits, data_problem, identifier_problem
from state.model import Referral
from state.patch import PatchProblem, apply, escape_key, validate_operations
from state.validation import problems_from, validate_referral

_IDS: Final = uuid.UUID("6f1c4a52-7f0e-4f5e-9a43-0c8d2b7e9a10")

#: Paths a patch or replace may not set: the service owns them.
SERVICE_OWNED: Final = frozenset(
    {
        "id",
        "createdDateTime",
        "updatedDateTime",
        "acceptedDateTime",
        "closedDateTime",
        "eTag",
        "version",
    }
)
#: Fields that change on every applied change and so say nothing about what changed.
_BOOKKEEPING: Final = frozenset({"updatedDateTime", "eTag", "version"})
#: A status whose substatus can be inferred when only the status is given.
_DEFAULT_SUBSTATUS: Final = {Status.NEW: Substatus.PENDING, Status.ACTIVE: Substatus.ACCEPTED}
_STATUS_OF: Final = {sub: status for status, subs in SUBSTATUSES.items() for sub in subs}


@dataclass(frozen=True, slots=True)
class ReferralRecord:
    """A stored referral and the tenant (organization) that owns it, if any."""

    referral: Referral
    tenant_id: str | None = None

    @property
    def referral_id(self) -> str:
        assert self.referral.id is not None
        return self.referral.id

    @property
    def version(self) -> int:
        return self.referral.version or 0

    @property
    def state(self) -> LifecycleState:
        assert self.referral.status is not None
        assert self.referral.substatus is not None
        return LifecycleState(self.referral.status, self.referral.substatus)


@dataclass(frozen=True, slots=True)
class Applied:
    """The command was accepted; ``events`` is empty when it changed nothing."""

    record: ReferralRecord
    events: tuple[ReferralEvent, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    default_expiry: timedelta = timedelta(days=14)
    limits: Limits = DEFAULT_LIMITS


Decision = Applied | Rejected
_Handler = Callable[[ReferralRecord | None, Command, datetime, Policy], Applied]


def decide(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy = Policy()
) -> Decision:
    try:
        _refuse_over_limits(command, policy.limits)
        return _HANDLERS[command.type](current, command, now, policy)
    except Refused as refusal:
        return refusal.rejected


def _refuse_over_limits(command: Command, limits: Limits) -> None:
    problem = data_problem(command.data, limits)
    if problem is not None:
        raise Refused(
            RejectionCode.INVALID_REQUEST, f"data is over a limit: {problem.message}", (problem,)
        )
    if command.referral_id is None:
        named = _document_id(command.data)
        shape = identifier_problem(named, limits.max_id_length)
        if shape is not None:
            raise Refused(
                RejectionCode.INVALID_REQUEST,
                f"the referral id {shape}",
                (FieldProblem("/id", "invalidValue", f"the referral id {shape}"),),
            )


def _refuse_oversized(document: Mapping[str, Any], limits: Limits) -> None:
    size = limits.document_bytes(document)
    if size > limits.max_document_bytes:
        message = f"the referral would be {size} bytes, over {limits.max_document_bytes}"
        raise Refused(
            RejectionCode.INVALID_REQUEST, message, (FieldProblem("", "tooLarge", message),)
        )


def referral_id_for(command: Command) -> str:
    """The referral a command is about: its subject, the document's id, or a derived one."""
    if command.referral_id:
        return command.referral_id
    return _document_id(command.data) or str(uuid.uuid5(_IDS, f"referral:{command.command_id}"))


def _document_id(data: object) -> str | None:
    """The id a referral document names, in any accepted spelling."""
    if isinstance(data, Mapping):
        for key in ("id", "ID", "Id"):
            if isinstance(data.get(key), str) and data[key]:
                return str(data[key])
    return None


def _refuse_other_id(data: Mapping[str, Any], referral_id: str) -> None:
    named = _document_id(data)
    if named is not None and named != referral_id:
        raise Refused(
            RejectionCode.INVALID_REQUEST,
            f"the document's id '{named}' is not the referral '{referral_id}'",
            (FieldProblem("/id", "mismatch", f"expected '{referral_id}'"),),
        )


def _create(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy
) -> Applied:
    data = _document(command)
    referral_id = referral_id_for(command)
    _refuse_other_id(data, referral_id)
    if current is not None:
        raise Refused(RejectionCode.CONFLICT, f"referral '{referral_id}' already exists")
    referral = validate_referral(data)
    state = _initial_state(referral)
    owned = {
        "id": referral_id,
        "created_date_time": now,
        "accepted_date_time": now if state.status is Status.ACTIVE else None,
        "closed_date_time": now if state.status is Status.CLOSED else None,
        "status": state.status,
        "substatus": state.substatus,
    }
    if referral.expiration_date_time is None:
        owned["expiration_date_time"] = now + policy.default_expiry
    created = _stamp(referral.model_copy(update=owned), 1, now)
    document = created.to_document()
    _refuse_oversized(document, policy.limits)
    event = _event(EventType.CREATED, created, None, _top_level_paths(document), command, now)
    return Applied(ReferralRecord(created, command.tenant_id), (event,))


def _patch(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy
) -> Applied:
    record = _existing(current, command)
    try:
        operations = validate_operations(command.data, policy.limits)
        for index, (_, segments, _) in enumerate(operations):
            _refuse_service_owned(segments[0], f"/{index}/path")
        document = apply(record.referral.to_document(), operations, policy.limits)
    except PatchProblem as problem:
        raise Refused(
            RejectionCode.INVALID_REQUEST, "the patch cannot be applied", problem.problems
        ) from None
    patched = validate_referral(document)
    named = {segments[0].casefold() for _, segments, _ in operations if len(segments) == 1}
    target = _requested_state(
        record.state,
        patched.status if "status" in named else None,
        patched.substatus if "substatus" in named else None,
    )
    return _change(record, patched, target, command, now, policy)


def _replace(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy
) -> Applied:
    record = _existing(current, command)
    if command.if_match is None:
        raise Refused(RejectionCode.PRECONDITION_FAILED, "a replace needs the ifmatch eTag")
    data = _document(command)
    _refuse_other_id(data, record.referral_id)
    replacement = validate_referral(data)
    if replacement.expiration_date_time is None:
        # A document without an expiration must not make the referral unexpirable.
        expiration = record.referral.expiration_date_time
        replacement = replacement.model_copy(update={"expiration_date_time": expiration})
    target = _requested_state(record.state, replacement.status, replacement.substatus)
    return _change(record, replacement, target, command, now, policy)


def _move(
    current: ReferralRecord | None, command: Command, now: datetime, policy: Policy
) -> Applied:
    record = _existing(current, command)
    target = MOVE_TARGETS[command.type]
    reason = _status_reason(command.data)
    if record.state == target:
        return Applied(record, ())
    referral = record.referral
    if reason is not None:
        referral = referral.model_copy(update={"status_reason": reason})
    return _change(record, referral, target, command, now, policy)


def _change(
    record: ReferralRecord,
    referral: Referral,
    target: LifecycleState,
    command: Command,
    now: datetime,
    policy: Policy,
) -> Applied:
    """Put a changed referral through the machine and record the event, or a no-op."""
    source = record.state
    if target != source:
        try:
            move(source, target)
        except IllegalMove as error:
            raise Refused(RejectionCode.ILLEGAL_TRANSITION, str(error)) from None
    before = record.referral
    kept = {
        "id": before.id,
        "created_date_time": before.created_date_time,
        "accepted_date_time": before.accepted_date_time,
        "closed_date_time": before.closed_date_time,
        "e_tag": before.e_tag,
        "updated_date_time": before.updated_date_time,
        "version": before.version,
        "status": target.status,
        "substatus": target.substatus,
    }
    if target.status is Status.ACTIVE and source.status is not Status.ACTIVE:
        kept["accepted_date_time"] = now
    if target.status is Status.CLOSED and source.status is not Status.CLOSED:
        kept["closed_date_time"] = now
    candidate = referral.model_copy(update=kept)
    document = candidate.to_document()
    changed = _changed_paths(before.to_document(), document)
    if not changed:
        return Applied(record, ())
    _refuse_oversized(document, policy.limits)
    changed_referral = _stamp(candidate, record.version + 1, now)
    kind = EventType.UPDATED
    if target != source:
        kind = ARRIVAL_EVENTS.get(target.substatus, EventType.UPDATED)
    event = _event(kind, changed_referral, source, tuple(changed), command, now)
    return Applied(replace(record, referral=changed_referral), (event,))


def _existing(current: ReferralRecord | None, command: Command) -> ReferralRecord:
    if current is None:
        raise Refused(
            RejectionCode.ITEM_NOT_FOUND, f"referral '{command.referral_id}' does not exist"
        )
    if current.tenant_id is not None and command.tenant_id != current.tenant_id:
        raise Refused(
            RejectionCode.ACCESS_DENIED,
            f"tenant '{command.tenant_id}' does not own referral '{current.referral_id}'",
        )
    if command.if_match not in (None, "*") and _bare(command.if_match) != _bare(
        current.referral.e_tag
    ):
        raise Refused(
            RejectionCode.PRECONDITION_FAILED,
            f"ifmatch {command.if_match} does not match the current eTag {current.referral.e_tag}",
        )
    return current


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


def _refuse_service_owned(first_segment: str, where: str) -> None:
    folded = first_segment.casefold()
    if any(folded == owned.casefold() for owned in SERVICE_OWNED):
        raise PatchProblem(
            FieldProblem(where, "readOnly", f"/{first_segment} is set by the service")
        )


def _initial_state(referral: Referral) -> LifecycleState:
    status, substatus = referral.status, referral.substatus
    if status is None and substatus is None:
        return INITIAL_STATE
    if status is None and substatus is not None:
        status = _STATUS_OF.get(substatus)
    if substatus is None and status is not None:
        substatus = _DEFAULT_SUBSTATUS.get(status)
    state = LifecycleState(status or Status.NONE, substatus or Substatus.NONE)
    if not is_legal(state):
        raise Refused(
            RejectionCode.INVALID_REQUEST,
            f"{state} is not a lifecycle state",
            (_state_problem(state),),
        )
    return state


def _requested_state(
    source: LifecycleState, status: Status | None, substatus: Substatus | None
) -> LifecycleState:
    """The state a patch or replace names; a lone status or substatus fills in the other.

    Both named: exactly that pair. Only the status: the current substatus if it belongs to
    it, else the status's only sensible one. Only the substatus: the status it belongs to.
    """
    if status is None and substatus is None:
        return source
    if substatus is None:
        assert status is not None
        keeps = source.substatus in SUBSTATUSES.get(status, ())
        substatus = source.substatus if keeps else _DEFAULT_SUBSTATUS.get(status, Substatus.NONE)
    elif status is None:
        keeps = substatus in SUBSTATUSES[source.status]
        status = source.status if keeps else _STATUS_OF.get(substatus, Status.NONE)
    target = LifecycleState(status, substatus)
    if not is_legal(target):
        raise Refused(
            RejectionCode.ILLEGAL_TRANSITION,
            f"{target} is not a lifecycle state",
            (_state_problem(target),),
        )
    return target


def _state_problem(state: LifecycleState) -> FieldProblem:
    allowed = ", ".join(s.value for s in SUBSTATUSES.get(state.status, ()))
    if not allowed:
        return FieldProblem(
            "/status", "invalidValue", f"status {state.status} is not a lifecycle status"
        )
    return FieldProblem(
        "/substatus",
        "invalidValue",
        f"substatus {state.substatus} is not allowed with status {state.status}"
        f" (allowed: {allowed})",
    )


def _stamp(referral: Referral, version: int, now: datetime) -> Referral:
    assert referral.id is not None
    digest = hashlib.sha256(f"{referral.id}\x00{version}".encode()).hexdigest()[:24]
    return referral.model_copy(
        update={"version": version, "e_tag": f'"{digest}"', "updated_date_time": now}
    )


def _event(
    kind: EventType,
    referral: Referral,
    source: LifecycleState | None,
    changed: tuple[str, ...],
    command: Command,
    now: datetime,
) -> ReferralEvent:
    assert referral.id is not None
    assert referral.version is not None
    assert referral.e_tag is not None
    assert referral.status is not None
    assert referral.substatus is not None
    return ReferralEvent(
        event_id=str(uuid.uuid5(_IDS, f"event:{referral.id}:{referral.version}")),
        type=kind,
        referral_id=referral.id,
        version=referral.version,
        etag=referral.e_tag,
        status=referral.status,
        substatus=referral.substatus,
        previous_status=source.status if source else None,
        previous_substatus=source.substatus if source else None,
        changed_paths=changed,
        command_id=command.command_id,
        correlation_id=command.correlation_id,
        time=now,
        referral=referral,
    )


def _top_level_paths(document: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(f"/{escape_key(key)}" for key in document if key not in _BOOKKEEPING)


def _changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changed: list[str] = []
        for key in [*before, *(k for k in after if k not in before)]:
            if not prefix and key in _BOOKKEEPING:
                continue
            changed += _changed_paths(
                before.get(key), after.get(key), f"{prefix}/{escape_key(key)}"
            )
        return changed
    return [] if before == after else [prefix]


_HANDLERS: Final[dict[CommandType, _Handler]] = {
    CommandType.CREATE: _create,
    CommandType.PATCH: _patch,
    CommandType.REPLACE: _replace,
    **{move_type: _move for move_type in MOVE_TARGETS},
}
