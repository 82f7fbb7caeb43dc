"""Optional dependencies: import them on use, with an error that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from bayesmoe.errors import MissingExtraError


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingExtraError` naming ``bayesmoe[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{purpose} needs the optional package {module.split('.')[0]!r}, which is not installed "
            f"({exc}); install it with: pip install 'bayesmoe[{extra}]'"
        ) from None
