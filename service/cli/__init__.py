"""The ``referrals`` command line (see ``service.cli.main``)."""

from service.cli.main import main

__all__ = ["main"]
