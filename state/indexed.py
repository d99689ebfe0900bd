"""The strings of a referral the store keeps in indexed columns, and what they may hold.

Reads filter on a few fields, which both stores keep in columns of their own beside the
document: ``engagementId``, ``externalReferenceId``, ``direction`` and the e-mails of the
referral's ``team`` (lower-cased). PostgreSQL's text cannot hold U+0000 and one btree entry
holds at most 2,704 bytes, where SQLite takes anything; so that both take every referral
the decision accepts, these strings hold no control character and at most
``Limits.max_indexed_length`` characters. A value the stored referral already had is left
as it is, so a referral stored before the rule still takes its other changes.
"""

from collections.abc import Iterator

from state.errors import FieldProblem, Refused, RejectionCode
from state.limits import Limits, identifier_problem
from state.referral_schema import Referral


def indexed_strings(referral: Referral) -> tuple[tuple[str, str], ...]:
    """(JSON Pointer, value as the store keeps it) of each indexed string the referral has,
    worked out once per referral."""
    found: tuple[tuple[str, str], ...] = referral.worked_out("indexed", _indexed_strings)
    return found


def _indexed_strings(referral: Referral) -> tuple[tuple[str, str], ...]:
    return tuple(_each_indexed_string(referral))


def _each_indexed_string(referral: Referral) -> Iterator[tuple[str, str]]:
    for pointer, value in (
        ("/engagementId", referral.engagement_id),
        ("/externalReferenceId", referral.external_reference_id),
        ("/direction", referral.to_document().get("direction")),
    ):
        if isinstance(value, str):
            yield pointer, value
    for index, member in enumerate(referral.team or ()):
        if member.email:
            yield f"/team/{index}/email", member.email.lower()


def refuse_unindexable(referral: Referral, before: Referral | None, limits: Limits) -> None:
    """Refuse the referral if an indexed string it brings is one a store could not hold."""
    brought = indexed_strings(referral)
    if not brought or (before is not None and brought == indexed_strings(before)):
        return  # nothing new to index: the common case
    kept = {value for _, value in indexed_strings(before)} if before is not None else set()
    longest = limits.max_indexed_length
    problems = tuple(
        FieldProblem(pointer, "tooLong" if len(value) > longest else "invalidValue", reason)
        for pointer, value in brought
        if value not in kept and (reason := identifier_problem(value, longest)) is not None
    )
    if problems:
        raise Refused(RejectionCode.INVALID_REQUEST, "the referral cannot be indexed", problems)
