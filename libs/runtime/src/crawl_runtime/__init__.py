"""How the services' processes run: the event loop, the cyclic collector's settings, and
helper processes that end with their parent.

The rest of the service runtime is imported by module, so that a helper process importing
this package does not pay for the broker client: ``logs`` (the log format), ``probes`` (the
/metrics and /health/* server), ``topology`` (the shared exchanges and queues),
``publish`` and ``deadletters`` (how messages are published and refused), ``settings``
(the settings fields every service has)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Coroutine
from typing import Any

__all__ = ["die_with_parent", "run", "tune_gc"]

_PR_SET_PDEATHSIG = 1


def run(main: Coroutine[Any, Any, None]) -> None:
    """On uvloop where it is installed (faster I/O for the broker and database clients)."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:  # e.g. Windows
        asyncio.run(main)
        return
    uvloop.run(main)


def tune_gc() -> None:
    """Call once the process has built its long-lived objects (modules, models, clients).

    Those leave the cyclic collector's view (``gc.freeze``), and a young collection runs
    every 50,000 net allocations instead of 700: with the defaults, collections that walk
    objects which never die took about a tenth of a service's CPU under load
    (``make bench-api``). Memory held by short-lived cycles grows by a few MB at most.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def die_with_parent(parent: int) -> None:
    """Make this (helper) process end when ``parent`` does, however it ends: a ``kill -9`` of
    a service must not leave its worker processes running (``ProcessPoolExecutor``'s
    ``initializer``, with ``os.getpid()`` of the service).

    On Linux the kernel sends SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``);
    elsewhere a daemon thread checks the parent every second. Either way a parent already
    gone by now ends the process at once."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:  # pragma: no cover
            _watch_parent(parent)
    else:  # pragma: no cover - not on the platforms the services run on
        _watch_parent(parent)
    if os.getppid() != parent:  # it died before the above took effect
        os._exit(1)


def _watch_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
