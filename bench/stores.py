"""The stores a benchmark runs the service on, by the name its options give, and a new one
for a run: a SQLite file in the run's directory, or a fresh PostgreSQL database dropped
after it (``bench.postgres``)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.options import Options
from bench.postgres import fresh_database

#: The ``--store`` choices, and the name each has in the reports.
STORES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}


@contextmanager
def new_store(store: str, workdir: Path, name: str, options: Options) -> Iterator[str]:
    """The URL of a new store of the kind ``store`` (a name of ``STORES``' values), for the
    block; a SQLite file is named ``name`` in ``workdir``."""
    if store == "SQLite":
        yield f"sqlite:///{workdir / f'{name}.db'}"
        return
    assert options.postgres_url is not None, "the PostgreSQL run needs a server"
    with fresh_database(options.postgres_url) as (_, url):
        yield url
