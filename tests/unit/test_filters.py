"""The $filter grammar: any text parses to a tree or is refused with FilterError, and the
tree compiles to SQL whose text never holds a value of the filter."""

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.filters import FilterError, parse_filter
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


@settings(max_examples=400, derandomize=True)
@given(
    st.text(alphabet=st.sampled_from(list("()':/ aeiqndtorsxlgTZ0123456789-.null")), max_size=60)
)
def test_any_text_parses_or_is_refused_with_a_filter_error(text: str) -> None:
    with contextlib.suppress(FilterError):
        compile_filter(parse_filter(text), _dialect())
