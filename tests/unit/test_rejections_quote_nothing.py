"""A rejection names the field and the rule, never the value that was sent.

Rejections go to a topic other consumers read; the values of a refused command (e-mail
and street addresses, eTags, tenant ids) must not travel with them. Documents carry a
marker string in any of the fields the schema names, in shapes each field refuses; the
marker never appears in the encoded rejection, in either mode.
"""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from service.codec import encode_rejection
from state import Command, CommandType, Rejected, decide
from tests.support.builders import NOW, REFERRAL_ID, created
from tests.support.schema_fields import PLACES, Place

markers = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=6, max_size=10).map(
    lambda text: f"MRK{text}"
)
SHAPES = ("{m}", "{m}@", "x@{m}", "{m}@contoso", "2026-{m}", " {m} ", "-{m}", "{m}Z")


def _value(marker: str, shape: int) -> Any:
    if shape == len(SHAPES):
        return [marker]
    if shape == len(SHAPES) + 1:
        return {"id": marker, "value": marker}
    return SHAPES[shape].format(m=marker)


def _put(document: dict[str, Any], place: Place, value: Any) -> None:
    node: Any = document
    *walk, last = place.path
    for step, after in zip(walk, place.path[1:], strict=True):
        if isinstance(step, int):
            if not isinstance(node, list):
                return
            if not node:
                node.append({})
            node = node[0]
        elif isinstance(node, dict):
            node = node.setdefault(step, [] if isinstance(after, int) else {})
        if not isinstance(node, dict | list):
            return  # a shallower field already holds a value here
    if isinstance(node, dict):
        node[str(last)] = value


fillings = st.lists(
    st.tuples(st.sampled_from(PLACES), st.integers(0, len(SHAPES) + 1)), min_size=1, max_size=12
)


def _document(marker: str, filling: list[tuple[Place, int]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for place, shape in sorted(filling, key=lambda item: len(item[0].path), reverse=True):
        _put(document, place, _value(marker, shape))
    return document


def _commands(marker: str, document: dict[str, Any], etag: str) -> list[Command]:
    patch = [{"op": "add", "path": f"/{key}", "value": value} for key, value in document.items()]
    base: dict[str, Any] = {"referral_id": REFERRAL_ID, "tenant_id": "org-a"}
    stale, bad_op = f'"{marker}"', [{"op": marker, "path": "/name"}]
    return [
        Command(type=CommandType.CREATE, command_id="c1", data=document, **base),
        Command(type=CommandType.REPLACE, command_id="c2", data=document, if_match=etag, **base),
        Command(type=CommandType.REPLACE, command_id="c3", data=document, if_match=stale, **base),
        Command(type=CommandType.PATCH, command_id="c4", data=patch, if_match=etag, **base),
        Command(type=CommandType.PATCH, command_id="c5", data=bad_op, **base),
        Command(type=CommandType.ACCEPT, command_id="c6", data={"statusReason": [marker]}, **base),
        Command(type=CommandType.WIN, command_id="c7", declared_tenant_id=marker, **base),
    ]


@settings(max_examples=250, deadline=None, derandomize=True, database=None)
@given(markers, fillings)
def test_no_rejection_quotes_a_value_it_was_sent(
    marker: str, filling: list[tuple[Place, int]]
) -> None:
    stored = created(tenant_id="org-a")
    assert stored.referral.e_tag is not None
    for command in _commands(marker, _document(marker, filling), stored.referral.e_tag):
        current = None if command.type is CommandType.CREATE else stored
        decision = decide(current, command, NOW)
        if not isinstance(decision, Rejected):
            continue
        for structured in (True, False):
            record = encode_rejection(command, decision, "rejections", "urn:s", "t", structured)
            assert marker.encode() not in (record.value or b"")
            assert all(marker.encode() not in value for _, value in record.headers)
