"""What readiness is made of, updated by the consume loop and read by the HTTP server.

Ready means: partitions assigned, the store and the broker answered on their last use, no
batch is retrying after a failure, and the consumer is not stalled (lag with no progress
for ``stall_seconds``).
"""

import time
from dataclasses import dataclass, field
from typing import Protocol

from service.errors import Component

#: What a replica without partitions reports (the parent of workers reads it: ``reports``).
UNASSIGNED = "no partitions assigned"


class Readiness(Protocol):
    """What ``/readyz`` asks: what keeps the service from being ready (nothing: ready)."""

    def problems(self) -> list[str]: ...


@dataclass
class Health:
    stall_seconds: float
    store_ok: bool = False
    broker_ok: bool = False
    assigned: bool = False
    lag: int = 0
    retrying: Component | None = None  # what a batch is waiting for, while it retries
    last_progress: float = field(default_factory=time.monotonic)

    def progressed(self) -> None:
        self.last_progress = time.monotonic()

    def problems(self) -> list[str]:
        found = []
        if not self.store_ok:
            found.append("store unreachable")
        if not self.broker_ok:
            found.append("broker unreachable")
        if self.retrying is not None:
            found.append(f"retrying a batch: {self.retrying} failing")
        if not self.assigned:
            found.append(UNASSIGNED)
        if self.lag > 0 and time.monotonic() - self.last_progress > self.stall_seconds:
            found.append(f"stalled: lag {self.lag} without progress")
        return found

    @property
    def ready(self) -> bool:
        return not self.problems()
