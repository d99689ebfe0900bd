"""The benchmark's child is a process tree: paused and resumed whole, stopped through its
parent, its memory sampled process by process (a real tree of ``sleep`` children)."""

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.pipeline import record_stop
from bench.process_tree import group_members, peak_rss_kib
from bench.processes import Child
from bench.report_model import RunResult

REPO = Path(__file__).parents[2]
WITHIN = 10.0


def _eventually(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (the kernel's view of other processes has no event to await)."""
    deadline = time.monotonic() + WITHIN
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WITHIN}s: {what}")
        time.sleep(0.02)


def _state(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.rindex(")") + 2]


def _pids(ready: Path) -> list[int]:
    _eventually(ready.exists, "the tree announced its children")
    return [int(pid) for pid in ready.read_text().split()]


@pytest.fixture
def tree(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Child, Path]]:
    """A parent and two ``sleep`` children; ``on_term`` by indirect parametrisation."""
    on_term = getattr(request, "param", "forward")
    ready = tmp_path / "children"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = Child(
        "tree",
        ["tests.support.sleeping_tree", "2", on_term, str(ready)],
        env,
        tmp_path / "tree.log",
    )
    child.start()
    try:
        yield child, ready
    finally:
        child.stop(grace=WITHIN)


def test_the_whole_tree_is_paused_and_resumed(tree: tuple[Child, Path]) -> None:
    child, ready = tree
    children = _pids(ready)
    assert child.pid is not None
    everyone = [child.pid, *children]
    assert sorted(child.members()) == sorted(everyone)

    child.pause()
    _eventually(lambda: all(_state(pid) == "T" for pid in everyone), "all stopped")
    child.resume()
    _eventually(lambda: all(_state(pid) != "T" for pid in everyone), "all running again")


def test_memory_is_each_process_peak_and_the_most_the_tree_held_at_once(
    tree: tuple[Child, Path],
) -> None:
    child, ready = tree
    first = _pids(ready)
    memory = child.sample_memory()
    assert memory is not None
    assert child.pid is not None

    assert set(memory.peaks) == {child.pid, *first}
    assert memory.peaks[child.pid] == peak_rss_kib(child.pid)
    assert len(memory.others_mib()) == 2
    assert memory.tree_kib == sum(memory.peaks.values())
    held_at_once = memory.tree_kib

    # A restarted child is a new process: its peak is kept beside the one it replaced,
    # and the tree's is still the most held by the processes alive at one sample.
    ready.unlink()
    os.kill(child.pid, signal.SIGUSR1)
    second = _pids(ready)
    assert second[0] not in first
    assert second[1] == first[1]
    child.sample_memory()

    assert set(memory.peaks) == {child.pid, *first, second[0]}
    alive = memory.peaks[child.pid] + memory.peaks[second[0]] + memory.peaks[second[1]]
    assert memory.tree_kib == max(held_at_once, alive)
    assert memory.tree_kib < sum(memory.peaks.values())


def test_sigterm_goes_to_the_parent_which_stops_its_children(tree: tuple[Child, Path]) -> None:
    child, ready = tree
    children = _pids(ready)
    child.pause()  # a paused tree is resumed to be stopped

    status = child.stop(grace=WITHIN)

    assert status == 0
    assert child.leftovers == []
    assert not any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in children)


@pytest.mark.parametrize("tree", ["orphan"], indirect=True)
def test_children_the_parent_leaves_behind_are_killed_and_reported(
    tree: tuple[Child, Path],
) -> None:
    child, ready = tree
    children = _pids(ready)
    group = child.pid
    assert group is not None

    status = child.stop(grace=1.0)
    result = RunResult("service (SQLite, 2 workers)", "SQLite", workers=2)
    record_stop(result, child, status)

    assert status == 0
    assert sorted(child.leftovers) == sorted(children)
    _eventually(lambda: group_members(group) == [], "the children left behind are gone")
    assert result.notes == [
        "the service (SQLite, 2 workers) left 2 processes of its group behind when it "
        "exited (killed)"
    ]


@pytest.mark.parametrize("tree", ["3"], indirect=True)
def test_a_parent_that_exits_non_zero_on_sigterm_fails_the_run(tree: tuple[Child, Path]) -> None:
    child, ready = tree
    _pids(ready)

    status = child.stop(grace=WITHIN)
    result = RunResult("service (SQLite, 2 workers)", "SQLite", workers=2)
    record_stop(result, child, status)

    assert status == 3
    assert result.notes == ["the service (SQLite, 2 workers) exited with status 3 on SIGTERM"]
    assert result.memory is not None
    assert result.memory.tree_kib > 0
