"""Child processes of the harness die with their parent (Linux's PR_SET_PDEATHSIG).

Without it, the Lambda-like workers of a gateway or a poller killed with SIGKILL would live
on as orphans, holding connections and, for pollers, consuming.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Call first thing in a child; `parent_pid` guards against a parent already gone."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)
