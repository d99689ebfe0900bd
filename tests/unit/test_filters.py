"""The $filter grammar: any text parses to a tree or is refused with FilterError whose
message is specific (an OData construct outside the grammar is named, with what is
supported), and the tree compiles to SQL whose text never holds a value of the filter."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.filters.errors import SUPPORTED
from service.api.filters.parsing import FilterError, parse_filter
from service.store.query import All, Any, Comparison, Dialect, Not, TeamMember, compile_filter


def _dialect() -> Dialect:
    return Dialect(placeholder=lambda n: f"${n}", time_value=str, team_member=lambda m: m)


def test_and_binds_tighter_than_or_and_not_binds_tightest() -> None:
    tree = parse_filter("not status eq 'New' or id eq 'a' and type eq 'Shared'")
    assert isinstance(tree, Any)
    first, second = tree.operands
    assert isinstance(first, Not)
    assert isinstance(second, All)
    assert [c.value for c in second.operands if isinstance(c, Comparison)] == ["a", "Shared"]


def test_team_any_takes_any_variable_name() -> None:
    assert parse_filter("team/any(member: member/email eq 'A@B.example')") == TeamMember(
        "A@B.example"
    )


def test_values_travel_only_as_parameters() -> None:
    hostile = "x' OR 1=1; DROP TABLE referrals; --"
    quoted = hostile.replace("'", "''")
    tree = parse_filter(f"id eq '{quoted}' or team/any(t:t/email eq '{quoted}')")
    dialect = _dialect()
    sql = compile_filter(tree, dialect)
    assert "DROP" not in sql
    assert "1=1" not in sql
    assert dialect.params == [hostile, hostile.lower()]


#: The messages that do not end with the list of what is supported: each says exactly what
#: is wrong (a limit, an unclosed parenthesis, a value of the wrong kind or out of range).
SPECIFIC = re.compile(
    "the filter is (empty|longer than .*)|the filter nests deeper than .*"
    "|the filter ends too early: .* should follow|the '\\(' at position \\d+ is not closed"
    "|unexpected '\\)' at position \\d+: it closes no '\\('"
    "|'\\w+' can only be compared with null by eq or ne"
    "|'\\w+' is compared with a quoted string, at position \\d+"
    "|'.*' is not a UTC date-time such as .*|'.*' is not a \\w+ value \\(one of .*\\)"
    "|team/any supports one condition: .*, found .* at position \\d+",
    re.DOTALL,
)
#: OData constructs the grammar leaves out, each with what its error must name.
UNSUPPORTED = {
    "contains(id, 'a')": "the function contains(...)",
    "startswith(id,'a') eq true": "the function startswith(...)",
    "endswith(externalReferenceId, '-1')": "the function endswith(...)",
    "substringof('a', id)": "the function substringof(...)",
    "tolower(status) eq 'new'": "the function tolower(...)",
    "geo.distance(a, b) lt 5": "the function geo.distance(...)",
    "id contains 'a'": "the function contains(...)",
    "id in ('a', 'b')": "the operator 'in'",
    "status IN ('New')": "the operator 'IN'",
    "type has 'Shared'": "the operator 'has'",
    "createdDateTime add 'P1D' gt 2026-01-01T00:00:00Z": "arithmetic ('add')",
    "id mod 2 eq 0": "arithmetic ('mod')",
    "id eq 'a' + 'b'": "arithmetic or a sign ('+')",
    "id eq 'a' / 'b'": "arithmetic or a sign ('/')",
    "id eq -1": "arithmetic or a sign ('-')",
    "team/all(t: t/email eq 'a@b.example')": "the lambda team/all(...)",
    "tags/any(t: t eq 'x')": "the lambda tags/any(...)",
    "id eq 5": "the number 5",
    "id eq 1.5e3": "the number 1.5e3",
    "id eq true": "the boolean true",
    "id == 'a'": "'=='",
    "id != 'a'": "'!='",
    "id eq 'a' && id eq 'b'": "'&&'",
    'id eq "a"': "a double-quoted string",
    "id eq @p": "the parameter alias @p",
    "id eq $it": "the OData name $it",
    "createdDateTime gt 2026-01-01": "the date 2026-01-01 without a full time",
    "id eq guid'a'": "the typed literal guid'...'",
    "id eq ('a')": "a value in parentheses",
    "id eq 'a', 'b'": "a list (',')",
    "id eq ['a']": "a collection or JSON literal ('[')",
    "status eq substatus": "comparing two fields ('status' and 'substatus')",
    "id eq 'it''s": "is not closed",
}
VALID = st.sampled_from(
    [
        "status eq 'New'",
        "id ne 'a'",
        "createdDateTime ge 2026-01-31T00:00:00Z",
        "expirationDateTime eq null",
        "team/any(t:t/email eq 'a@b.example')",
        "not (type eq 'Shared' or direction eq 'Incoming')",
    ]
)


@settings(max_examples=400, derandomize=True)
@given(
    st.text(
        alphabet=st.sampled_from(list("()':/ aeiqndtorsxlgTZ0123456789-.null+*=<>!,\"@$[ü")),
        max_size=60,
    )
)
def test_any_text_parses_or_is_refused_with_a_specific_filter_error(text: str) -> None:
    try:
        compile_filter(parse_filter(text), _dialect())
    except FilterError as error:
        message = str(error)
        assert message.endswith(SUPPORTED) or SPECIFIC.fullmatch(message), message


@settings(max_examples=300, derandomize=True)
@given(
    before=st.lists(st.tuples(VALID, st.sampled_from([" and ", " or "])), max_size=3),
    construct=st.sampled_from(sorted(UNSUPPORTED)),
    negated=st.booleans(),
    grouped=st.booleans(),
)
def test_an_unsupported_construct_anywhere_is_named_with_what_is_supported(
    before: list[tuple[str, str]], construct: str, negated: bool, grouped: bool
) -> None:
    operand = f"({construct})" if grouped else construct
    text = "".join(a + joiner for a, joiner in before) + ("not " if negated else "") + operand
    with pytest.raises(FilterError) as refused:
        parse_filter(text)
    assert UNSUPPORTED[construct] in str(refused.value), text
    assert str(refused.value).endswith(SUPPORTED)
