"""One installer at a time for a tool kept in the project cache (``.cache/``): the test
processes of ``pytest -n`` may ask for the same tool at once, and the second must wait for
the first's install rather than race it into the same folder."""

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def installing(cache_dir: Path) -> Iterator[None]:
    """Hold the lock of ``cache_dir`` (a file beside it) for the block."""
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(cache_dir.parent / f".{cache_dir.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
