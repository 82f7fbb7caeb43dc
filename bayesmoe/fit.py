"""Hierarchical Bayesian fit of a law to runs: build the PyMC model, sample, check.

Sampling parametrisation (the law file states priors in the paper's terms; this module
chooses how to sample them without changing the posterior):

* Reference-scale shear. For a parameter ``A`` the loss is linear in (``A * N**-alpha``,
  or Zhao's ``e`` inside ``P(G, S) * (...)``), we sample ``A``'s contribution at a reference
  point ``x0`` (the geometric mean of the runs): ``u = log A + log s(theta)`` with
  ``s = dL/dA`` at ``x0`` (the other linear parameters held at their prior medians, so ``s``
  depends only on the directly sampled ``theta``). The map ``(log A, theta) -> (u, theta)``
  is a shear with unit Jacobian and ``u``'s prior is ``log A``'s shifted by ``log s``, so
  the model is unchanged; but ``u`` is nearly uncorrelated with the exponents, which
  removes the A-alpha ridge. Normal priors are rescaled instead (``A * s`` is again normal).
* Level shift. An additive parameter (``L = ... + eps``) is sampled, last, as a shift of its
  unconstrained coordinate by the rest of the loss at ``x0``, so that to first order the
  sampler sees the loss at ``x0`` - which the runs pin down - instead of ``eps``, which
  trades off against the slowest-decaying term (the eps-B-beta ridge when D spans a narrow
  range). Again a shift with unit Jacobian: the prior is unchanged.
* Groups. Pooled parameters get one value per group,
  ``theta_g = inv(fwd(theta) + tau * z_g)`` with ``fwd`` the log/logit map of the prior's
  support, ``z_g ~ Normal(0, 1)`` (non-centred) and ``tau ~ HalfNormal(GROUP_SCALE)``.
* Likelihood on log loss: ``log L_obs ~ Normal(log L(x; theta), sigma)`` or Student-t.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayesmoe import expr, interrupt
from bayesmoe.columns import CANONICAL, SIZE_COLUMNS
from bayesmoe.config import GROUP_SCALE, HDI_PROB, SIGMA_SCALE
from bayesmoe.diagnostics import Diagnostics, check
from bayesmoe.errors import BayesMoEError, FitError, SamplingWarning
from bayesmoe.identify import identifiability
from bayesmoe.laws import Law, get_law
from bayesmoe.priors import Prior
from bayesmoe.runs import Runs, load_runs

SAMPLERS = ("nutpie", "pymc", "numpyro")
#: Chosen by benchmarks/samplers.py on the 2-core reference machine (see README).
DEFAULT_SAMPLER = "nutpie"
LIKELIHOODS = ("normal", "studentt")


#: prior families whose parameter can be rescaled exactly (log-scale shift or location-scale)
SCALABLE = ("LogNormal", "LogUniform", "Normal")
#: prior families of an additive parameter that can be sampled as the loss at the reference point
LEVELLED = ("Normal", "LogNormal", "Uniform")


def linear_params(law: Law) -> dict[str, Any]:
    """Parameters the loss is linear in (prefactors), each with its SymPy ``dL/dp``."""
    import sympy

    loss = expr.to_sympy(law.loss_tree)
    out: dict[str, Any] = {}
    for name in law.params:
        d = sympy.diff(loss, sympy.Symbol(name))
        if d != 0 and sympy.Symbol(name) not in d.free_symbols:
            out[name] = d
    return out


def shear_terms(law: Law, runs: Runs | None = None, priors: Mapping[str, Prior] | None = None) -> dict[str, expr.Node]:
    """Parameters to sample at the reference scale, each with its scale ``dL/dp``.

    A parameter ``p`` qualifies when the loss is linear in it, its prior is in
    :data:`SCALABLE`, and ``dL/dp`` - with the other such parameters held at their prior
    medians, so that it depends only on parameters sampled directly (the exponents) - is
    positive for every value of those and depends on at least one of them. The sampled
    quantity ``p * dL/dp(x0)`` is then p's contribution to the loss at the reference point
    ``x0``, nearly uncorrelated with the exponents (for ``A * N**-alpha`` it is
    ``A * N0**-alpha``; for the Zhao bracket it also covers e, f, m, n, k). ``priors`` are
    the priors the fit uses (default: the law's), whose families and supports decide.
    """
    import sympy

    pri = law.priors if priors is None else priors
    linear = {k: d for k, d in linear_params(law).items() if pri[k].family in SCALABLE}
    fixed = {sympy.Symbol(k): sympy.Float(pri[k].typical()) for k in linear}
    if runs is not None:  # the scale is only ever evaluated at the reference point
        ref = runs.reference([k for k in law.inputs if k in runs.df])
        fixed |= {sympy.Symbol(k): sympy.Float(v) for k, v in ref.items()}
        fixed |= {sympy.Symbol(k): sympy.Float(v) for k, v in law.constants.items()}
    positive = {k for k in law.inputs if k in SIZE_COLUMNS or (k in CANONICAL and CANONICAL[k].minimum > 0)}
    positive |= {k for k in law.params if pri[k].support == "positive"}
    positive |= {k for k in law.params if pri[k].support in ("interval", "point") and pri[k].bounds[0] >= 0}
    positive |= {k for k, v in law.constants.items() if v > 0}
    out: dict[str, expr.Node] = {}
    for name, d in linear.items():
        d = d.subs({k: v for k, v in fixed.items() if k.name != name})
        if not {s.name for s in d.free_symbols} & (set(law.params) - set(linear)):
            continue  # its scale does not move with any sampled parameter: nothing to decorrelate
        try:
            node = expr.from_sympy(d)
        except BayesMoEError:
            continue
        if expr.is_positive(node, positive):
            out[name] = node
    return out


def level_param(law: Law, priors: Mapping[str, Prior] | None = None) -> tuple[str, float] | None:
    """The additive parameter (``L = ... + eps``) and its coefficient, if the loss has one
    and its prior (from ``priors``, default the law's) is in :data:`LEVELLED`."""
    import sympy

    pri = law.priors if priors is None else priors
    loss = expr.to_sympy(law.loss_tree)
    for name in law.params:
        d = sympy.diff(loss, sympy.Symbol(name))
        if d.is_Number and d != 0 and pri[name].family in LEVELLED:
            return name, float(d)
    return None


def resolve_priors(law: Law, priors: Mapping[str, str | Prior] | None) -> dict[str, Prior]:
    out = dict(law.priors)
    for k, v in (priors or {}).items():
        if k not in out:
            raise FitError(f"prior given for {k!r}, which is not a parameter of {law.name!r} ({law.params})")
        out[k] = v if isinstance(v, Prior) else Prior.parse(v, f"prior for {k!r}")
    return out


def build_model(
    law: Law,
    runs: Runs,
    *,
    groups: str | None = None,
    pooled: Sequence[str] | None = None,
    priors: Mapping[str, str | Prior] | None = None,
    likelihood: str = "normal",
) -> Any:
    """The PyMC model of ``law`` on ``runs`` (see the module docstring for its parametrisation)."""
    import pymc as pm
    import pytensor.tensor as pt

    if likelihood not in LIKELIHOODS:
        raise FitError(f"unknown likelihood {likelihood!r}; choose one of {LIKELIHOODS}")
    runs.require(law.inputs, f"law {law.name!r}", {k: law.input_bounds(k) for k in law.inputs})
    n_free = len(law.params) + 1
    if len(runs) < n_free:
        raise FitError(
            f"{len(runs)} runs cannot constrain {law.name!r}: it has {len(law.params)} parameters plus the noise scale; give at least {n_free} runs"
        )
    if all(runs.df[k].nunique() == 1 for k in law.inputs if k in runs.df):
        raise FitError(
            f"every input of {law.name!r} ({', '.join(law.inputs)}) is constant across the runs: nothing to fit a scaling law to"
        )
    pri = resolve_priors(law, priors)
    coords: dict[str, Any] = {"run": np.arange(len(runs))}
    if groups is not None:
        coords["group"] = runs.group_codes(groups)[1]
        pooled_set = set(law.pooled if pooled is None else pooled)
        unknown = pooled_set - set(law.params)
        if unknown:
            raise FitError(f"pooled names {sorted(unknown)} are not parameters of {law.name!r} ({law.params})")
        held = sorted(k for k in pooled_set if pri[k].fixed)
        if held and pooled is not None:
            raise FitError(f"{held} are held at fixed values, so they cannot also vary by group; drop them from pooled")
        pooled_set -= set(held)  # a law's default pooling does not apply to a parameter the user fixed
    elif pooled:
        raise FitError("pooled parameters need a group column: pass groups='column'")
    else:
        pooled_set = set()
    shear = shear_terms(law, runs, pri)
    level = level_param(law, pri)
    level_name, level_coef = level if level is not None else (None, 1.0)
    ns = expr.pytensor_ns()
    with pm.Model(coords=coords) as model:
        # data live in shared containers so a compiled model can be reused on new runs
        shared = {
            k: pm.Data(k, v, dims=None if k.startswith("ref_") else "run")
            for k, v in model_data(law, runs, groups).items()
        }
        x = {k: shared[f"x_{k}"] for k in law.inputs}
        ref = {k: shared[f"ref_{k}"] for k in law.inputs}
        codes = shared.get("group_idx")
        pop: dict[str, Any] = {}
        for name in law.params:
            if name not in shear and name != level_name:
                pop[name] = pri[name].pymc(name)
        for name, scale in shear.items():
            log_f0 = pt.log(expr.evaluate(scale, {**law.constants, **pop, **ref}, ns))
            pop[name] = pri[name].pymc(name, shift=log_f0)
        if level_name is not None:  # sampled last: its offset is the rest of the loss at x0
            rest = law.loss_fn({**pop, level_name: 0.0}, ref, ns) / level_coef
            pop[level_name] = pri[level_name].pymc_level(level_name, rest)
        env: dict[str, Any] = dict(pop)
        for name in law.params:
            if name in pooled_set:
                tau = pm.HalfNormal(f"{name}_tau", sigma=GROUP_SCALE)
                z = pm.Normal(f"{name}_z", 0.0, 1.0, dims="group")
                free = pri[name].to_free(pop[name], pt) + tau * z
                per_group = pm.Deterministic(f"{name}_group", pri[name].from_free(free, pt), dims="group")
                env[name] = per_group[codes]
        mu = law.loss_fn(env, x, ns)
        log_mu = pt.log(mu)
        sigma = pm.HalfNormal("sigma", sigma=SIGMA_SCALE)
        y = shared["y"]
        if likelihood == "normal":
            pm.Normal("log_loss", mu=log_mu, sigma=sigma, observed=y, dims="run")
        else:
            nu = pm.Gamma("nu", alpha=2.0, beta=0.1)
            pm.StudentT("log_loss", nu=nu, mu=log_mu, sigma=sigma, observed=y, dims="run")
    model.bayesmoe_pooled = sorted(pooled_set)  # type: ignore[attr-defined]
    model.bayesmoe_shear = sorted(shear) + ([f"{level_name}:level"] if level_name else [])  # type: ignore[attr-defined]
    return model


def model_data(law: Law, runs: Runs, groups: str | None) -> dict[str, np.ndarray]:
    """The values of the shared data containers of :func:`build_model` for ``runs``."""
    data = {f"x_{k}": v for k, v in runs.inputs(law.inputs).items()}
    data |= {f"ref_{k}": np.asarray(v) for k, v in runs.reference(law.inputs).items()}
    data["y"] = np.log(runs.loss())
    if groups is not None:
        data["group_idx"] = runs.group_codes(groups)[0]
    return data


_COMPILED: dict[tuple, Any] = {}
_COMPILED_MAX = 16


def _compiled_nutpie(key: tuple, model: Any) -> Any:
    """Compile a model for nutpie once per law, priors and data shape; reuse it on new data."""
    import nutpie

    if os.environ.get("BAYESMOE_COMPILE_CACHE", "1") == "0":  # opt out, e.g. to compare against fresh compiles
        return nutpie.compile_pymc_model(model)
    if key not in _COMPILED:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = nutpie.compile_pymc_model(model)
    return _COMPILED[key]


def log_likelihood(
    law: Law, runs: Runs, posterior: xr.Dataset, pooled: Sequence[str], groups: str | None, likelihood: str
) -> xr.DataArray:
    """Pointwise log-likelihood of every run under every draw, evaluated with NumPy."""
    params: dict[str, Any] = {}
    codes = xr.DataArray(runs.group_codes(groups)[0], dims="run") if groups is not None else None
    for name in law.params:
        if name in pooled and codes is not None:
            params[name] = posterior[f"{name}_group"].isel(group=codes).drop_vars("group", errors="ignore")
        else:
            params[name] = posterior[name]
    x = {k: xr.DataArray(v, dims="run") for k, v in runs.inputs(law.inputs).items()}
    with np.errstate(all="ignore"):
        mu = np.log(law.loss_fn(params, x))
    y = xr.DataArray(np.log(runs.loss()), dims="run")
    ll = log_density(y, mu, posterior, likelihood)
    return ll.transpose("chain", "draw", "run").assign_coords(run=np.arange(len(runs)))


def log_density(y: Any, mu: Any, posterior: xr.Dataset, likelihood: str) -> Any:
    """log p(log loss = y | mean mu, the draw's sigma (and nu)) under the fit's likelihood."""
    from scipy import stats

    sigma = posterior["sigma"]
    if likelihood == "normal":
        return xr.apply_ufunc(stats.norm.logpdf, y, mu, sigma)
    return xr.apply_ufunc(lambda a, m, s, nu: stats.t.logpdf(a, nu, m, s), y, mu, sigma, posterior["nu"])


class Fit:
    """A law fitted to runs: the posterior (ArviZ InferenceData) plus everything to reuse it."""

    def __init__(
        self,
        law: Law,
        runs: Runs,
        idata: az.InferenceData,
        *,
        settings: Mapping[str, Any],
        priors: Mapping[str, Prior],
        groups: str | None = None,
        pooled: Sequence[str] = (),
    ):
        self.law = law
        self.runs = runs
        self.idata = idata
        self.settings = dict(settings)
        self.priors = dict(priors)
        self.groups = groups
        self.pooled = list(pooled)
        self._diagnostics: Diagnostics | None = None

    @classmethod
    def from_params(cls, law: str | Law, params: Mapping[str, float], runs: Runs | None = None) -> Fit:
        """A one-point 'posterior' at fixed parameter values (e.g. a paper's published fit)."""
        law = get_law(law)
        missing = [p for p in law.params if p not in params]
        if missing:
            raise FitError(f"no value for parameter(s) {missing} of {law.name!r}")
        post = xr.Dataset(
            {k: (("chain", "draw"), np.array([[float(params[k])]])) for k in law.params}
            | {"sigma": (("chain", "draw"), [[0.0]])},
            coords={"chain": [0], "draw": [0]},
        )
        runs = (
            runs
            if runs is not None
            else Runs(pd.DataFrame({"loss": pd.Series(dtype=float)}), source="none (point values)")
        )
        idata = az.InferenceData(posterior=post)
        return cls(law, runs, idata, settings={"sampler": "fixed values"}, priors=law.priors)

    # ------------------------------------------------------------------ posterior views
    @property
    def group_levels(self) -> list[str]:
        post = self.idata.posterior
        return [str(g) for g in post["group"].values] if "group" in post.coords else []

    def draws(self, group: str | None = None) -> xr.Dataset:
        """Law parameters per draw: population values, or one group's values where pooled."""
        post = self.idata.posterior
        out = {}
        for name in self.law.params:
            if group is not None and name in self.pooled:
                if group not in self.group_levels:
                    raise FitError(f"unknown group {group!r}; groups are {self.group_levels}")
                out[name] = post[f"{name}_group"].sel(group=group, drop=True)
            else:
                out[name] = post[name]
        return xr.Dataset(out)

    @property
    def var_names(self) -> list[str]:
        post = self.idata.posterior
        sampled = [p for p in self.law.params if not (p in self.priors and self.priors[p].fixed)]
        names = sampled + [f"{p}_group" for p in self.pooled] + [f"{p}_tau" for p in self.pooled]
        names += [v for v in ("sigma", "nu") if v in post]
        return [n for n in names if n in post]

    def summary(self, hdi_prob: float = HDI_PROB) -> pd.DataFrame:
        """Posterior mean, sd, HDI and diagnostics of the law's parameters."""
        table = az.summary(self.idata, var_names=self.var_names, hdi_prob=hdi_prob)
        pub = {}
        for k, p in self.law.spec.params.items():
            if isinstance(p.published, int | float):
                pub[k] = float(p.published)
        if pub:
            table["published"] = [pub.get(i, np.nan) for i in table.index]
        return table

    def derived(self, name: str, group: str | None = None, **inputs: Any) -> xr.DataArray:
        """A derived quantity of the law (e.g. ``G_star``) per posterior draw."""
        d = self.draws(group)
        value = self.law.derived(name, {k: d[k] for k in d.data_vars}, inputs or None)
        return xr.DataArray(value).rename(name) if not isinstance(value, xr.DataArray) else value.rename(name)

    def derived_by_group(self, name: str, **inputs: Any) -> xr.DataArray:
        """A derived quantity per draw and per group (dim ``group``), e.g. Wan's per-budget x_star."""
        if not self.group_levels:
            raise FitError("this fit has no groups")
        parts = [self.derived(name, group=g, **inputs) for g in self.group_levels]
        return xr.concat(parts, dim=pd.Index(self.group_levels, name="group"))

    def diagnostics(self) -> Diagnostics:
        if self._diagnostics is None:
            self._diagnostics = check(self.idata, self.var_names)
            self._diagnostics.messages += list(self.settings.get("identifiability", []))
        return self._diagnostics

    def predict(self, grid: Any, *, group: str | None = None, predictive: bool = False, seed: int = 0) -> xr.DataArray:
        """Loss over a grid per draw (see :func:`bayesmoe.predict.predict`)."""
        from bayesmoe.predict import predict

        return predict(self, grid, group=group, predictive=predictive, seed=seed)

    def save(self, path: str | os.PathLike) -> None:
        from bayesmoe.io import save_fit

        save_fit(self, path)

    def __repr__(self) -> str:
        post = self.idata.posterior
        g = f", groups={self.groups!r} ({len(self.group_levels)})" if self.groups else ""
        status = "ok" if self.diagnostics().ok else "CHECK DIAGNOSTICS"
        return (
            f"Fit(law={self.law.name!r}, {len(self.runs)} runs{g}, "
            f"{post.sizes['chain']}x{post.sizes['draw']} draws, sampler={self.settings.get('sampler')}, diagnostics {status})"
        )

    def _repr_html_(self) -> str:
        import html

        synthetic = " <b>[synthetic data]</b>" if self.runs.synthetic else ""
        return (
            f"<h4>Fit of <code>{html.escape(self.law.name)}</code> to {len(self.runs)} runs{synthetic}</h4>"
            f"<p>$$ {html.escape(self.law.latex())} $$</p>"
            + self.diagnostics()._repr_html_()
            + self.summary().to_html(float_format="{:.4g}".format)
        )


def _sample_nutpie(model: Any, law: Law, runs: Runs, groups: str | None, pri: Mapping[str, Prior], likelihood: str, draws: int, tune: int, chains: int, seed: int | None, target_accept: float,
                   progressbar: bool) -> az.InferenceData:  # fmt: skip
    import nutpie

    key = (law.spec_hash, len(runs), len(model.coords.get("group", ())), tuple(model.bayesmoe_pooled),
           tuple(model.bayesmoe_shear), likelihood, tuple(sorted((k, str(v)) for k, v in pri.items())))  # fmt: skip
    compiled = _compiled_nutpie(key, model)
    compiled = compiled.with_data(
        **{k: v for k, v in model_data(law, runs, groups).items() if k in compiled.shared_data}
    )
    seed = int(np.random.default_rng(seed).integers(2**31)) if seed is not None else None
    return nutpie.sample(
        compiled, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
        progress_bar=progressbar, low_rank_modified_mass_matrix=True,
    )  # fmt: skip


def _run_sampler(model: Any, law: Law, runs: Runs, groups: str | None, pri: Mapping[str, Prior], likelihood: str, sampler: str,
                 draws: int, tune: int, chains: int, seed: int | None, target_accept: float, progressbar: bool,
                 cores: int) -> az.InferenceData:  # fmt: skip
    import pymc as pm

    if sampler == "nutpie":
        return _sample_nutpie(
            model, law, runs, groups, pri, likelihood, draws, tune, chains, seed, target_accept, progressbar
        )
    else:
        kwargs: dict[str, Any] = dict(
            draws=draws, tune=tune, chains=chains, random_seed=seed, target_accept=target_accept,
            progressbar=progressbar, nuts_sampler=sampler, compute_convergence_checks=False,
        )  # fmt: skip
        if sampler == "pymc":
            kwargs["cores"] = cores
        elif sampler == "numpyro":
            kwargs["nuts_sampler_kwargs"] = {"chain_method": "parallel" if cores > 1 else "sequential"}
        return pm.sample(**kwargs)


def fit(
    law: str | Law,
    runs: Runs | pd.DataFrame | str | os.PathLike,
    *,
    groups: str | None = None,
    pooled: Sequence[str] | None = None,
    priors: Mapping[str, str | Prior] | None = None,
    likelihood: str = "normal",
    sampler: str = DEFAULT_SAMPLER,
    draws: int = 1000,
    tune: int | None = None,
    chains: int = 4,
    seed: int | None = 0,
    target_accept: float | None = None,
    cores: int | None = None,
    progressbar: bool = True,
    warn: bool = True,
) -> Fit:
    """Fit ``law`` to ``runs`` with NUTS and check the result.

    ``groups`` names a column whose levels get their own values of the ``pooled``
    parameters (default: the law's own list, usually exponents and irreducible loss),
    partially pooled. ``sampler`` is one of :data:`SAMPLERS`. ``tune`` and ``target_accept``
    default to the law file's ``[sampling]`` hints, else 1000 and 0.9 (0.99 with groups).
    Diagnostics are computed after sampling; problems are raised as :class:`SamplingWarning`
    with the fix to try.
    """
    law = get_law(law)
    runs = load_runs(runs)
    hints = law.spec.sampling
    tune = (hints.tune or 1000) if tune is None else tune
    if sampler not in SAMPLERS:
        raise FitError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    for label, value, lo in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1)):
        if not isinstance(value, int | np.integer) or value < lo:
            raise FitError(f"{label} must be an integer >= {lo}, got {value!r}")
    if target_accept is None:
        # the law's own need, else 0.99 with groups: on chinchilla with the three Gadre corpora,
        # 0.95 left 36-60 divergences in the tail of the exponents' group scale, 0.99 left 5-7
        target_accept = hints.target_accept or (0.99 if groups else 0.9)
    if not 0 < target_accept < 1:
        raise FitError(f"target_accept must lie in (0, 1), got {target_accept}")
    model = build_model(law, runs, groups=groups, pooled=pooled, priors=priors, likelihood=likelihood)
    pri = resolve_priors(law, priors)
    cores = min(chains, os.cpu_count() or 1) if cores is None else cores
    t0 = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*idata_kwargs.*")
        try:
            idata = _run_sampler(
                model,
                law,
                runs,
                groups,
                pri,
                likelihood,
                sampler,
                draws,
                tune,
                chains,
                seed,
                target_accept,
                progressbar,
                cores,
            )
        except (KeyboardInterrupt, BayesMoEError):
            raise
        except Exception as exc:  # sampler internals raise many kinds; say what to check
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise FitError(
                f"sampling {law.name!r} failed ({type(exc).__name__}: {first}); check for extreme input values "
                "or priors that put the loss at non-positive values"
            ) from None
    interrupt.check()  # a stop the sampler's compiled code swallowed
    for group in [
        g
        for g in idata.groups()
        if g.startswith("warmup_")
        or g in ("log_likelihood", "observed_data", "constant_data", "unconstrained_posterior")
    ]:
        delattr(idata, group)  # InferenceData.__delattr__ keeps its group lists in step
    post = idata.posterior.assign_coords(run=np.arange(len(runs))) if "run" in idata.posterior.dims else idata.posterior
    if groups is not None:
        post = post.assign_coords(group=runs.group_codes(groups)[1])
    idata.posterior = post
    ll = log_likelihood(law, runs, idata.posterior, model.bayesmoe_pooled, groups, likelihood)
    obs = xr.Dataset({"log_loss": ("run", np.log(runs.loss()))}, coords={"run": np.arange(len(runs))})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata.add_groups(log_likelihood=xr.Dataset({"log_loss": ll}), observed_data=obs)
    elapsed = time.perf_counter() - t0
    median = {k: float(idata.posterior[k].median()) for k in law.params}
    ident = identifiability(law, runs, pri, point=median)
    settings = dict(
        sampler=sampler, draws=draws, tune=tune, chains=chains, seed=seed, target_accept=target_accept,
        likelihood=likelihood, wall_time_s=round(elapsed, 3), identifiability=ident.messages(),
    )  # fmt: skip
    result = Fit(law, runs, idata, settings=settings, priors=pri, groups=groups, pooled=model.bayesmoe_pooled)
    diag = result.diagnostics()
    if warn and not diag.ok:
        warnings.warn(f"fit of {law.name!r}: " + " ".join(diag.messages), SamplingWarning, stacklevel=2)
    return result
