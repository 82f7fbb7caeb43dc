"""Inference: build the PyMC model of a law on runs, sample it with NUTS, check and store it.

Public surface: :func:`fit` and its result :class:`Fit` (an ArviZ InferenceData plus the
law, runs, priors and settings), :func:`load` (a saved fit), :class:`Diagnostics` (R-hat,
ESS, divergences in plain words), :func:`identifiability` (which parameter
combinations the runs cannot pin down) and :func:`new_group_priors` (priors for a new sweep
from a fit pooled across sweeps).
"""

from bayesmoe.inference.diagnostics import Diagnostics
from bayesmoe.inference.fitting import Fit, fit, load
from bayesmoe.inference.identify import identifiability
from bayesmoe.inference.pooling import new_group_priors
from bayesmoe.inference.sampling import DEFAULT_SAMPLER, SAMPLERS, SamplerSettings

__all__ = [
    "DEFAULT_SAMPLER",
    "SAMPLERS",
    "Diagnostics",
    "Fit",
    "SamplerSettings",
    "fit",
    "identifiability",
    "load",
    "new_group_priors",
]
