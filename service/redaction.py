"""Credentials out of anything the service logs or shows: database URLs first of all.

A URL is read here as its driver (asyncpg, like libpq) reads it, and every value the driver
could take for a secret is masked, in every spelling: the password of the userinfo, and
each query parameter whose name, percent-decoded (``+`` as a space) and in any case, holds
``pass``, ``pwd``, ``secret``, ``token``, ``credential`` or ``key`` (``password``,
``sslpassword``, ``passfile``, ``sslkey``...), each time the name is repeated, not only
the last one the driver keeps. ``options`` (server settings, ``-c name=value``) is masked
whole when it names such a setting. ``mask_url`` masks one URL; ``redact`` masks every URL
and query parameter inside free text (an error message that quotes a DSN), and every log
line goes through it. In free text a URL ends at whitespace or a quote.
"""

import re
from typing import Final
from urllib.parse import unquote_plus

MASK: Final = "***"
_SECRET_WORD: Final = re.compile(r"pass|pwd|secret|token|credential|key", re.IGNORECASE)
#: Driver options given as settings: masked whole when they name a secret.
_SETTINGS_PARAMETERS: Final = frozenset({"options"})
#: Percent-decodings tried on a name: a doubly encoded name is still recognised.
_DECODINGS: Final = 3
_URL: Final = re.compile(r'[a-z][a-z0-9+.-]*://[^\s"]*', re.IGNORECASE)
#: A query parameter inside free text, wherever its URL went.
_PARAMETER: Final = re.compile(r'(?P<lead>[?&;])(?P<name>[^=&;?#\s"]+)=(?P<value>[^&\s"]*)')


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo and every secret query parameter masked.

    The userinfo ends at the last ``@`` before the query (or in the whole URL when the
    part before any ``?`` holds none), so a password holding ``/``, ``?`` or ``@`` is
    masked whole: at worst, more than the password is.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _mask_query(url)
    before_query = rest.partition("?")[0]
    end = before_query.rfind("@")
    if end < 0:
        end = rest.rfind("@")
    credentials, after = (rest[:end], rest[end:]) if end >= 0 else ("", rest)
    if ":" in credentials:
        credentials = f"{credentials.split(':', 1)[0]}:{MASK}"
    return f"{scheme}{separator}{credentials}{_mask_query(after)}"


def redact(text: str) -> str:
    """``text`` with every URL password and secret query parameter in it masked."""
    return _PARAMETER.sub(_masked_parameter, _URL.sub(lambda m: mask_url(m[0]), text))


def is_secret_name(name: str) -> bool:
    """Whether the driver may read a parameter so named (once decoded) as a secret."""
    return _SECRET_WORD.search(_decoded(name)) is not None


def _mask_query(text: str) -> str:
    head, mark, query = text.partition("?")
    if not mark:
        return text
    return f"{head}?{'&'.join(_mask_pair(pair) for pair in query.split('&'))}"


def _mask_pair(pair: str) -> str:
    name, equals, value = pair.partition("=")
    return f"{name}={MASK}" if equals and _is_secret(name, value) else pair


def _masked_parameter(match: re.Match[str]) -> str:
    if not _is_secret(match["name"], match["value"]):
        return match[0]
    return f"{match['lead']}{match['name']}={MASK}"


def _is_secret(name: str, value: str) -> bool:
    if is_secret_name(name):
        return True
    if _decoded(name).lower() in _SETTINGS_PARAMETERS:
        return _SECRET_WORD.search(_decoded(value)) is not None
    return False


def _decoded(text: str) -> str:
    for _ in range(_DECODINGS):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    return text
