"""Atomic file writing: a file appears complete or not at all (see :func:`atomic_path`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from bayesmoe import interrupt
from bayesmoe.errors import FitFileError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FitFileError(f"cannot write {path}: directory {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    interrupt.register_temp(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        interrupt.check()  # a stop that arrived while writing: leave nothing behind
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        interrupt.unregister_temp(tmp)
