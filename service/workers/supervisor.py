"""The parent's care of its workers: start them, restart one that ends unasked, stop them.

A worker that ends while the parent runs is restarted after a backoff that grows while it
keeps failing and starts again from its first step once a worker has run
``HEALTHY_AFTER_SECONDS``. ``GIVE_UP_AFTER`` ends within ``GIVE_UP_WINDOW_SECONDS`` (any
workers) mean something no restart mends (the settings, the store, a bug): the parent then
stops the others and ends with an error, for its own supervisor (Kubernetes, systemd) to see.
"""

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from service.errors import WorkersFailing, backoff
from service.workers.reports import until_silent

log = logging.getLogger(__name__)
HEALTHY_AFTER_SECONDS = 60.0
GIVE_UP_AFTER = 5
GIVE_UP_WINDOW_SECONDS = 120.0
#: Beyond the workers' own shutdown timeout, how long they may take to exit before SIGKILL.
EXIT_GRACE_SECONDS = 10.0
WORKER_COMMAND = (sys.executable, "-m", "service.workers.worker")
#: A worker that writes no readiness report for this long is hung or frozen (its event loop
#: has not run, so its consumer has lost its partitions long since, while its transactions
#: may still hold locks others wait for): it is killed, and so restarted.
SILENT_FOR_SECONDS = 60.0


class Supervisor:
    def __init__(
        self,
        count: int,
        directory: Path,
        environment: Mapping[str, str],
        *,
        backoff_seconds: tuple[float, float],
        shutdown_seconds: float,
        on_end: Callable[[int, bool], None],
        silent_for: float = SILENT_FOR_SECONDS,
        command: Sequence[str] = WORKER_COMMAND,
    ) -> None:
        """``on_end(pid, restarting)`` is told of every worker that ended; a worker silent
        for ``silent_for`` seconds is killed (and so restarted); ``command`` starts a worker,
        given its index, the parent's process id and ``directory``."""
        self.silent_for = silent_for
        self.command = list(command)
        self.directory = directory
        self.environment = dict(environment)
        self.backoff_seconds = backoff_seconds
        self.shutdown_seconds = shutdown_seconds
        self.on_end = on_end
        #: Each worker's process id; None while it is not running.
        self.pids: list[int | None] = [None] * count
        self._ends: deque[float] = deque()

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the workers running until ``stop`` is set, then stop them; raises
        WorkersFailing (after stopping the others) when they keep ending."""
        tasks = [asyncio.create_task(self._keep(index, stop)) for index in range(len(self.pids))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()  # raises WorkersFailing
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep(self, index: int, stop: asyncio.Event) -> None:
        delays = backoff(*self.backoff_seconds)
        while not stop.is_set():
            started = time.monotonic()
            process = await self._start(index)
            self.pids[index] = process.pid
            silent = asyncio.create_task(self._kill_when_silent(index, process))
            try:
                status = await self._until_ended(process, stop)
            finally:
                silent.cancel()
            self.pids[index] = None
            self.on_end(process.pid, not stop.is_set())
            if stop.is_set():
                return
            log.error(
                "worker ended; restarting it",
                extra={"worker": index, "pid": process.pid, "status": status},
            )
            if time.monotonic() - started >= HEALTHY_AFTER_SECONDS:
                delays = backoff(*self.backoff_seconds)
            self._count_end()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), next(delays))

    async def _start(self, index: int) -> asyncio.subprocess.Process:
        arguments = (str(index), str(os.getpid()), str(self.directory))
        return await asyncio.create_subprocess_exec(*self.command, *arguments, env=self.environment)

    async def _until_ended(self, process: asyncio.subprocess.Process, stop: asyncio.Event) -> int:
        """The worker's exit status; when ``stop`` is set first, the worker is asked to stop
        (SIGTERM), and killed if it has not within its shutdown time and a grace."""
        stopping = asyncio.create_task(stop.wait())
        ended = asyncio.create_task(process.wait())
        try:
            await asyncio.wait({stopping, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not ended.done():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(
                    asyncio.shield(ended), self.shutdown_seconds + EXIT_GRACE_SECONDS
                )
            except TimeoutError:
                log.error("worker did not stop in time; killing it", extra={"pid": process.pid})
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        return await ended

    async def _kill_when_silent(self, index: int, process: asyncio.subprocess.Process) -> None:
        await until_silent(self.directory, index, process.pid, self.silent_for)
        log.error("worker silent; killing it", extra={"worker": index, "pid": process.pid})
        with contextlib.suppress(ProcessLookupError):
            process.kill()

    def _count_end(self) -> None:
        now = time.monotonic()
        self._ends.append(now)
        while self._ends and now - self._ends[0] > GIVE_UP_WINDOW_SECONDS:
            self._ends.popleft()
        if len(self._ends) >= GIVE_UP_AFTER:
            raise WorkersFailing(
                f"workers ended {len(self._ends)} times within {GIVE_UP_WINDOW_SECONDS:.0f} s;"
                " giving up (see the workers' log lines before this one)"
            )
