"""Child processes that cannot outlive their parent, whatever ends it (kill -9 included)."""

import ctypes
import os
import signal
import sys
from typing import Final

PR_SET_PDEATHSIG: Final = 1  # from <linux/prctl.h>


def end_with_parent(parent: int) -> None:
    """Ask the kernel to kill this process when ``parent`` ends (Linux's ``PR_SET_PDEATHSIG``;
    nothing elsewhere), and end it now if ``parent`` already has.

    The signal follows the thread that started this process: the parent starts it from the
    thread that lives as long as it does (its main thread)."""
    if not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the request was made
        os.kill(os.getpid(), signal.SIGKILL)
