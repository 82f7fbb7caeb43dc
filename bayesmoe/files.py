"""Atomic file writing: a file appears complete or not at all (see :func:`atomic_path`).

Every output location is checked before any work is done (:func:`check_output`): the folder
exists and is writable, and the target is absent or a regular file (a save never replaces a
directory, device, pipe or socket). Temporary files left by a killed save (``.NAME.PID.tmp``
of a process that no longer runs) are removed by the next save to that folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

from bayesmoe import interrupt
from bayesmoe.errors import FitFileError

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


def check_output(path: str | os.PathLike) -> Path:
    """``path`` as a Path if a file can be written there, else :class:`FitFileError` saying why."""
    if not str(path).strip():
        raise FitFileError("no output path given (empty)")
    path = Path(path)
    folder = path.parent
    if not folder.exists():
        raise FitFileError(f"cannot write {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise FitFileError(f"cannot write {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FitFileError(f"cannot write {path}: folder {folder} is not writable")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise FitFileError(f"cannot write {path}: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise FitFileError(f"cannot write {path}: it is a directory")
    if not stat.S_ISREG(mode):
        raise FitFileError(
            f"cannot write {path}: it is not a regular file (a device, pipe or socket); choose a file path"
        )
    if not os.access(path, os.W_OK):
        raise FitFileError(f"cannot write {path}: the file is read-only")
    return path


def check_room(path: Path, nbytes: int) -> None:
    """Refuse before writing when ``nbytes`` cannot fit: over the process's file-size limit
    (``ulimit -f``) or the free space of ``path``'s disk."""
    import resource
    import shutil

    def size(n: float) -> str:
        return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"

    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    if soft != resource.RLIM_INFINITY and nbytes > soft:
        raise FitFileError(
            f"cannot write {path}: it needs about {size(nbytes)} and the file-size limit (ulimit -f) is "
            f"{size(soft)}; raise the limit or save fewer draws"
        )
    free = shutil.disk_usage(path.parent).free
    if nbytes > free:
        raise FitFileError(f"cannot write {path}: it needs about {size(nbytes)} and only {size(free)} are free")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove ``.NAME.PID.tmp`` files in ``folder`` whose process is gone; return what was removed."""
    removed = []
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            m = _TEMP.match(p.name)
            if m and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"])) and p.is_file():
                with contextlib.suppress(OSError):
                    p.unlink()
                    removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only on success.

    Write errors (disk full, file-size limit, permissions) become :class:`FitFileError`
    naming ``path``; the temporary file is removed whatever happens.
    """
    path = check_output(path)
    remove_stale_temps(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    interrupt.register_temp(tmp)
    try:
        try:
            yield tmp
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            interrupt.check()  # a stop that arrived while writing: leave nothing behind
            check_output(path)  # still a regular file (or absent) at the moment of replacing it
            os.replace(tmp, path)
        except FitFileError:
            raise
        except OSError as exc:
            raise FitFileError(f"cannot write {path}: {' '.join(str(exc.strerror or exc).split())[:300]}") from None
    finally:
        with contextlib.suppress(FileNotFoundError, OSError):
            tmp.unlink()
        interrupt.unregister_temp(tmp)
