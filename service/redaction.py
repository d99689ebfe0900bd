"""Credentials out of anything the service logs or shows: database URLs first of all.

A URL may carry a secret in its userinfo (``user:password@``) and in its query string
(``?password=…``, ``sslpassword=…``, a key passphrase…). ``mask_url`` masks both in one
URL; ``redact`` masks them wherever they appear inside free text (an error message that
quotes a DSN), so every log line goes through it.
"""

import re
from typing import Final

MASK: Final = "***"
#: A query parameter is a credential when its name holds one of these, in any case.
_SECRET_NAME: Final = r"\w*(?:pass|secret|token|credential|key)\w*"
#: A URL's userinfo password, and a secret query parameter, inside any text.
_USERINFO: Final = re.compile(r'(?P<head>[a-z][a-z0-9+.-]*://[^:/?#@\s"]*):[^\s"]*@', re.I)
_PARAMETER: Final = re.compile(rf'(?P<name>[?&;]{_SECRET_NAME}=)[^&#\s"]*', re.IGNORECASE)


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo and every secret query parameter masked.

    The userinfo ends at the last ``@``, so a password holding ``/`` or ``@`` is masked
    whole (at worst, more than the password is).
    """
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if separator and at and ":" in credentials:
        url = f"{scheme}{separator}{credentials.split(':', 1)[0]}:{MASK}@{host}"
    return _mask_parameters(url)


def redact(text: str) -> str:
    """``text`` with every URL password and secret query parameter in it masked."""
    return _mask_parameters(_USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text))


def _mask_parameters(text: str) -> str:
    return _PARAMETER.sub(lambda m: f"{m['name']}{MASK}", text)
