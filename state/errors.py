"""Why the domain refuses a command.

The domain never raises to its caller: ``decide`` returns a ``Rejected`` value. Inside the
domain a refusal travels as the ``Refused`` exception, which ``decide`` turns into that
value. The reason codes are Partner Center's error vocabulary:

- ``invalidRequest``: the data is malformed; ``details`` lists every problem by path.
- ``itemNotFound``: the referral does not exist (in the command's tenant: another tenant's
  referral is never revealed, it is missing).
- ``preconditionFailed``: the ``ifmatch`` eTag is missing (replace) or stale.
- ``conflict``: a create for a referral that already exists (in the command's tenant).
- ``accessDenied``: the command's ``tenantid`` names another tenant than the one its topic
  belongs to, or a tenant an expiry on the shared topic does not prove it may act as.
- ``illegalTransition``: the Status/Substatus table forbids the move.

Messages and details name the field (a JSON Pointer) and the rule, never the value sent:
rejections are published on a topic other consumers read.
"""

from dataclasses import field
from enum import StrEnum

from state.values import value_object


class RejectionCode(StrEnum):
    INVALID_REQUEST = "invalidRequest"
    ITEM_NOT_FOUND = "itemNotFound"
    PRECONDITION_FAILED = "preconditionFailed"
    CONFLICT = "conflict"
    ACCESS_DENIED = "accessDenied"
    ILLEGAL_TRANSITION = "illegalTransition"


@value_object
class FieldProblem:
    target: str  # JSON Pointer into the command data, e.g. /details/dealValue
    code: str
    message: str


@value_object
class Rejected:
    code: RejectionCode
    message: str
    details: tuple[FieldProblem, ...] = field(default=())


#: A rejection stays small whatever the command held: it is published as one record.
MAX_DETAILS = 100
MAX_MESSAGE_LENGTH = 1000
MAX_DETAIL_MESSAGE_LENGTH = 300


class Refused(Exception):
    def __init__(self, code: RejectionCode, message: str, details: tuple[FieldProblem, ...] = ()):
        super().__init__(message)
        self.rejected = Rejected(
            code, _bounded(message, MAX_MESSAGE_LENGTH), _bounded_details(details)
        )


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bounded_details(details: tuple[FieldProblem, ...]) -> tuple[FieldProblem, ...]:
    kept = tuple(
        FieldProblem(
            _bounded(problem.target, MAX_DETAIL_MESSAGE_LENGTH),
            problem.code,
            _bounded(problem.message, MAX_DETAIL_MESSAGE_LENGTH),
        )
        for problem in details[:MAX_DETAILS]
    )
    if len(details) > MAX_DETAILS:
        more = len(details) - MAX_DETAILS
        kept += (FieldProblem("", "moreProblems", f"{more} more problems not listed"),)
    return kept
