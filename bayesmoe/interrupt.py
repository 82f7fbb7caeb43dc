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


#: If even the watchdog thread cannot run (compiled code holding the interpreter lock under
#: load), a C-level backstop (faulthandler's watchdog) ends the process this much later, exit
#: code 1; its temporary file is then removed by the next save to that folder (files.py).
BACKSTOP_S = 2.0
_early = False


def _record_stop() -> None:
    import faulthandler

    _requested.set()
    timer = threading.Timer(GRACE_S, _hard_exit)
    timer.daemon = True
    timer.start()
    faulthandler.dump_traceback_later(GRACE_S + BACKSTOP_S, exit=True, file=_devnull())


def _devnull() -> Any:
    global _NULL
    if _NULL is None:
        _NULL = open(os.devnull, "w")
    return _NULL


_NULL: Any = None


def _handler(signum: int, frame: Any) -> None:
    if _requested.is_set():  # a second signal: stop now
        _hard_exit()
    _record_stop()
    raise KeyboardInterrupt


def _early_handler(signum: int, frame: Any) -> None:
    # during start-up (imports) raising would print a traceback: record the stop, and the
    # command checks for it as soon as its own handlers are in place
    if _requested.is_set():
        _hard_exit()
    _record_stop()


def install_early() -> None:
    """Record stops from process start (the console script calls this before its imports)."""
    global _early
    if threading.current_thread() is threading.main_thread():
        _early = True
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, _early_handler)


def _quiet_unraisable(info: Any) -> None:
    # A KeyboardInterrupt raised by our handler inside a __del__ is reported as "Exception
    # ignored"; the stop is already recorded, so say nothing.
    if _requested.is_set() and issubclass(info.exc_type, KeyboardInterrupt):
        return
    sys.__unraisablehook__(info)


def install() -> dict[Any, Any]:
    """Install the handlers for SIGINT and SIGTERM; return what they replace, for :func:`restore`.
    A stop recorded by :func:`install_early` is kept (the caller checks it at once)."""
    if not _early:
        _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        return {}  # signals can only be handled on the main thread
    previous: dict[Any, Any] = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    # past a file-size limit, let write() fail with EFBIG (a clean FitFileError) instead of dying
    if hasattr(signal, "SIGXFSZ"):
        previous[signal.SIGXFSZ] = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    previous["unraisablehook"] = sys.unraisablehook
    sys.unraisablehook = _quiet_unraisable
    return previous


def restore(previous: dict[Any, Any]) -> None:
    """Put back what :func:`install` replaced."""
    import faulthandler

    faulthandler.cancel_dump_traceback_later()
    previous = dict(previous)
    if "unraisablehook" in previous:
        sys.unraisablehook = previous.pop("unraisablehook")
    for s, h in previous.items():
        signal.signal(s, h)
