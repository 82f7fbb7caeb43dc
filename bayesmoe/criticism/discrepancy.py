"""Learn the model-discrepancy scale from the user's own runs.

Beyond its runs a fit cannot see its own law's error, so by default the scale tau of the
discrepancy term (:mod:`bayesmoe.laws.observation`) keeps a prior set on the bundled sweeps.
A user's runs do carry information on tau, in one place: how well the law fitted to their
cheaper runs predicts their more expensive ones. :func:`learn_discrepancy` refits the law on
the cheapest share(s) of the runs, scores the rest under every tau on a grid (the fit's
Normal or Student-t noise plus discrepancy growing with the decades beyond the inner fit's
runs), and multiplies by the prior :data:`~bayesmoe.laws.observation.LEARNED_SCALE_PRIOR`. Several inner splits share
held-out runs, so each contributes its log likelihood divided by their number (a power
posterior, not double counting the same runs).

Measured on the bundled sweeps (``benchmarks/learned_discrepancy.py``) a learned scale makes
extrapolation intervals worse than the fixed default (pooled CRPS 0.051 against 0.038): the
inner fits' own parameter uncertainty absorbs misses the full fit leaves to the discrepancy.
Use it as a check - a scale far above the default says the law form is off on these runs -
not as the default.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr
from scipy import stats
from scipy.special import logsumexp, softmax

from bayesmoe.criticism.backtesting import split_runs
from bayesmoe.criticism.comparison import CompareError, refit_kwargs
from bayesmoe.decisions.prediction import predictive_parts
from bayesmoe.errors import SamplingWarning
from bayesmoe.inference.fitting import Fit
from bayesmoe.inference.fitting import fit as fit_law
from bayesmoe.intervals import eti
from bayesmoe.laws import observation
from bayesmoe.progress import track
from bayesmoe.runs.compute import compute_of

#: Grid of the scale tau (sd of log loss per decade**growth beyond the runs).
SCALE_GRID = np.geomspace(1e-3, 1.0, 240)
MAX_SCORE_DRAWS = 1000  # posterior draws of each inner fit used to score its held-out runs


def scale_log_likelihood(
    log_y: np.ndarray,
    log_mean: np.ndarray,
    sigma: np.ndarray,
    decades: np.ndarray,
    grid: np.ndarray,
    form: str | None = None,
    combination: str | None = None,
    growth: float | None = None,
    nu: np.ndarray | None = None,
) -> np.ndarray:
    """log p(held-out log losses | tau) for each tau in ``grid``: Normal noise (or Student-t with
    ``nu`` (draws,) degrees of freedom) plus delta of shape ``form`` and ``combination``
    (defaults ``observation.DISCREPANCY_SHAPE`` and ``DISCREPANCY_COMBINATION``; the top-up uses
    the spread of ``log_mean`` over draws).

    ``log_y`` (runs,) were not fitted; ``log_mean`` (draws, runs) and ``sigma`` (draws,) come
    from a fit to earlier runs, ``decades`` (runs,) is how far each lies beyond them. Each
    run's predictive density averages the draws (a mixture), runs multiply.
    """
    resid = log_y[None, None, :] - log_mean[None]  # (1, draws, runs)
    pv = log_mean.var(axis=0)[None, None, :]
    sd = observation.discrepancy_sd(
        grid[:, None, None], decades[None, None, :], growth, pv, combination
    )  # (grid, 1, runs)
    noise = {"sigma": sigma[None, :, None]} | ({} if nu is None else {"nu": np.asarray(nu, float)[None, :, None]})
    logpdf = observation.predictive_log_density(resid, noise, "normal" if nu is None else "studentt", sd, form)
    per_run = logsumexp(logpdf, axis=1) - np.log(logpdf.shape[1])  # log-mean-exp over draws
    return per_run.sum(axis=1)


def scale_posterior(log_lik: np.ndarray, grid: np.ndarray = SCALE_GRID) -> np.ndarray:
    """Posterior probabilities of the grid cells: ``log_lik`` times the learned-scale prior."""
    prior = observation.LEARNED_SCALE_PRIOR.kw
    log_prior = stats.lognorm(s=prior["sigma"], scale=np.exp(prior["mu"])).logpdf(grid)
    return softmax(log_lik + log_prior + np.log(grid))  # + log tau: cells of a geometric grid


def learn_discrepancy(
    fit: Fit,
    *,
    inner: Sequence[float] = (0.5, 0.75),
    floor: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
    **fit_kwargs: Any,
) -> Fit:
    """``fit`` with its discrepancy scale drawn from the posterior learned on its own runs.

    ``inner``: the shares of the cheapest runs (by training compute) that each inner fit sees;
    the remaining runs are scored. ``floor``: the learned scale never goes below it (e.g. the
    default scale: then a sweep's own runs can only widen the intervals). Fit arguments
    default to those of ``fit``. The evidence
    (per inner split: runs, how far beyond, fit checks) and the scale's posterior median and
    90 % interval are kept in ``fit.settings["discrepancy_scale"]``.
    """
    if not inner or not all(0 < a < 1 for a in inner):
        raise CompareError(f"inner shares must lie in (0, 1), got {tuple(inner)!r}")
    if fit.groups:
        raise CompareError("learn_discrepancy does not support grouped fits; learn per group")
    if fit.discrepancy is None:
        raise CompareError("this fit has no discrepancy term (fitted with discrepancy=None): nothing to learn")
    if fit.likelihood != "normal" and fit.discrepancy_kwargs()["form"] == "normal":
        raise CompareError(
            "learn_discrepancy with a normal-shaped discrepancy needs likelihood='normal' "
            f"(no closed-form density with {fit.likelihood!r} noise); the default uniform shape takes either"
        )
    kw = refit_kwargs(fit, seed) | fit_kwargs | {"discrepancy": None}
    order = np.argsort(compute_of(fit.runs.df).to_numpy(), kind="stable")
    log_lik = np.zeros(SCALE_GRID.size)
    evidence = []
    for share in track(list(inner), f"discrepancy ({fit.law.name})", progress=progress):
        k = round(share * len(order))
        if not 0 < k < len(order):
            raise CompareError(f"inner share {share} of {len(order)} runs leaves no runs on one side")
        mask = np.zeros(len(order), bool)
        mask[order[:k]] = True  # by rank: runs tied in compute still split
        train, test, _ = split_runs(fit.runs, mask)
        how = f"cheapest {k} of {len(order)} runs by compute"
        if len(train) <= len(fit.law.params):
            raise CompareError(
                f"inner split {how} keeps {len(train)} runs, no more than the law's {len(fit.law.params)} "
                "parameters: use larger inner shares or more runs"
            )
        f = fit_law(fit.law, train, **kw)
        log_mean, _, _ = predictive_parts(f, test.df[f.law.inputs], seed=seed)
        n = log_mean.sizes["chain"] * log_mean.sizes["draw"]
        keep = np.linspace(0, n - 1, min(n, MAX_SCORE_DRAWS)).astype(int)
        lm = log_mean.values.reshape(n, len(test))[keep]
        sigma = f.idata.posterior["sigma"].values.reshape(-1)[keep]
        nu = f.idata.posterior["nu"].values.reshape(-1)[keep] if f.likelihood == "studentt" else None
        decades = f.decades_beyond(test.df)
        decades = np.broadcast_to(np.asarray(decades, float), (len(test),))
        ll = scale_log_likelihood(
            np.log(test.loss()),
            lm,
            sigma,
            decades,
            SCALE_GRID,
            **fit.discrepancy_kwargs(),
            nu=nu,
        )
        log_lik += ll / len(inner)
        d = f.diagnostics()
        if not d.ok:
            warnings.warn(
                f"learn_discrepancy: the inner fit on {how} failed its sampling checks "
                f"({d.divergences} divergences, max R-hat {d.max_r_hat:.3f}); its scores of the later runs, and so the "
                "learned scale, may be off. Fix: pass target_accept=0.99 or more draws/tune (they go to the inner fits).",
                SamplingWarning,
                stacklevel=2,
            )
        evidence.append(
            {
                "split": how,
                "n_train": len(train),
                "n_scored": len(test),
                "max_decades_beyond": float(decades.max()),
                "max_r_hat": d.max_r_hat,
                "divergences": d.divergences,
            }
        )
    probs = scale_posterior(log_lik)
    shape = (fit.idata.posterior.sizes["chain"], fit.idata.posterior.sizes["draw"])
    rng = np.random.default_rng([seed, 2])
    cell = np.log(SCALE_GRID[1] / SCALE_GRID[0])
    tau = rng.choice(SCALE_GRID, size=shape, p=probs) * np.exp(cell * (rng.random(shape) - 0.5))
    info = {"learned": True, "prior": str(observation.LEARNED_SCALE_PRIOR), "evidence": evidence}
    out = _with_scale(fit, tau, info)
    return out if floor is None else with_scale_floor(out, floor)


def with_scale_floor(fit: Fit, floor: float) -> Fit:
    """``fit`` with every draw of its discrepancy scale raised to at least ``floor``."""
    if not (np.isfinite(floor) and floor >= 0):
        raise CompareError(f"floor must be a scale >= 0, got {floor!r}")
    scale = observation.scale_draws(fit.idata)
    if scale is None:
        raise CompareError("this fit has no discrepancy term (fitted with discrepancy=None)")
    tau = np.maximum(scale.values, floor)
    return _with_scale(fit, tau, {**fit.settings.get("discrepancy_scale", {}), "floor": float(floor)})


def _with_scale(fit: Fit, tau: np.ndarray, info: dict[str, Any]) -> Fit:
    """A copy of ``fit`` whose discrepancy scale draws are ``tau`` (chain x draw), with ``info``
    and the scale's median and 90 % interval kept in ``settings["discrepancy_scale"]``."""
    idata = fit.idata.copy()
    post = idata.posterior.drop_vars(observation.DISCREPANCY_SCALE, errors="ignore")
    const: dict[str, Any] = {}
    observation.store_scale(post, const, np.asarray(tau, float))
    idata.posterior = post
    # the scale is kept once, where store_scale put it
    if "constant_data" in idata.groups():
        idata.constant_data = idata.constant_data.drop_vars(observation.DISCREPANCY_SCALE, errors="ignore").assign(
            const
        )
    elif const:
        idata.add_groups(constant_data=xr.Dataset(const))
    flat = np.asarray(tau, float).ravel()
    info = info | {"median": float(np.median(flat)), "eti_90": [float(v) for v in eti(flat)]}
    settings = fit.settings | {"discrepancy_scale": info}
    return Fit(fit.law, fit.runs, idata, settings=settings, priors=fit.priors, groups=fit.groups, pooled=fit.pooled)


__all__ = ["learn_discrepancy", "scale_log_likelihood", "scale_posterior", "with_scale_floor"]
