"""Commands as the command line builds them: an envelope given whole, or bare data with
the type and subject from options.

Options never silently lose to an envelope: an option that names a different value than
the envelope holds is a conflict, one that the envelope lacks is added to it.
"""

import uuid
from collections.abc import Mapping
from typing import Any, Final

from service.codec import command_envelope
from state import CommandType

CLI_SOURCE: Final = "urn:referrals-cli"


class EnvelopeConflict(ValueError):
    """An option names a different value than the envelope it is given with."""


def is_envelope(document: Any) -> bool:
    return isinstance(document, Mapping) and "specversion" in document


def envelope_for(document: Any, attributes: Mapping[str, str | None]) -> dict[str, Any]:
    """A structured CloudEvent: the given envelope, or a command built around bare data.

    ``attributes`` are the options: ``type``, ``subject`` and the extension attributes
    (``ifmatch``, ``tenantid``, ``correlationid``); a None value is not given.
    """
    given = {name: value for name, value in attributes.items() if value is not None}
    if is_envelope(document):
        return _merged(document, given)
    kind = given.pop("type", None) or CommandType.CREATE.value
    subject = given.pop("subject", None)
    if kind == CommandType.CREATE and subject is None and isinstance(document, Mapping):
        subject = str(document.get("id") or uuid.uuid4())
    return command_envelope(kind, str(uuid.uuid4()), CLI_SOURCE, subject, document, **given)


def _merged(envelope: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    for name, value in given.items():
        present = envelope.get(name)
        if present is not None and present != value:
            raise EnvelopeConflict(
                f"the option for '{name}' says {value!r} but the envelope has {present!r};"
                " drop the option or change the envelope"
            )
    return {**envelope, **given}
