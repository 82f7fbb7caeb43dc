"""Progress bars for long loops (backtests, refits, SBC, plan sweeps): rich, on stderr, only on a terminal.

``progress=None`` (the default everywhere) means: show a bar when stderr is a terminal, print
nothing otherwise (logs and CI stay clean); ``True`` / ``False`` force it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def enabled(progress: bool | None) -> bool:
    """Whether to draw a bar: as asked, or when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else bool(progress)


def track(
    items: Iterable[T], description: str, *, total: int | None = None, progress: bool | None = None
) -> Iterator[T]:
    """Iterate ``items``, drawing a bar labelled ``description`` when :func:`enabled`."""
    if not enabled(progress):
        yield from items
        return
    from rich.console import Console
    from rich.progress import track as rich_track

    yield from rich_track(items, description=description, total=total, console=Console(stderr=True), transient=True)
