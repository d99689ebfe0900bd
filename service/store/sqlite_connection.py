"""The SQLite store's connections, the threads they run on, and its write transactions.

sqlite3 is synchronous, so every write runs on one dedicated thread that owns the
writing connection; a batch is one function call there, hence one transaction. WAL journal
with ``synchronous=FULL`` so a committed batch survives a crash of the process or the host.
Processes sharing the file take turns on SQLite's write lock: a write transaction begins
``IMMEDIATE`` and waits up to ``_BUSY_TIMEOUT_MS`` for another process's to end (a batch's
is tens of milliseconds), then fails as the store being unavailable, and is retried. The
schema is created or upgraded under a claim on the file (``sqlite_claims``), so processes
starting together migrate it once.

Reads outside the consume loop (the read API, state counts, the expiry scan) go through a
read-only connection and thread of their own: under WAL they read the last commit beside
the writer, so a scan of a large table never holds up a batch.

The consume loop's reads (a batch's referrals and command ids) run on the loop's own
thread, through a read-only connection of their own: they are a few indexed lookups, which
cost less than handing them to a thread and back (measured: ~80 µs against ~260 for one
referral), and under WAL they read the last commit, which the loop's own writes have
reached before it reads again.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final, TypeVar

from service.errors import Component, ConfigurationError, StoreUnavailable, translated
from service.store.sqlite_claims import OutboxClaims
from service.store.sqlite_schema import prepare, require_current

T = TypeVar("T")
#: UPDATE … FROM (3.33) and statements of a chunk's rows (up to 32,766 values, 3.32).
OLDEST_SQLITE: Final = (3, 33, 0)
#: How long a statement waits for a lock another connection holds, in milliseconds.
_BUSY_TIMEOUT_MS: Final = 5000
#: The writer's page cache, in KiB (SQLite's default is 2 MiB): a drained batch of 500
#: commands dirties more pages than that, which then spill to the WAL before the commit
#: and are read back. With 16 MiB the bench mix's write was ~3 µs per command cheaper.
_WRITER_CACHE_KIB: Final = 16_000
#: WAL pages between automatic checkpoints (SQLite's default 1000, ~4 MiB): the outbox's
#: pages are written and freed again every batch, and a checkpoint copies a page once
#: however often it changed since the last; ~1.5 µs per command cheaper, for a WAL file of
#: up to ~16 MiB.
_WAL_PAGES_PER_CHECKPOINT: Final = 4000


def sqlite_path(url: str) -> Path:
    """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
    return Path(url.removeprefix("sqlite://").removeprefix("/"))


class SqliteConnections:
    """The writing connection and its thread, the reading one and its thread, and the
    consume loop's reading connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._writer: sqlite3.Connection | None = None
        self._reads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-read")
        self._reader: sqlite3.Connection | None = None
        self._loop_reader: sqlite3.Connection | None = None
        #: The claims of the processes that share the file (``sqlite_claims``).
        self.claims = OutboxClaims(path)

    @property
    def is_open(self) -> bool:
        return self._writer is not None

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the writing connection, on its thread."""
        return await _on(self._writes, lambda: self._writer, work)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the reading connection, on its thread."""
        return await _on(self._reads, lambda: self._reader, work)

    def read_here(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` on the loop's read connection, on this thread, in one read transaction
        (one snapshot for all its statements)."""
        db = self._loop_reader
        if db is None:
            raise StoreUnavailable("the SQLite store is not open")
        with translated(Component.STORE):
            db.execute("BEGIN")
            try:
                return work(db)
            finally:
                db.rollback()  # it only read

    async def open(self, migrate: bool = True) -> None:
        """Connect; with ``migrate``, create or upgrade the schema, else require this
        version's in an existing file (``sqlite_schema``)."""
        loop = asyncio.get_running_loop()
        with translated(Component.STORE):
            await loop.run_in_executor(self._writes, self._connect, migrate)
            try:
                self._reader = await loop.run_in_executor(self._reads, self._read_only)
                self._loop_reader = self._read_only()
            except BaseException:
                await loop.run_in_executor(self._reads, self._disconnect_reader)
                await loop.run_in_executor(self._writes, self._disconnect_writer)
                raise

    def _connect(self, migrate: bool) -> None:
        _refuse_old_sqlite(sqlite3.sqlite_version_info)
        if migrate:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.is_file():
            raise ConfigurationError(f"no SQLite store at {self.path}")
        self.claims.open()
        try:
            with self.claims.schema() if migrate else contextlib.nullcontext():
                self._writer = self._connect_writer(migrate)
        except BaseException:
            self.claims.close()
            raise

    def _connect_writer(self, migrate: bool) -> sqlite3.Connection:
        """The writing connection; with ``migrate`` (while this process alone holds the
        schema's claim), the file and its schema created or upgraded."""
        # mode=rw: a reader never creates the file.
        uri = f"{self.path.resolve().as_uri()}?mode={'rwc' if migrate else 'rw'}"
        writer = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            writer.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            writer.execute("PRAGMA journal_mode=WAL")
            writer.execute("PRAGMA synchronous=FULL")
            writer.execute(f"PRAGMA cache_size=-{_WRITER_CACHE_KIB}")
            writer.execute(f"PRAGMA wal_autocheckpoint={_WAL_PAGES_PER_CHECKPOINT}")
            if migrate:
                prepare(writer, self.path)
            else:
                require_current(writer, self.path)
        except BaseException:
            writer.close()
            raise
        return writer

    def _read_only(self) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        reader = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        reader.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        return reader

    async def close(self) -> None:
        """Close every connection; the threads end with them (a store is opened once)."""
        if self._loop_reader is not None:
            self._loop_reader.close()
            self._loop_reader = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._reads, self._disconnect_reader)
        self._reads.shutdown(wait=True)
        await loop.run_in_executor(self._writes, self._disconnect_writer)
        self._writes.shutdown(wait=True)

    def _disconnect_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _disconnect_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self.claims.close()


async def _on(
    thread: ThreadPoolExecutor,
    connection: Callable[[], sqlite3.Connection | None],
    work: Callable[[sqlite3.Connection], T],
) -> T:
    def call() -> T:
        db = connection()
        if db is None:
            raise StoreUnavailable("the SQLite store is not open")
        with translated(Component.STORE):
            return work(db)

    return await asyncio.get_running_loop().run_in_executor(thread, call)


def _refuse_old_sqlite(version: tuple[int, int, int]) -> None:
    # At start, not at the first batch, where every statement would fail as if each
    # batch were poison.
    if version < OLDEST_SQLITE:
        raise ConfigurationError(
            f"the SQLite store needs SQLite {'.'.join(map(str, OLDEST_SQLITE))} or newer;"
            f" this Python's sqlite3 module uses {'.'.join(map(str, version))}"
        )


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction: committed when the block ends, rolled back on any exception."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.rollback()
        raise
    db.execute("COMMIT")
