"""What a ``$filter`` outside the grammar is told: the OData construct it tried, named, and
what the service supports instead.

OData's full ``$filter`` has functions (``contains``, ``startswith``...), ``in``, ``has``,
arithmetic, lambdas over any collection, numbers, booleans, typed literals and parameter
aliases. Partner Center's documentation uses none of them, so the service leaves them out;
a client that tries one is told which one, not only where the parser stopped.
"""

from typing import Final

from service.api.filters.tokens import Token
from service.store.query import FIELDS

OPERATORS: Final = ("eq", "ne", "gt", "ge", "lt", "le")
SUPPORTED: Final = (
    f"supported: fields {', '.join(FIELDS)}; operators {' '.join(OPERATORS)}, and, or, not,"
    " parentheses; values 'quoted string', UTC date-time such as 2026-01-31T00:00:00Z, null;"
    " the one function team/any(t:t/email eq '...')"
)
_FIELDS_FOLDED: Final = frozenset(name.casefold() for name in FIELDS)
KEYWORDS: Final = frozenset({"and", "or", "not", "null", *OPERATORS})
_ARITHMETIC: Final = frozenset({"add", "sub", "mul", "div", "divby", "mod"})
#: OData's built-in functions, named as such even without their parentheses.
_FUNCTIONS: Final = frozenset(
    "contains startswith endswith substringof indexof length substring tolower toupper trim"
    " concat matchespattern year month day hour minute second fractionalseconds"
    " totalseconds totaloffsetminutes now maxdatetime mindatetime round floor ceiling"
    " cast isof".split()
)
#: Prefixes of OData's typed literals (``guid'…'``, ``datetime'…'``), before a quote.
_TYPED_LITERALS: Final = frozenset(
    "binary date datetime datetimeoffset duration geography geometry guid time x".split()
)
#: Symbols other languages use for what OData spells as a word.
_SPELLED: Final = {
    "=": "eq", "==": "eq", "!=": "ne", "<>": "ne", "<": "lt", "<=": "le", ">": "gt",
    ">=": "ge", "&&": "and", "&": "and", "||": "or", "|": "or", "!": "not",
}  # fmt: skip
_ARITHMETIC_SYMBOLS: Final = frozenset("+-*/%")
_COLLECTION_SYMBOLS: Final = frozenset("[]{}")


_EITHER: Final = " (write id eq 'a' or id eq 'b')"


def unsupported(token: Token, following: Token | None) -> str | None:
    """The message for the OData construct ``token`` starts, if it is one the service
    leaves out (``following`` is the token after it); None for anything else."""
    if token.kind == "unclosed":
        return (
            f"the string at position {token.position} is not closed (a quote inside a string"
            f" is doubled: 'O''Brien'); {SUPPORTED}"
        )
    named = _named(token, following) if token.kind == "name" else _written(token)
    if named is None:
        return None
    what, hint = named
    return f"{what} at position {token.position} is not supported{hint}; {SUPPORTED}"


def misplaced_value(field: str, token: Token, called: bool) -> str | None:
    """The message for another field, or a parenthesis, where ``field``'s value should be."""
    if token.text.casefold() in _FIELDS_FOLDED and not called:
        what = f"comparing two fields ('{field}' and '{token.text}')"
        return f"{what} at position {token.position} is not supported; {SUPPORTED}"
    if token.text == "(":
        what = f"a value in parentheses at position {token.position}"
        return f"{what} is not supported{_EITHER}; {SUPPORTED}"
    return None


def _named(token: Token, following: Token | None) -> tuple[str, str] | None:
    text, folded = token.text, token.text.casefold()
    called = following is not None and following.text == "("
    if folded == "in":
        return f"the operator '{text}'", _EITHER
    if folded == "has":
        return f"the operator '{text}'", ""
    if folded in _ARITHMETIC:
        return f"arithmetic ('{text}')", ""
    if folded in ("true", "false"):
        return f"the boolean {text}", " (no field is a boolean)"
    if folded in _TYPED_LITERALS and following is not None and following.kind == "string":
        return f"the typed literal {text}'...'", " (a date-time is written unquoted)"
    if called and "/" in folded and folded.rsplit("/", 1)[1] in ("any", "all"):
        return f"the lambda {text}(...)", ""
    if (called and folded not in KEYWORDS) or folded in _FUNCTIONS:
        return f"the function {text}(...)", ""
    return None


def _written(token: Token) -> tuple[str, str] | None:
    text = token.text
    match token.kind:
        case "number":
            return f"the number {text}", f" (no field is a number; a string is quoted: '{text}')"
        case "date":
            return f"the date {text} without a full time", f" (write {text[:10]}T00:00:00Z)"
        case "alias" if text.startswith("@"):
            return f"the parameter alias {text}", ""
        case "alias":
            return f"the OData name {text}", ""
        case "symbol" if text in _SPELLED:
            return f"'{text}'", f" (OData writes {_SPELLED[text]})"
        case "symbol" if text in _ARITHMETIC_SYMBOLS:
            return f"arithmetic or a sign ('{text}')", ""
        case "symbol" if text == '"':
            return "a double-quoted string", " (strings are quoted with ': 'New')"
        case "symbol" if text == ",":
            return "a list (',')", _EITHER
        case "symbol" if text in _COLLECTION_SYMBOLS:
            return f"a collection or JSON literal ('{text}')", ""
        case "symbol":
            return f"the character '{text}'", ""
    return None
