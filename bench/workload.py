"""The command stream the benchmark feeds: a realistic mix over many referrals.

Each referral gets a create, a couple of JSON-patch edits, an accept, and a close (win,
lose or decline). On top of that, about 5% of the commands are refused by the service
(accept on a closed referral, a patch of a read-only path, a move of a referral that does
not exist) and about 2% are duplicates (a producer retry: the very same record again).
Commands of many referrals are interleaved, each referral's in order; the record key is
the referral id. Half the commands are structured CloudEvents, half binary.

Every non-duplicate command has exactly one outcome record (an event or a rejection);
the mix has no no-op commands, so the expected outcomes are known up front.
"""

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from service.codec import command_envelope, command_record

Headers = tuple[tuple[str, bytes], ...]

SOURCE: Final = "urn:referrals-bench"
#: Share of commands the service refuses, and share that are re-sent duplicates.
REJECTED_SHARE: Final = 0.05
DUPLICATE_SHARE: Final = 0.02
_BASE_COMMANDS_PER_REFERRAL: Final = 5
_CLOSES: Final = ("referral.win", "referral.lose", "referral.decline")
_CLOSE_REASONS: Final = {
    "referral.win": "Signed the agreement",
    "referral.lose": "Customer chose another partner",
    "referral.decline": "Outside our practice area",
}


@dataclass(frozen=True, slots=True)
class Record:
    """One command, encoded for Kafka once, before any timing starts."""

    command_id: str
    kind: str
    key: bytes
    value: bytes | None
    headers: Headers
    outcome: str  # "event", "rejection" or "duplicate" (no outcome record)

    @property
    def size(self) -> int:
        value = len(self.value) if self.value is not None else 0
        return value + len(self.key) + sum(len(n) + len(v) for n, v in self.headers)


def referral_document(rng: random.Random, number: int) -> dict[str, Any]:
    """A referral as a CRM integrator would send it (the shape of examples/referral.json)."""
    country, currency = rng.choice([("US", "USD"), ("DE", "EUR"), ("GB", "GBP"), ("JP", "JPY")])
    return {
        "name": f"Cloud migration {number}",
        "externalReferenceId": f"CRM-LEAD-{number:07d}",
        "type": "Independent",
        "qualification": "SalesQualified",
        "customerProfile": {
            "name": f"Customer {number} Ltd",
            "address": {
                "addressLine1": f"{rng.randint(1, 999)} Main Street",
                "city": "Redmond",
                "postalCode": "98052",
                "country": country,
            },
            "size": rng.choice(["1to50employees", "51to250employees", "251to1000employees"]),
            "team": [
                {
                    "firstName": "Alex",
                    "lastName": "Wilber",
                    "phoneNumber": "+1 425 555 0100",
                    "email": f"alex.{number}@customer.example",
                    "contactPreference": {"locale": "en-US", "disableNotifications": False},
                }
            ],
            "ids": {"external": f"CRM-{number}"},
        },
        "consent": {"consentToToShareInfoWithOthers": False, "consentToContact": True},
        "details": {
            "notes": "Wants to move two data centres to Azure this year",
            "dealValue": Decimal(rng.randint(1_000, 5_000_000)) / 100,
            "currency": currency,
            "closingDateTime": "2026-12-31T00:00:00Z",
            "requirements": {
                "industries": [{"id": "Manufacturing"}],
                "products": [{"id": "Azure"}, {"id": "SQL"}],
                "services": [{"id": "DeploymentOrMigration"}],
            },
        },
        "team": [{"firstName": "Megan", "lastName": "Bowen", "email": "megan@partner.example"}],
    }


def _lifecycle(rng: random.Random, referral_id: str, number: int) -> list[tuple[str, Any, str]]:
    """(type, data, expected outcome) for one referral, in the order it must be applied."""
    edits: list[list[dict[str, Any]]] = [
        [{"op": "replace", "path": "/details/notes", "value": f"Call notes {number}-{n}"}]
        for n in range(2)
    ]
    edits[1].append(
        {"op": "replace", "path": "/details/dealValue", "value": Decimal(rng.randint(1, 10**7))}
    )
    close = rng.choice(_CLOSES)
    steps: list[tuple[str, Any, str]] = [
        ("referral.create", referral_document(rng, number), "event"),
        ("referral.patch", edits[0], "event"),
        ("referral.patch", edits[1], "event"),
        ("referral.accept", None, "event"),
        (close, {"statusReason": _CLOSE_REASONS[close]}, "event"),
    ]
    # One refused command for about REJECTED_SHARE of all commands.
    if rng.random() < REJECTED_SHARE * _BASE_COMMANDS_PER_REFERRAL / (1 - REJECTED_SHARE):
        roll = rng.random()
        if roll < 0.6:  # Closed -> Active is not a legal move
            steps.append(("referral.accept", None, "rejection"))
        elif roll < 0.85:  # the service owns the eTag
            bad = [{"op": "replace", "path": "/eTag", "value": '"forged"'}]
            steps.insert(rng.randint(1, 4), ("referral.patch", bad, "rejection"))
        else:  # a move before the create: the referral does not exist yet
            steps.insert(0, ("referral.win", None, "rejection"))
    return steps


def encoded_command(
    rng: random.Random, command_id: str, kind: str, referral_id: str, data: Any, outcome: str
) -> Record:
    """One command as the benchmark sends it (structured or binary CloudEvents, at random)."""
    envelope = command_envelope(
        kind, command_id, SOURCE, referral_id, data, correlationid=f"bench-{referral_id}"
    )
    record = command_record(envelope, structured=rng.random() < 0.5)
    return Record(command_id, kind, record.key, record.value, record.headers, outcome)


def command_stream(seed: int, referrals: int, prefix: str, in_flight: int = 100) -> list[Record]:
    """Commands of ``referrals`` referrals, ``in_flight`` of them interleaved at any time."""
    rng = random.Random(seed)
    pending: list[list[Record]] = []
    stream: list[Record] = []
    created = 0

    def next_referral() -> list[Record]:
        nonlocal created
        number = created
        created += 1
        referral_id = f"{prefix}-{number:06d}"
        steps = _lifecycle(rng, referral_id, number)
        return [
            encoded_command(
                rng, str(uuid.UUID(int=rng.getrandbits(128))), kind, referral_id, data, out
            )
            for kind, data, out in steps
        ]

    while created < min(in_flight, referrals):
        pending.append(next_referral())
    while pending:
        index = rng.randrange(len(pending))
        stream.append(pending[index].pop(0))
        if not pending[index]:
            if created < referrals:
                pending[index] = next_referral()
            else:
                pending.pop(index)
        # A producer retry: a record already sent goes out once more.
        if rng.random() < DUPLICATE_SHARE / (1 - DUPLICATE_SHARE):
            again = rng.choice(stream[-200:])
            stream.append(
                Record(again.command_id, again.kind, again.key, again.value, again.headers,
                       "duplicate")
            )  # fmt: skip
    return stream


def summary(stream: Sequence[Record]) -> dict[str, int]:
    counts = {"commands": len(stream), "event": 0, "rejection": 0, "duplicate": 0}
    for record in stream:
        counts[record.outcome] += 1
    counts["bytes"] = sum(record.size for record in stream)
    return counts
