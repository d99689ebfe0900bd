"""An update that names only the columns that differ from the referral as read
(``sqlite_updates``) stores exactly the row that naming every column stores, and rewrites a
referral's team rows only when the e-mails they hold change.

Generated command streams (every kind of command, near misses of the canonical form, two
tenants: ``tests/support/command_streams.py``; and changes of a referral's team among
e-mails that differ only in case) are decided a batch at a time, the clock moving between
batches, and every batch is written to two SQLite files: as decided (the referral as read
known, so only the differing columns named) and with the referral as read withheld (every
column named). Both files hold the same rows, value for value and type for type, after every
batch, packed or a row at a time; and each referral's team rows are the e-mails its row
lists.
"""

import dataclasses
import json
import sqlite3
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from service.codec import WireLimits, command_envelope, command_record
from service.consume.decision import decide_batch, policy_of
from service.consume.records import read_record
from service.kafka import PolledRecord
from service.settings import Settings
from service.store.sqlite_schema import prepare
from service.store.sqlite_updates import EVERY_COLUMN
from service.store.sqlite_writes import BatchRows, write_batch
from state import CommandKey, ReferralKey
from tests.support.command_streams import NOW, TENANCY, streams

TABLES = ("referrals", "referral_team")
#: E-mails the team rows store lower-cased: two of them the same row.
EMAILS = ("a@x.example", "A@x.example", "b@x.example")


@st.composite
def team_changes(draw: st.DrawFn) -> list[PolledRecord]:
    """A referral created with a team, then patches of its team and moves between them."""
    members = st.lists(
        st.sampled_from(EMAILS).map(lambda email: {"email": email}), min_size=0, max_size=2
    )
    commands = [("referral.create", {"name": "r", "team": draw(members)})]
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["team", "team", "member", "referral.accept", "note"]))
        if kind == "team":
            commands.append(
                ("referral.patch", [{"op": "replace", "path": "/team", "value": draw(members)}])
            )
        elif kind == "member":
            email = draw(st.sampled_from(EMAILS))
            commands.append(
                ("referral.patch", [{"op": "add", "path": "/team/-", "value": {"email": email}}])
            )
        elif kind == "note":
            note = [{"op": "add", "path": "/details/notes", "value": f"n{len(commands)}"}]
            commands.append(("referral.patch", note))
        else:
            commands.append((kind, None))
    records = []
    for number, (kind, data) in enumerate(commands):
        envelope = command_envelope(kind, f"t-{number}", "urn:test", "r-team", data)
        record = command_record(envelope, structured=draw(st.booleans()))
        records.append(
            PolledRecord("commands", 0, number, 0, record.key, record.value, record.headers)
        )
    return records


def _rows(db: sqlite3.Connection) -> dict[str, list[tuple[object, ...]]]:
    found = {}
    for table in TABLES:
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        typed = ", ".join(f"{c}, typeof({c})" for c in columns)
        found[table] = db.execute(f"SELECT {typed} FROM {table} ORDER BY 1, 3, 5").fetchall()
    return found


def _teams_as_stored(db: sqlite3.Connection) -> None:
    """Each referral's team rows are the e-mails its row lists, and no other referral has
    any."""
    listed = {
        (tenant, referral_id): sorted(json.loads(emails))
        for tenant, referral_id, emails in db.execute(
            "SELECT tenant_id, id, team_emails FROM referrals"
        )
    }
    rows: dict[tuple[str, str], list[str]] = {}
    for email, tenant, referral_id in db.execute(
        "SELECT email, tenant_id, referral_id FROM referral_team"
    ):
        rows.setdefault((tenant, referral_id), []).append(email)
    assert {key: sorted(emails) for key, emails in rows.items()} == {
        key: emails for key, emails in listed.items() if emails
    }


def _opened(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    prepare(db, path)
    return db


@given(
    stream=streams() | team_changes(),
    sizes=st.lists(st.integers(1, 5), min_size=1, max_size=4),
    packed=st.booleans(),
)
@seed(20261207)
@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
def test_naming_the_changed_columns_stores_what_naming_every_column_stores(
    stream: list[PolledRecord], sizes: list[int], packed: bool
) -> None:
    config = Settings()
    limits = WireLimits(config.max_command_bytes, config.max_attribute_length)
    policy = policy_of(config)
    stored: dict[ReferralKey, Any] = {}
    seen: set[CommandKey] = set()
    named: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as directory:
        changed_only = _opened(Path(directory) / "changed.db")
        every = _opened(Path(directory) / "every.db")
        try:
            start, number = 0, 0
            while start < len(stream):
                size = sizes[min(number, len(sizes) - 1)]
                batch = [read_record(r, limits, TENANCY) for r in stream[start : start + size]]
                now = NOW + timedelta(minutes=number)
                decided = decide_batch(batch, stored, seen, now, config, policy)
                start, number = start + size, number + 1
                write = decided.write
                withheld = dataclasses.replace(
                    write,
                    referrals=[dataclasses.replace(w, previous=None) for w in write.referrals],
                )
                rows = BatchRows.of(write)
                named.update("some" if c != EVERY_COLUMN else "every" for c in rows.written)
                write_batch(changed_only, rows, packed=packed)
                write_batch(every, BatchRows.of(withheld), packed=packed)
                assert _rows(changed_only) == _rows(every)
                _teams_as_stored(changed_only)
                stored.update({w.record.key: w.record for w in write.referrals})
                seen.update(CommandKey(p.tenant_id, p.command_id) for p in write.processed)
        finally:
            changed_only.close()
            every.close()
    event(f"updates naming some columns: {bool(named['some'])}")
    assert named["every"] == 0, "an update decided with the referral as read named every column"
