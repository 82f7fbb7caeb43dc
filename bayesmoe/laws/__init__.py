"""Laws: scaling-law forms as data, their priors, the observation model and simulation.

Public surface: :class:`Law` (one law file), :func:`get_law` / :func:`list_laws` /
:func:`register_law` (the catalogue in ``models/``), :class:`Prior`, :func:`simulate`
(seeded synthetic runs), and :mod:`observation` (noise around the law, defined once).
"""

from bayesmoe.laws import expr, observation
from bayesmoe.laws.catalogue import catalogue_dirs, get_law, list_laws, models_dir, register_law
from bayesmoe.laws.law import Law
from bayesmoe.laws.priors import Prior
from bayesmoe.laws.simulation import generic_design, simulate, zhao_design

__all__ = [
    "Law",
    "Prior",
    "catalogue_dirs",
    "expr",
    "generic_design",
    "get_law",
    "list_laws",
    "models_dir",
    "observation",
    "register_law",
    "simulate",
    "zhao_design",
]
