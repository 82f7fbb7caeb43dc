"""Where the law catalogue (``models/``) and bundled datasets (``data/``) are found.

In a source checkout they sit at the top of the repository. A built wheel carries them
inside the package as ``bayesmoe/_bundled/models`` and ``bayesmoe/_bundled/data`` (see
``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """The folder ``models`` or ``data``: inside the installed package if there, else the checkout's."""
    inside = _PACKAGE / "_bundled" / name
    return inside if inside.is_dir() else _PACKAGE.parent / name
