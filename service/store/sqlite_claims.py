"""Claims that several processes sharing one SQLite file take on it: on the outbox keys a
publish hands over, and on the schema while one of them creates or upgrades it.

A claim is a POSIX record lock (``fcntl``) on a byte of a lock file beside the database
(``<db>-outbox-N.lock``): the kernel releases a process's locks the moment it ends, however
it ends, so a claim's lease is its process's life. An outbox key claims the byte of its
CRC-32 (2^32 buckets: two publishes of 500 keys each share one with a chance of ~6 in
100,000, so processes publishing different referrals almost never wait on each other); a
record without a key claims a byte of its sequence number. The bytes are spread over
``LOCK_FILES`` files because the kernel walks an inode's whole lock list for each lock it
adds: 500 locks on one file cost ~1.5 to 2.5 µs each, on eight ~0.6.

A process waiting for a claim polls with a bounded backoff rather than blocking a thread,
so a cancelled wait leaves no lock behind; claims are taken in ascending (file, byte) order
so two publishers cannot wait on each other. POSIX locks belong to the process, not to a
descriptor, and closing any descriptor of a file drops every lock the process holds on it:
each lock file is opened once per process and kept open while a store of the file is open
(``_Files``, shared by the stores of one file in a process), and the stores of a process
take their claims one at a time (a thread lock), as the kernel would not tell them apart.
"""

import asyncio
import contextlib
import errno
import fcntl
import os
import threading
import time
import zlib
from collections.abc import AsyncIterator, Collection, Iterator
from pathlib import Path
from typing import Final

from service.errors import StoreUnavailable

#: Lock files a database's claims are spread over (see the module docstring).
LOCK_FILES: Final = 8
#: Byte 0 of the first file: held while a process creates or upgrades the schema.
_SCHEMA_BYTE: Final = 0
#: Where a key's bucket and a keyless record's sequence number start, in each file.
_KEYS_AT: Final = 1
_SEQS_AT: Final = _KEYS_AT + 2**32 // LOCK_FILES
#: The first and the longest pause between two tries of a claim another process holds.
_FIRST_PAUSE: Final = 0.0005
_LONGEST_PAUSE: Final = 0.05
#: How long a claim or the schema is waited for: another process holds a claim for one
#: publish (the broker's acknowledgements), the schema for one migration.
CLAIM_WAIT: Final = 120.0
SCHEMA_WAIT: Final = 600.0
_HELD: Final = (errno.EACCES, errno.EAGAIN)


def lock_files(database: Path) -> list[Path]:
    """The lock files of a database file."""
    return [database.with_name(f"{database.name}-outbox-{n}.lock") for n in range(LOCK_FILES)]


def claimed_bytes(keys: Collection[bytes], seqs: Collection[int]) -> list[tuple[int, int]]:
    """The (file, byte) of each key's bucket and each keyless seq, ascending, once each."""
    spots = set()
    for key in keys:
        bucket = zlib.crc32(key)
        spots.add((bucket % LOCK_FILES, _KEYS_AT + bucket // LOCK_FILES))
    for seq in seqs:
        spots.add((seq % LOCK_FILES, _SEQS_AT + seq // LOCK_FILES))
    return sorted(spots)


class _Files:
    """A database's lock files, open once in this process, and the thread lock that makes
    its stores take their claims one at a time."""

    _open: dict[str, "_Files"] = {}
    _registry = threading.Lock()

    def __init__(self, paths: list[Path]) -> None:
        self.descriptors = [os.open(path, os.O_RDWR | os.O_CREAT, 0o600) for path in paths]
        self.claiming = threading.Lock()
        self.schema = threading.Lock()
        self.users = 0

    @classmethod
    def of(cls, database: Path) -> "_Files":
        name = os.path.realpath(database)
        with cls._registry:
            files = cls._open.get(name)
            if files is None:
                files = cls._open[name] = cls(lock_files(Path(name)))
            files.users += 1
            return files

    def leave(self, database: Path) -> None:
        with self._registry:
            self.users -= 1
            if self.users == 0:
                del self._open[os.path.realpath(database)]
                for descriptor in self.descriptors:  # drops this process's locks on them
                    os.close(descriptor)


class OutboxClaims:
    """A store's claims on its database's lock files, from ``open`` to ``close``."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self._files: _Files | None = None

    def open(self) -> None:
        if self._files is None:
            self._files = _Files.of(self.database)

    def close(self) -> None:
        if self._files is not None:
            self._files.leave(self.database)
            self._files = None

    @contextlib.contextmanager
    def schema(self) -> Iterator[None]:
        """The schema to create or upgrade alone (blocks this thread: run it off the loop)."""
        files = self._opened()
        deadline = time.monotonic() + SCHEMA_WAIT
        pause = _FIRST_PAUSE
        with files.schema:
            while not _try_lock(files.descriptors[0], _SCHEMA_BYTE):
                pause = _paused(pause, deadline, "the schema, held by another process")
                time.sleep(pause)
            try:
                yield
            finally:
                fcntl.lockf(files.descriptors[0], fcntl.LOCK_UN, 1, _SCHEMA_BYTE)

    @contextlib.asynccontextmanager
    async def held(self, spots: list[tuple[int, int]]) -> AsyncIterator[None]:
        """Hold the claims of ``spots`` (``claimed_bytes``) for the block."""
        files = self._opened()
        deadline = time.monotonic() + CLAIM_WAIT
        pause = _FIRST_PAUSE
        while not files.claiming.acquire(blocking=False):  # another store of this process
            pause = _paused(pause, deadline, "outbox keys, held by this process")
            await asyncio.sleep(pause)
        try:
            for file, byte in spots:
                pause = _FIRST_PAUSE
                while not _try_lock(files.descriptors[file], byte):
                    pause = _paused(pause, deadline, "outbox keys, held by another process")
                    await asyncio.sleep(pause)
            yield
        finally:
            for descriptor in files.descriptors:  # every key byte, in one call per file
                fcntl.lockf(descriptor, fcntl.LOCK_UN, 0, _KEYS_AT)
            files.claiming.release()

    def _opened(self) -> _Files:
        if self._files is None:
            raise StoreUnavailable("the SQLite store is not open")
        return self._files


def _try_lock(descriptor: int, byte: int) -> bool:
    try:
        fcntl.lockf(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, byte)
    except OSError as error:
        if error.errno in _HELD:
            return False
        raise StoreUnavailable(f"the SQLite store's lock files failed: {error}") from error
    return True


def _paused(pause: float, deadline: float, what: str) -> float:
    """The next pause, or StoreUnavailable once ``deadline`` has passed."""
    if time.monotonic() > deadline:
        raise StoreUnavailable(f"waited too long for {what}")
    return min(pause * 2, _LONGEST_PAUSE)
