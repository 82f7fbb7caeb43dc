"""Priors for a new sweep from a fit pooled across sweeps.

A fit with ``groups=`` (one group per sweep) and ``pooled=`` parameters holds, per draw, a
population value and a spread ``tau`` on the unconstrained line (model: ``free_g = free_pop +
tau * z_g``). A sweep not in the fit is one more group: its value is the population value plus a
fresh offset, draw by draw. Summarised as a prior of the same support, that predictive is what
the pooled evidence says about a new user's sweep before its runs are seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from bayesmoe.errors import FitError
from bayesmoe.laws import Prior

if TYPE_CHECKING:
    from bayesmoe.inference.fitting import Fit


def new_group_draws(fit: Fit, name: str, *, seed: int = 0) -> np.ndarray:
    """Draws of parameter ``name`` for a group the fit has not seen (population + fresh offset)."""
    if name not in fit.pooled:
        raise FitError(
            f"{name!r} does not vary by group in this fit (pooled: {fit.pooled or 'none'}); "
            "fit with groups='sweep' and pooled=[...] to learn a population spread"
        )
    post = fit.idata.posterior
    prior = fit.priors[name]
    pop = np.asarray(post[name].values, float).ravel()
    tau = np.asarray(post[f"{name}_tau"].values, float).ravel()
    rng = np.random.default_rng(seed)
    return np.asarray(prior.from_free(prior.to_free(pop) + tau * rng.standard_normal(pop.size)), float)


def new_group_priors(
    fit: Fit, params: Sequence[str] | None = None, *, family: str | None = None, seed: int = 0
) -> dict[str, Prior]:
    """Priors for a new sweep's parameters, moment-matched to :func:`new_group_draws`.

    By default each keeps its prior's support: positive parameters get ``LogNormal`` (moments of
    the log), real ones ``Normal`` and bounded ones a ``TruncatedNormal`` on their bounds.
    ``family="LogNormal"`` or ``"Normal"`` forces one family (e.g. LogNormal for exponents whose
    catalogue prior is a bounded Uniform). Pass the result to ``bm.fit(..., priors=...)``.
    Check ``fit.diagnostics()`` first: a pooled fit that did not converge gives priors that do
    not summarise the evidence.
    """
    if family not in (None, "LogNormal", "Normal"):
        raise FitError(f"family must be None, 'LogNormal' or 'Normal', got {family!r}")
    names = list(fit.pooled if params is None else params)
    out: dict[str, Prior] = {}
    for name in names:
        draws = new_group_draws(fit, name, seed=seed)
        support = fit.priors[name].support
        if family == "LogNormal" and draws.min() <= 0:
            raise FitError(f"{name!r} has non-positive draws: a LogNormal prior cannot describe it")
        if family == "LogNormal" or (family is None and support == "positive"):
            logs = np.log(draws)
            out[name] = Prior("LogNormal", (round(float(logs.mean()), 4), round(float(logs.std()), 4)))
        elif family is None and support == "interval":
            lo, hi = fit.priors[name].bounds
            out[name] = Prior("TruncatedNormal", (float(draws.mean()), float(draws.std()), lo, hi))
        else:
            out[name] = Prior("Normal", (float(draws.mean()), float(draws.std())))
    return out
