"""Which service runs a benchmark makes (store x worker processes), and in what order.

``referrals run`` has a ``workers`` setting: 1 runs the consume loop in its own process,
N > 1 starts N worker processes, 0 (the default) as many as the usable CPUs, capped by
the commands topic's partitions. The benchmark runs the service with a set of worker
counts (``--workers 1,2,default``); the default is computed as the service computes it,
and when it is a count already in the set that run is the default's (made with the
setting left at 0, as ``referrals run`` is started) instead of a second run of one count.

Every round runs each service run once between two runs of the passthrough (one run of
the passthrough between two service runs serves both, across rounds too), each in a fresh
process with its own topics, group and store, so that a service run's ratio is
taken over the passthrough measured just before and just after it, on the machine as it
was then (a machine shared with other work drifts within a minute). Rounds alternate the
order of the service runs, so that none always comes first or last.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from service.workers.count import worker_count

DEFAULT = "default"
DEFAULT_SET = ("1", "2", DEFAULT)
PASSTHROUGH = "passthrough"


def default_workers(partitions: int) -> int:
    """The worker processes ``referrals run`` starts with ``workers`` = 0 (the service's own
    count: the usable CPUs, capped by the partitions)."""
    return worker_count(0, partitions)


@dataclass(frozen=True)
class ServiceRun:
    """One service configuration: its store, its worker processes and the ``workers``
    setting it is started with (0: the default)."""

    store: str
    workers: int
    setting: int
    #: The default's count was also asked for by number (it is run once, as the default).
    asked: bool = True

    @property
    def is_default(self) -> bool:
        return self.setting == 0

    @property
    def shown(self) -> str:
        count = f"{self.workers} {'worker' if self.workers == 1 else 'workers'}"
        if not self.is_default:
            return count
        return f"{count} (the default)" if self.asked else f"default = {count}"

    @property
    def name(self) -> str:
        return f"service ({self.store}, {self.shown})"

    @property
    def label(self) -> str:
        """File-name safe: the run's log, SQLite file and topics use it."""
        which = "default" if self.is_default else str(self.workers)
        return f"service-{self.store.lower()}-w{which}"


def parse_workers(text: str) -> tuple[str, ...]:
    """``1,2,default`` into its items, each a positive count or ``default``."""
    items = tuple(item.strip() for item in text.split(",") if item.strip())
    for item in items:
        if item != DEFAULT and not (item.isdigit() and int(item) > 0):
            raise ValueError(f"{item!r} is neither a positive count nor {DEFAULT!r}")
    if not items:
        raise ValueError("no worker count")
    return items


def service_runs(stores: Sequence[str], workers: Sequence[str], default: int) -> list[ServiceRun]:
    """Per store, one run per distinct count, in the order given; the default's count is
    run once, as the default."""
    counts: list[int] = []
    for item in workers:
        count = default if item == DEFAULT else int(item)
        if count not in counts:
            counts.append(count)
    asked = {int(item) for item in workers if item != DEFAULT}
    wants_default = DEFAULT in workers
    return [
        ServiceRun(store, count, 0, count in asked)
        if wants_default and count == default
        else ServiceRun(store, count, count)
        for store in stores
        for count in counts
    ]


def round_order(runs: Sequence[ServiceRun], round_index: int) -> list[ServiceRun | str]:
    """The order of round ``round_index``: the passthrough before and after each service
    run (one between two service runs serves both, the last of a round the next round's
    first run too), the service runs in the order given, the next round in the reverse
    order, and so on."""
    order: list[ServiceRun | str] = [PASSTHROUGH] if round_index == 0 else []
    for run in runs if round_index % 2 == 0 else runs[::-1]:
        order += [run, PASSTHROUGH]
    return order
