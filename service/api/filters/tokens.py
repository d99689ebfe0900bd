"""``$filter`` text as tokens: every character lands in one, so the parser, not the
tokenizer, decides what is wrong and can name it.

Besides the grammar's own tokens (strings, date-times, names, ``( ) :``) it recognises what
OData writes elsewhere — numbers, dates without a time, unclosed strings, parameter aliases
and ``$`` names, operator symbols such as ``==`` or ``+`` — and any other character alone.
"""

import re
from dataclasses import dataclass
from typing import Final

_TOKEN: Final = re.compile(
    # Possessive: 'it''s is one unclosed string, never the string 'it' and more.
    r"\s*(?:(?P<string>'(?:[^']|'')*+')"
    r"|(?P<unclosed>'(?:[^']|'')*\Z)"
    r"|(?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d))"
    r"|(?P<date>\d{4}-\d\d-\d\d(?:T[\d:.]*)?)"
    r"|(?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?:[LlMmDdFf]\b)?)"
    r"|(?P<name>[A-Za-z_]\w*(?:[/.][A-Za-z_]\w*)*)"
    r"|(?P<alias>[@$][A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<punct>[():])"
    r"|(?P<symbol>==|!=|<>|<=|>=|&&|\|\||\S))"
)


class FilterError(ValueError):
    """A ``$filter`` or ``$orderby`` the service cannot read; the message says why."""


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    at: int

    @property
    def position(self) -> int:
        """Where the token starts, counted from 1 as a person reads the text."""
        return self.at + 1


def tokens(text: str) -> list[Token]:
    found: list[Token] = []
    at = 0
    while at < len(text) and not text[at:].isspace():
        match = _TOKEN.match(text, at)
        # The last alternative takes any character but a space, so a match always exists.
        assert match is not None
        assert match.lastgroup is not None
        kind = match.lastgroup
        found.append(Token(kind, match.group(kind), match.start(kind)))
        at = match.end()
    return found
