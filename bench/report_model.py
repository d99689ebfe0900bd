"""What a benchmark run measured: its phases and one run's results."""

from dataclasses import dataclass, field

from bench.measure import PhaseResult
from bench.process_tree import TreeMemory

WARMUP, THROUGHPUT, LATENCY = "warm-up", "throughput", "latency"


@dataclass
class RunResult:
    name: str
    #: The service's store ("SQLite", "PostgreSQL"); None for the passthrough.
    store: str | None = None
    phases: dict[str, PhaseResult] = field(default_factory=dict)
    #: Per phase: figures scraped from the child's /metrics (the service only).
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: What is worth saying about the run that is not a failed check.
    notes_ok: list[str] = field(default_factory=list)
    #: The service's worker processes (1: the consume loop in the process itself).
    workers: int = 1
    #: Started with the ``workers`` setting at its default.
    default: bool = False
    #: The round (from 0) that measured it, and its place among all the runs measured.
    round: int = 0
    slot: int = 0
    #: Peak resident memory of its processes, sampled while it ran.
    memory: TreeMemory | None = None
