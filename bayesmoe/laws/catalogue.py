"""The law catalogue: law files in ``models/`` (and ``$BAYESMOE_MODELS``) plus laws registered in Python.

Adding a ``.toml`` file to ``models/`` is all it takes to add a law; a wheel carries the
folder (see :mod:`bayesmoe._resources`).
"""

from __future__ import annotations

import difflib
import os
import re
import warnings
from pathlib import Path

from bayesmoe._resources import bundled
from bayesmoe.errors import LawError
from bayesmoe.laws.law import Law

_REGISTERED: dict[str, Law] = {}


def models_dir() -> Path:
    """The bundled law folder: ``models/`` in a checkout, ``bayesmoe/_bundled/models`` in a wheel."""
    return bundled("models")


def catalogue_dirs() -> list[Path]:
    """Where laws are looked up: ``$BAYESMOE_MODELS`` (os.pathsep-separated), then the bundled folder."""
    extra = [Path(p) for p in os.environ.get("BAYESMOE_MODELS", "").split(os.pathsep) if p]
    return [*extra, models_dir()]


def _law_files(folder: Path) -> list[Path]:
    """The law files of one catalogue folder; a folder that is missing or holds none is an error."""
    if not folder.is_dir():
        raise LawError(f"law folder {folder} does not exist (check $BAYESMOE_MODELS or reinstall bayesmoe)")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise LawError(f"law folder {folder} holds no law files (*.toml)")
    return files


def register_law(law: Law) -> Law:
    """Make a law built in Python available by name, like a file in ``models/``."""
    _REGISTERED[law.name] = law
    return law


def list_laws() -> list[str]:
    """Names of every law in the catalogue folders and the registry."""
    names = set(_REGISTERED)
    for d in catalogue_dirs():
        names.update(p.stem for p in _law_files(d))
    return sorted(names)


def load_laws() -> list[Law]:
    """Every law of the catalogue, loaded; a file that cannot be read or is not a valid law is
    skipped with a warning naming it and why, so one bad file does not hide the others."""
    out = {n: law for n, law in _REGISTERED.items()}
    for d in catalogue_dirs():
        for path in _law_files(d):
            if path.stem in out:
                continue  # an earlier folder (or the registry) holds this name
            try:
                out[path.stem] = get_law(path.stem)
            except LawError as exc:
                warnings.warn(f"skipped law file {path}: {exc}", UserWarning, stacklevel=2)
    return [out[k] for k in sorted(out)]


def get_law(name: str | Law) -> Law:
    """A law by catalogue name, or from a ``.toml`` path."""
    if isinstance(name, Law):
        return name
    if name in _REGISTERED:
        return _REGISTERED[name]
    if str(name).endswith(".toml"):
        return Law.from_file(name)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,63}", str(name)):
        raise LawError(
            f"{str(name)[:80]!r} is not a law name (letters, digits and _); to load a law file, give its path ending in .toml"
        )
    for d in catalogue_dirs():
        path = d / f"{name}.toml"
        if path.is_file():
            law = Law.from_file(path)
            if law.name != name:
                raise LawError(f"law file {path} declares name {law.name!r}, expected {name!r}")
            return law
    known = list_laws()
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" - did you mean {close[0]!r}?" if close else ""
    raise LawError(f"unknown law {name!r}{hint}; known laws: {', '.join(known) or '(none)'}")
