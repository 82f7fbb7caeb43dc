"""Clean stops on Ctrl-C / SIGTERM: no half-written output, a prompt exit, exit code 130.

Python delivers a signal by raising in whatever frame runs next. When that frame is a
``__del__`` or a callback of compiled code (numba, llvmlite, the samplers), the
``KeyboardInterrupt`` is swallowed and the work would go on. So a stop is also recorded
as a flag that the atomic writers check before moving a file into place, and a watchdog
ends the process (after removing registered temporary files) if the normal unwinding has
not finished within :data:`GRACE_S` seconds.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

GRACE_S = 5.0
EXIT_CODE = 130

_requested = threading.Event()
_temp_paths: set[Path] = set()
_lock = threading.Lock()


def stopped() -> bool:
    """Whether a stop was asked for since the handlers were installed."""
    return _requested.is_set()


def check() -> None:
    """Raise :class:`KeyboardInterrupt` if a stop was asked for (call before committing output)."""
    if _requested.is_set():
        raise KeyboardInterrupt


def register_temp(path: Path) -> None:
    """Remember a temporary file to remove if the process has to be ended hard."""
    with _lock:
        _temp_paths.add(Path(path))


def unregister_temp(path: Path) -> None:
    with _lock:
        _temp_paths.discard(Path(path))


def _hard_exit() -> None:
    with _lock:
        for p in list(_temp_paths):
            try:
                p.unlink()
            except OSError:
                pass
    try:
        sys.stderr.write("error: interrupted; no output file was left half-written\n")
        sys.stderr.flush()
    finally:
        os._exit(EXIT_CODE)


def _handler(signum: int, frame: Any) -> None:
    if _requested.is_set():  # a second signal: stop now
        _hard_exit()
    _requested.set()
    timer = threading.Timer(GRACE_S, _hard_exit)
    timer.daemon = True
    timer.start()
    raise KeyboardInterrupt


def _quiet_unraisable(info: Any) -> None:
    # A KeyboardInterrupt raised by our handler inside a __del__ is reported as "Exception
    # ignored"; the stop is already recorded, so say nothing.
    if _requested.is_set() and issubclass(info.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(info)


def install() -> dict[Any, Any]:
    """Install the handlers for SIGINT and SIGTERM; return what they replace, for :func:`restore`."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        return {}  # signals can only be handled on the main thread
    previous: dict[Any, Any] = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    previous["unraisablehook"] = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable
    return previous


def restore(previous: dict[Any, Any]) -> None:
    """Put back what :func:`install` replaced."""
    previous = dict(previous)
    if "unraisablehook" in previous:
        sys.unraisablehook = previous.pop("unraisablehook")
    for s, h in previous.items():
        signal.signal(s, h)
