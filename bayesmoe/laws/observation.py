"""The observation model: how an observed loss scatters around the law's expected loss.

One home for it, used by fitting (the likelihood), the pointwise log-likelihood (LOO),
posterior predictive draws, ``predict(predictive=True)``, backtests, simulation and
calibration. Observed log loss is the log of the law's loss plus run-to-run noise::

    log L_obs = log L(x; theta) + e,   e ~ Normal(0, sigma)          (likelihood="normal")
                                       e ~ StudentT(nu, 0, sigma)    (likelihood="studentt")

with ``sigma ~ HalfNormal(0.05)`` (about 5 % run-to-run noise at most a priori) and, for
Student-t (the default, :data:`LIKELIHOOD`), ``nu ~ Gamma(2, 0.1)`` (Juárez & Steel 2010's
weakly informative prior).

Model discrepancy (Kennedy & O'Hagan 2001). A law form is an approximation, and its error grows
with the distance from the runs it was fitted to. Predictions beyond the training runs add

    delta(x) = sd(x) * u,   u ~ Uniform(-sqrt(3), sqrt(3))  (unit variance; DISCREPANCY_SHAPE)
    sd(x)^2 = max(0, (tau * decades(x)**DISCREPANCY_GROWTH)^2 - v(x)),   tau ~ DISCREPANCY_PRIOR,

where v(x) is the variance over posterior draws of the law's log loss at x (DISCREPANCY_COMBINATION
"topup": the discrepancy tops the predictive up to the width the evidence asks for; "add" drops v)

on log loss, where ``decades(x)`` is how far ``x`` lies beyond the largest training run, in
decades (log10) of training compute or of any size input (N, N_a, D, M), whichever is
furthest; zero inside the data. Inside the training range the runs themselves say how well
the law fits (through ``sigma``); beyond it they cannot, so ``tau`` keeps its prior, whose
family and scale come from leave-future-out backtests on the bundled sweeps
(``benchmarks/extrapolation.py``). ``discrepancy=None`` in :func:`bayesmoe.fit` turns it off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe.errors import FitError
from bayesmoe.laws.priors import Prior

LIKELIHOODS = ("normal", "studentt")
#: The default run-to-run noise: Student-t. Some training runs sit far off any smooth law (a run
#: stopped before its learning-rate warm-up ended, a run whose loss rose with more tokens);
#: Student-t noise gives them little weight, as the Huber loss of the point-fit baseline does,
#: where Normal noise lets them pull the law and widens every interval. Over the nine bundled
#: sweeps (``benchmarks/likelihood.py``, leave-one-sweep-out settings) it cut the pooled 90 %
#: interval score from 0.304 to 0.295 and the median error from 2.6 % to 2.3 %, by 28 % and 12 %
#: on two of Gadre's corpora (posterior nu 2-6), and stayed within 3 % of Normal on the other sweeps.
LIKELIHOOD = "studentt"
#: Likelihoods whose predictive of loss (the exponential of log loss) has no mean: the
#: exponential of a Student-t variable has no finite moment, so its CRPS on loss is infinite
#: and a sample estimate of it only grows with the draws (scoring reports it as infinite).
NO_LOSS_MEAN = frozenset({"studentt"})
#: Name of the observed variable (log loss) in the PyMC model and in InferenceData.
OBSERVED = "log_loss"
#: Prior of the noise scale of log loss.
SIGMA_PRIOR = Prior("HalfNormal", (0.05,))
#: Prior of the Student-t degrees of freedom.
NU_PRIOR = Prior("Gamma", (2.0, 0.1))
#: Discrepancy models: "extrapolation" (the default) or None (the law is taken as exact).
DISCREPANCIES = ("extrapolation", None)
#: Name of the discrepancy scale (sd of log loss per decade beyond the training runs) in the posterior.
DISCREPANCY_SCALE = "discrepancy_scale"
#: Its prior, how the sd grows with the distance (sd = tau * decades**growth; 1: a random slope
#: in log compute, 0.5: a random walk in log compute), delta's shape given its sd (normal, or
#: flat-topped uniform) and how it meets parameter uncertainty (below). All chosen by
#: leave-one-sweep-out CRPS over the nine bundled sweeps (Gadre per corpus, Clark per router,
#: Farseer, Muennighoff, the OLMo 2 ladder; 27 splits, 981 held-out runs up to 3.1 decades beyond):
#: benchmarks/extrapolation.py, for an additive term, chose a fixed scale and the uniform shape
#: on every fold; benchmarks/discrepancy_topup.py then chose the top-up over the addition on
#: every fold, and on all sweeps together top-up / Fixed(0.03) / growth 0.5 (CRPS 0.0379, tied
#: with 0.035, whose coverage was 0.95 / 0.55 against 0.90 / 0.45 at 90 / 50 %; the eight sweeps
#: before the ladder was added chose 0.035).
#: The misses have a size more than a bell shape: a flat top widens the 50 % interval and trims
#: the 90 % one. A fixed scale is honest: beyond the runs they carry no information on tau
#: (learning it from a sweep's own runs made every sweep worse, benchmarks/learned_discrepancy.py).
#: How delta meets the law's parameter uncertainty: "topup" gives it only the variance that
#: uncertainty lacks (sd_delta^2 = max(0, sd^2 - var over draws of the law's log loss): a fit
#: already wide beyond its runs gets little extra); "add" puts it on top (Kennedy & O'Hagan);
#: "floor" tops up parameter uncertainty and run-to-run noise together, so the predictive sd is at
#: least tau * decades**growth - scored as a candidate (at 0.035), it tied the top-up (CRPS 0.0380
#: against 0.0379 on all sweeps), so it is not the default.
#: Pooled over the held-out folds, Normal noise: top-up 90 % coverage 0.91, 50 % 0.46, interval
#: score 0.304, CRPS 0.0383; Student-t (the default): 0.91 / 0.48 / 0.295 (benchmarks/likelihood.py).
DISCREPANCY_COMBINATIONS = ("topup", "add", "floor")
DISCREPANCY_COMBINATION = "topup"
DISCREPANCY_PRIOR = Prior("Fixed", (0.03,))
DISCREPANCY_GROWTH = 0.5
DISCREPANCY_SHAPES = ("uniform", "normal")
DISCREPANCY_SHAPE = "uniform"
#: Inputs whose extrapolation counts towards the distance (with training compute C).
EXTENT_INPUTS = ("N", "N_a", "D", "M")


def check_likelihood(likelihood: str) -> str:
    """Return ``likelihood`` if known, else raise naming the choices."""
    if likelihood not in LIKELIHOODS:
        raise FitError(f"unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}")
    return likelihood


def noise_priors(likelihood: str) -> dict[str, Prior]:
    """The observation model's parameters and their priors, in the order stored in the posterior."""
    student = check_likelihood(likelihood) == "studentt"
    return {"sigma": SIGMA_PRIOR} | ({"nu": NU_PRIOR} if student else {})


def noise_names(likelihood: str) -> list[str]:
    """The observation model's parameters, as stored in the posterior."""
    return list(noise_priors(likelihood))


def add_to_model(log_mu: Any, y: Any, likelihood: str, dims: str = "run") -> Any:
    """Add the noise parameters and the observed log loss to the current PyMC model."""
    import pymc as pm

    sigma = pm.HalfNormal("sigma", sigma=SIGMA_PRIOR.kw["sigma"])
    if check_likelihood(likelihood) == "normal":
        return pm.Normal(OBSERVED, mu=log_mu, sigma=sigma, observed=y, dims=dims)
    nu = pm.Gamma("nu", alpha=NU_PRIOR.kw["alpha"], beta=NU_PRIOR.kw["beta"])
    return pm.StudentT(OBSERVED, nu=nu, mu=log_mu, sigma=sigma, observed=y, dims=dims)


def log_density(y: Any, log_mu: Any, noise: Mapping[str, Any], likelihood: str) -> Any:
    """log p(log loss = y | law's log loss ``log_mu``, noise parameters) (xarray broadcasting)."""
    from scipy import stats

    sigma = noise["sigma"]
    if check_likelihood(likelihood) == "normal":  # written out: scipy's argument checks cost 0.3 s per fit of 446 runs

        def normal(a: Any, m: Any, s: Any) -> Any:
            return -0.5 * ((a - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)

        return xr.apply_ufunc(normal, y, log_mu, sigma)
    return xr.apply_ufunc(lambda a, m, s, nu: stats.t.logpdf(a, nu, m, s), y, log_mu, sigma, noise["nu"])


def loss_log_density(loss: Any, log_mu: Any, noise: Mapping[str, Any], likelihood: str) -> np.ndarray:
    """log density of the loss itself (not its log): the log-loss density minus log loss (the Jacobian)."""
    log_y = np.log(loss)
    return np.asarray(log_density(log_y, log_mu, noise, likelihood)) - log_y


def draw_errors(noise: Mapping[str, Any], likelihood: str, shape: tuple[int, ...], rng: np.random.Generator) -> Any:
    """Errors of log loss with ``shape``; noise arrays broadcast against it (draws lead)."""
    sigma = np.asarray(noise["sigma"], float)
    if check_likelihood(likelihood) == "normal":
        return sigma * rng.standard_normal(shape)
    nu = np.broadcast_to(np.asarray(noise["nu"], float), shape)
    return sigma * rng.standard_t(nu)


def draw_loss(mean_loss: Any, noise: Mapping[str, Any], likelihood: str, rng: np.random.Generator) -> Any:
    """Observed losses drawn around ``mean_loss`` (an array, or a DataArray with the noise's dims)."""
    if isinstance(mean_loss, xr.DataArray):
        parts = [xr.DataArray(v) if not isinstance(v, xr.DataArray) else v for v in noise.values()]
        b = xr.broadcast(mean_loss, *parts)
        arrays = dict(zip(noise, (p.values for p in b[1:]), strict=True))
        err = draw_errors(arrays, likelihood, b[0].shape, rng)
        return b[0] * np.exp(err)
    mean_loss = np.asarray(mean_loss, float)
    return mean_loss * np.exp(draw_errors(noise, likelihood, mean_loss.shape, rng))


def noise_draws(posterior: xr.Dataset, likelihood: str, flat: bool = False) -> dict[str, Any]:
    """The noise parameters of every draw (DataArrays over chain, draw; or flat 1-d arrays)."""
    out = {k: posterior[k] for k in noise_names(likelihood)}
    return {k: v.values.reshape(-1) for k, v in out.items()} if flat else out


def discrepancy_settings() -> dict[str, Any]:
    """The discrepancy model a new fit records (its shape, combination and growth), so a saved
    fit keeps predicting with the model it was made with."""
    return {
        "discrepancy_shape": DISCREPANCY_SHAPE,
        "discrepancy_combination": DISCREPANCY_COMBINATION,
        "discrepancy_growth": DISCREPANCY_GROWTH,
    }


def recorded_discrepancy(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of :func:`draw_discrepancy` for the model a fit recorded in its
    settings (fits saved before these were recorded: normal, additive, sqrt growth)."""
    g = settings.get("discrepancy_growth")
    return {
        "form": settings.get("discrepancy_shape") or "normal",
        "combination": settings.get("discrepancy_combination") or "add",
        "growth": 0.5 if g is None else float(g),
    }


def check_discrepancy(discrepancy: str | None) -> str | None:
    """Return ``discrepancy`` if known, else raise naming the choices."""
    if discrepancy not in DISCREPANCIES:
        raise FitError(f"unknown discrepancy {discrepancy!r}; choose 'extrapolation' or None")
    return discrepancy


def extent_inputs(data: Any, law: Any) -> dict[str, Any]:
    """What counts towards the distance beyond the training runs, from a runs table or a mapping
    of inputs: the sizes of :data:`EXTENT_INPUTS` present (N_a from the law's ``active`` formula
    where it has one) and the training compute C as ``law`` counts it (:meth:`Law.compute`), so
    that a run and a prediction at the same inputs lie equally far (a table's own C column, which
    may count attention or sparsity another way, is not used)."""
    table = isinstance(data, pd.DataFrame)
    cols = set(data.columns if table else data)

    def value(k: str) -> Any:
        return data[k].to_numpy(float) if table else data[k]

    out = {k: value(k) for k in EXTENT_INPUTS if k in cols}
    if set(law.inputs) <= cols:
        x = {k: value(k) for k in law.inputs}
        if "N_a" not in out and law.active_tree is not None:
            out["N_a"] = law.activated(x)
        c = law.compute(x)
        if c is not None:
            out["C"] = c
    return out


def training_extent(inputs: Mapping[str, Any]) -> dict[str, float]:
    """The largest training value of compute and of each size input (keys ``C``, ``N``, ``N_a``, ``D``, ``M``)
    among :func:`extent_inputs`."""
    return {k: float(np.max(inputs[k])) for k in ("C", *EXTENT_INPUTS) if k in inputs and np.size(inputs[k])}


def decades_beyond(inputs: Mapping[str, Any], extent: Mapping[str, float]) -> Any:
    """How far each point of ``inputs`` (:func:`extent_inputs`, or a plan's sizes with its budget
    as C) lies beyond the training extent, in decades (0 inside)."""
    out: Any = 0.0
    for k, top in extent.items():
        if k in inputs and top > 0:
            value = inputs[k] if isinstance(inputs[k], xr.DataArray) else np.asarray(inputs[k], float)
            out = np.maximum(out, np.log10(value / top))
    return np.maximum(out, 0.0)


#: Prior of the scale when it is learned from the user's own runs (:func:`bayesmoe.learn_discrepancy`):
#: centred on the bundled evidence above, a factor ~3.4 either way at 90 %.
LEARNED_SCALE_PRIOR = Prior("LogNormal", (float(np.log(float(DISCREPANCY_PRIOR.args[0]))), 0.75))


def predictive_log_density(
    resid: Any, noise: Mapping[str, Any], likelihood: str, disc_sd: Any = 0.0, form: str | None = None
) -> np.ndarray:
    """log p(resid) for resid = observed log loss - the law's log loss: run-to-run noise
    (``noise``: sigma, and nu for Student-t) plus delta of sd ``disc_sd`` and shape ``form``
    (default :data:`DISCREPANCY_SHAPE`); NumPy broadcasting. Exact: Normal noise with either
    shape, Student-t noise with the uniform one (a normal-shaped delta with Student-t noise has no
    closed form and raises). Computed in log space so that far-off residuals stay finite."""
    from scipy.special import gammaln, log_ndtr, stdtr

    form = DISCREPANCY_SHAPE if form is None else form
    if form not in DISCREPANCY_SHAPES:
        raise FitError(f"unknown discrepancy shape {form!r}; choose one of {DISCREPANCY_SHAPES}")
    student = check_likelihood(likelihood) == "studentt"
    s, r, sd = (np.asarray(v, float) for v in (noise["sigma"], resid, disc_sd))
    nu = np.asarray(noise["nu"], float) if student else None
    if form == "normal" and np.any(sd > 0):
        if student:
            raise FitError("a normal-shaped discrepancy has a closed-form density with Normal noise only")
        s = np.sqrt(s**2 + sd**2)
        sd = np.zeros_like(sd)

    def log_pdf(z: np.ndarray, nu: np.ndarray | None) -> np.ndarray:
        if nu is None:
            return -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
        return gammaln((nu + 1) / 2) - gammaln(nu / 2) - 0.5 * np.log(nu * np.pi) - (nu + 1) / 2 * np.log1p(z**2 / nu)

    def log_sf(z: np.ndarray, nu: np.ndarray | None) -> np.ndarray:
        return log_ndtr(-z) if nu is None else np.log(stdtr(nu, -z))

    a = np.sqrt(3.0) * sd  # noise convolved with Uniform(-a, a): (F((r + a)/s) - F((r - a)/s)) / 2a
    r = np.abs(r)  # symmetric; the upper-tail form keeps precision far out
    at = log_pdf(r / s, nu) - np.log(s)  # a -> 0; also where a Student-t tail underflows, far past a
    out = np.array(np.broadcast_to(at, np.broadcast_shapes(at.shape, a.shape)))
    wide = np.broadcast_to(a > 1e-12 * s, out.shape)
    if np.any(wide):  # the tail functions are the cost: only where delta has width
        rw, aw, sw = (np.broadcast_to(v, out.shape)[wide] for v in (r, a, s))
        nw = None if nu is None else np.broadcast_to(nu, out.shape)[wide]
        with np.errstate(divide="ignore", invalid="ignore"):
            near, far = log_sf((rw - aw) / sw, nw), log_sf((rw + aw) / sw, nw)
            flat = near + np.log1p(-np.exp(far - near)) - np.log(2 * aw)
        out[wide] = np.where(np.isfinite(flat), flat, out[wide])
    return out


def draw_scale(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Draws of the discrepancy scale from its prior (the runs carry no information on it)."""
    return np.asarray(DISCREPANCY_PRIOR.sample(rng, shape), float)


def store_scale(post: xr.Dataset, const: dict[str, Any], scale: np.ndarray) -> None:
    """Keep the discrepancy scale's draws (chain x draw) in a fit's InferenceData: in ``post``
    when they vary (learned, or drawn from a spread prior), else as one number in the entries
    ``const`` of its ``constant_data`` - a constant in ``posterior`` would give ArviZ's R-hat and
    ESS zero variance (NaN, with warnings) in ``az.summary`` or ``az.rhat`` of the fit."""
    scale = np.asarray(scale, float)
    if scale.size and np.ptp(scale) == 0:
        const[DISCREPANCY_SCALE] = ((), float(scale.flat[0]))
    else:
        post[DISCREPANCY_SCALE] = (("chain", "draw"), scale)


def scale_draws(idata: Any) -> xr.DataArray | None:
    """The discrepancy scale per posterior draw (dims chain, draw) as :func:`store_scale` kept
    it, or None for a fit without the term."""
    post = idata.posterior
    if DISCREPANCY_SCALE in post:
        return post[DISCREPANCY_SCALE]
    const = idata.constant_data if "constant_data" in idata.groups() else None
    if const is None or DISCREPANCY_SCALE not in const:
        return None
    shape = (post.sizes["chain"], post.sizes["draw"])
    return xr.DataArray(
        np.full(shape, float(const[DISCREPANCY_SCALE])),
        dims=("chain", "draw"),
        coords={"chain": post["chain"].values, "draw": post["draw"].values},
        name=DISCREPANCY_SCALE,
    )


def discrepancy_sd(
    scale: Any,
    decades: Any,
    growth: float | None = None,
    param_var: Any = None,
    combination: str | None = None,
    noise_var: Any = None,
) -> Any:
    """sd of delta at ``decades`` beyond the runs for each value of the scale: tau * decades**growth,
    topped up (see the module docstring) over ``param_var``, the variance over draws of the
    law's log loss there, when ``combination`` is "topup", and over ``param_var + noise_var``
    (:func:`noise_variance`) when it is "floor" (default :data:`DISCREPANCY_COMBINATION`)."""
    g = DISCREPANCY_GROWTH if growth is None else float(growth)
    sd = scale * decades**g
    combination = DISCREPANCY_COMBINATION if combination is None else combination
    if combination not in DISCREPANCY_COMBINATIONS:
        raise FitError(f"unknown discrepancy combination {combination!r}; choose one of {DISCREPANCY_COMBINATIONS}")
    if combination == "add" or param_var is None:
        return sd
    have = param_var + (noise_var if combination == "floor" and noise_var is not None else 0.0)
    return np.sqrt(np.maximum(sd**2 - have, 0.0))


def standard_discrepancy(rng: np.random.Generator, shape: tuple[int, ...], form: str | None = None) -> np.ndarray:
    """Unit-variance draws of delta's shape: ``normal``, or ``uniform`` (flat-topped: the law is
    off by up to sqrt(3) sd, either way alike)."""
    form = DISCREPANCY_SHAPE if form is None else form
    if form == "normal":
        return rng.standard_normal(shape)
    if form == "uniform":
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape)
    raise FitError(f"unknown discrepancy shape {form!r}; choose one of {DISCREPANCY_SHAPES}")


def draw_discrepancy(
    scale: Any,
    decades: Any,
    rng: np.random.Generator,
    growth: float | None = None,
    form: str | None = None,
    param_var: Any = None,
    combination: str | None = None,
) -> Any:
    """delta on log loss for each draw (``scale`` leads) and point (``decades`` broadcasts), with sd
    :func:`discrepancy_sd` and shape ``form`` (defaults :data:`DISCREPANCY_GROWTH`,
    :data:`DISCREPANCY_SHAPE`, :data:`DISCREPANCY_COMBINATION`); ``param_var`` broadcasts like ``decades``.
    NumPy arrays (plans, benchmarks); predictions over xarray grids take the sd from
    :func:`bayesmoe.decisions.prediction.discrepancy_sd_draws`."""
    pv = 0.0 if param_var is None else param_var
    s, d, v = np.broadcast_arrays(np.asarray(scale, float), np.asarray(decades, float), np.asarray(pv, float))
    sd = discrepancy_sd(s, d, growth, None if param_var is None else v, combination)
    return sd * standard_discrepancy(rng, s.shape, form)
