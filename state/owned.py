"""The fields of a referral that the service owns, by wire name: a patch or replace may not
set them, a create's values are replaced, and a change carries them over or stamps them."""

from typing import Final

SERVICE_OWNED: Final = frozenset(
    {
        "id",
        "createdDateTime",
        "updatedDateTime",
        "acceptedDateTime",
        "closedDateTime",
        "eTag",
        "version",
    }
)
