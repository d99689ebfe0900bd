"""A tiny process tree for the benchmark's process handling: a Python parent with ``sleep``
children, run as ``python -m tests.support.sleeping_tree CHILDREN ON_TERM READY_FILE``.

The parent starts CHILDREN ``sleep`` processes (in its own process group), then writes
their pids to READY_FILE. SIGUSR1 replaces the first child with a new one (as a service
restarts a worker) and writes the pids again. On SIGTERM, ON_TERM says what it does:
``forward`` (SIGTERM each child, wait for it, exit 0), ``orphan`` (exit 0 and leave the
children running) or a number (forward, then exit with that status).
"""

import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType


def _sleep() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "300"])


def main(argv: list[str]) -> int:
    count, on_term, ready = int(argv[0]), argv[1], Path(argv[2])
    children = [_sleep() for _ in range(count)]

    def announce() -> None:
        partial = ready.with_suffix(".partial")
        partial.write_text(" ".join(str(child.pid) for child in children))
        partial.replace(ready)  # whole or absent for the reader

    def replace_first(signum: int, frame: FrameType | None) -> None:
        children[0].terminate()
        children[0].wait(10)
        children[0] = _sleep()
        announce()

    def stop(signum: int, frame: FrameType | None) -> None:
        if on_term != "orphan":
            for child in children:
                child.terminate()
            for child in children:
                child.wait(10)
        raise SystemExit(0 if on_term in ("forward", "orphan") else int(on_term))

    signal.signal(signal.SIGUSR1, replace_first)
    signal.signal(signal.SIGTERM, stop)
    announce()
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
