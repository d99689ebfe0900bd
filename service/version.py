"""The installed distribution's version, as its package metadata records it."""

from importlib import metadata
from typing import Final

DISTRIBUTION: Final = "referral-lifecycle"


def package_version() -> str:
    """The version of the installed ``referral-lifecycle``; ``0+unknown`` when it is run
    from a source tree that was never installed."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
