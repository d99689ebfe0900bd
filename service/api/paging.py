"""The continuation of a list: an opaque ``$skiptoken`` naming where the last page ended.

It is a keyset position (the order column's value, the tenant and the id of the last
referral shown), not an offset, so referrals created or changed meanwhile neither shift
the next page nor repeat it. It also carries a digest of the filter and order it was made
for: a token replayed with another query is refused instead of silently skipping.
"""

import base64
import binascii
import hashlib

from service.api.errors import invalid
from service.jsonio import JsonRefused, dumps, loads
from service.store.query import Column, Kind, Position
from state.fields import parse_utc


def query_digest(filter_text: str | None, orderby: str | None) -> str:
    text = f"{filter_text or ''}\x00{orderby or ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(position: Position, digest: str) -> str:
    fields = [position.value, position.tenant_id, position.referral_id, digest]
    return base64.urlsafe_b64encode(dumps(fields)).decode().rstrip("=")


def decode_token(token: str, digest: str, order: Column) -> Position:
    try:
        fields = loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, JsonRefused):
        fields = None
    if not (
        isinstance(fields, list) and len(fields) == 4 and all(isinstance(f, str) for f in fields)
    ):
        raise invalid("the continuation token is not one this service made", "$skiptoken")
    if fields[3] != digest:
        raise invalid("the continuation token belongs to another $filter or $orderby", "$skiptoken")
    if order.kind is Kind.TIME:
        try:
            parse_utc(fields[0])
        except ValueError:
            raise invalid(
                "the continuation token is not one this service made", "$skiptoken"
            ) from None
    return Position(fields[0], fields[1], fields[2])
