"""Fit a law to runs with NUTS: the :class:`Fit` result and the :func:`fit` verb.

The result's InferenceData follows ArviZ's schema: ``posterior`` holds the law's parameters
(per group where pooled, with their group scales ``*_tau``) and the observation model's
(``sigma``, ``nu``); ``log_likelihood``, ``observed_data`` (log loss), ``constant_data`` (the
runs' inputs) and ``posterior_predictive`` are filled, so ``az.loo``, ``az.plot_ppc`` and
``az.loo_pit`` work on ``fit.idata`` directly. The sampler's internal coordinates (reference
scales, standardised offsets; :mod:`bayesmoe.inference.reparam`) are not stored.
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

from bayesmoe import config, interrupt
from bayesmoe.config import INTERVAL_PROB
from bayesmoe.errors import BayesMoEError, FitError, SamplingWarning
from bayesmoe.inference import io
from bayesmoe.inference.diagnostics import Diagnostics, check
from bayesmoe.inference.identify import identifiability
from bayesmoe.inference.model import build_model, check_finite_at_runs, compiled_key, model_data
from bayesmoe.inference.reparam import resolve_priors
from bayesmoe.inference.sampling import DEFAULT_SAMPLER, SamplerSettings, run_sampler
from bayesmoe.laws import observation
from bayesmoe.laws.catalogue import get_law
from bayesmoe.laws.law import Law
from bayesmoe.laws.priors import Prior
from bayesmoe.runs.table import Runs, load_runs


def law_draws(law: Law, posterior: xr.Dataset, pooled: Sequence[str], codes: Any = None) -> dict[str, Any]:
    """Each law parameter per draw; pooled ones per run where ``codes`` (group index per run) is given."""
    out: dict[str, Any] = {}
    for name in law.params:
        if name in pooled and codes is not None:
            out[name] = posterior[f"{name}_group"].isel(group=codes).drop_vars("group", errors="ignore")
        else:
            out[name] = posterior[name]
    return out


def log_mean(law: Law, runs: Runs, posterior: xr.Dataset, pooled: Sequence[str], groups: str | None) -> xr.DataArray:
    """log of the law's expected loss at every run under every draw (dims chain, draw, run)."""
    codes = xr.DataArray(runs.group_codes(groups)[0], dims="run") if groups is not None else None
    x = {k: xr.DataArray(v, dims="run") for k, v in runs.inputs(law.inputs).items()}
    with np.errstate(all="ignore"):
        mu = np.log(law.loss_fn(law_draws(law, posterior, pooled, codes), x))
    mu = xr.DataArray(mu) if not isinstance(mu, xr.DataArray) else mu
    return mu.broadcast_like(posterior["sigma"]).transpose("chain", "draw", ...)


def assemble_idata(
    raw: az.InferenceData,
    law: Law,
    runs: Runs,
    *,
    groups: str | None,
    pooled: Sequence[str],
    likelihood: str,
    posterior_predictive: bool,
    seed: int | None,
    discrepancy: str | None = None,
) -> az.InferenceData:
    """ArviZ's schema from a sampler's output (see the module docstring)."""
    post = raw.posterior
    keep = list(law.params) + [f"{p}_group" for p in pooled] + [f"{p}_tau" for p in pooled]
    keep += observation.noise_names(likelihood)
    post = post[[v for v in keep if v in post]]
    post = post.drop_vars([c for c in post.coords if c not in ("chain", "draw", "group")])
    if groups is not None:
        post = post.assign_coords(group=runs.group_codes(groups)[1])
    const = {k: ("run", np.asarray(v, float)) for k, v in runs.inputs(law.inputs).items()}
    if discrepancy is not None:  # its scale keeps its prior: the runs carry no information on it
        scale = observation.draw_scale(np.random.default_rng([0 if seed is None else seed, 1]), post["sigma"].shape)
        observation.store_scale(post, const, scale)
    run = np.arange(len(runs))
    y = xr.DataArray(np.log(runs.loss()), dims="run", coords={"run": run})
    mu = log_mean(law, runs, post, pooled, groups).assign_coords(run=run)
    noise = observation.noise_draws(post, likelihood)
    ll = observation.log_density(y, mu, noise, likelihood).transpose("chain", "draw", "run")
    if groups is not None:
        const["group_index"] = ("run", runs.group_codes(groups)[0])
    groups_out: dict[str, xr.Dataset] = {
        "posterior": post,
        "log_likelihood": xr.Dataset({observation.OBSERVED: ll}),
        "observed_data": xr.Dataset({observation.OBSERVED: y}),
        "constant_data": xr.Dataset(const, coords={"run": run}),
    }
    if "sample_stats" in raw.groups():
        groups_out["sample_stats"] = raw.sample_stats
    if posterior_predictive:
        rng = np.random.default_rng(seed)
        err = observation.draw_errors({k: v.values[..., None] for k, v in noise.items()}, likelihood, mu.shape, rng)
        groups_out["posterior_predictive"] = xr.Dataset({observation.OBSERVED: mu + err})
    with warnings.catch_warnings():
        # ArviZ 0.23 announces its 1.0 refactor on every InferenceData; the schema used here is 0.x's
        warnings.filterwarnings("ignore", message=r"(?s).*ArviZ is undergoing", category=FutureWarning)
        return az.InferenceData(**groups_out)


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

    @property
    def discrepancy(self) -> str | None:
        """The model-discrepancy term (``extrapolation``) or None; see :mod:`bayesmoe.laws.observation`."""
        has = observation.scale_draws(self.idata) is not None
        return self.settings.get("discrepancy", "extrapolation") if has else None

    def discrepancy_kwargs(self) -> dict[str, Any]:
        """The discrepancy model this fit was made with (``form``, ``growth``, ``combination``)."""
        return observation.recorded_discrepancy(self.settings)

    def extent(self) -> dict[str, float]:
        """The largest training value of compute and of each size input (where extrapolation starts)."""
        return observation.training_extent(observation.extent_inputs(self.runs.df, self.law))

    def decades_beyond(self, x: Mapping[str, Any] | pd.DataFrame) -> Any:
        """Decades of compute (or size) each point of ``x`` lies beyond the training runs (0 inside)."""
        return observation.decades_beyond(observation.extent_inputs(x, self.law), self.extent())

    @property
    def likelihood(self) -> str:
        """The observation model's likelihood (``normal`` or ``studentt``)."""
        return str(self.settings.get("likelihood", "normal"))

    def noise(self) -> dict[str, xr.DataArray]:
        """The observation model's parameters per draw (``sigma``, and ``nu`` for Student-t)."""
        return observation.noise_draws(self.idata.posterior, self.likelihood)

    def thinned(self, draws: int) -> Fit:
        """The same fit on ``draws`` evenly spaced posterior draws as one chain (posterior and
        constant data only): cheaper repeated decisions (designs, sweeps) on the same posterior."""
        post = self.idata.posterior
        total = post.sizes["chain"] * post.sizes["draw"]
        idx = np.unique(np.linspace(0, total - 1, min(int(draws), total)).round().astype(int))
        flat = post.stack(_s=("chain", "draw")).isel(_s=idx).drop_vars(["_s", "chain", "draw"])
        flat = flat.rename(_s="draw").assign_coords(draw=np.arange(len(idx))).expand_dims(chain=[0])
        groups = {"posterior": flat.transpose("chain", "draw", ...)}
        if "constant_data" in self.idata.groups():  # a fixed discrepancy scale lives there
            groups["constant_data"] = self.idata.constant_data
        kw = dict(settings=self.settings, priors=self.priors, groups=self.groups, pooled=self.pooled)
        return Fit(self.law, self.runs, az.InferenceData(**groups), **kw)

    def summary(self, prob: float = INTERVAL_PROB) -> pd.DataFrame:
        """Posterior mean, sd, highest-density interval (ArviZ's ``hdi_*`` columns) and diagnostics."""
        table = az.summary(self.idata, var_names=self.var_names, hdi_prob=prob)
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
            unused = [n for n in self.law.prior_sets if self.law.prior_set(n).items() - self.priors.items()]
            self._diagnostics = check(self.idata, self.var_names, self.settings.get("target_accept"), unused)
            self._diagnostics.messages += list(self.settings.get("identifiability", []))
        return self._diagnostics

    def save(self, path: str | os.PathLike) -> None:
        """Write the fit to one netCDF file, atomically (:func:`bayesmoe.inference.io.save_fit`)."""
        io.save_fit(self, path)

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


def fit(
    law: str | Law,
    runs: Runs | pd.DataFrame | str | os.PathLike,
    *,
    groups: str | None = None,
    pooled: Sequence[str] | None = None,
    priors: Mapping[str, str | Prior] | str | None = None,
    likelihood: str = observation.LIKELIHOOD,
    sampler: str = DEFAULT_SAMPLER,
    draws: int | None = None,
    tune: int | None = None,
    chains: int | None = None,
    seed: int | None = 0,
    target_accept: float | None = None,
    cores: int | None = None,
    progressbar: bool = True,
    posterior_predictive: bool = True,
    discrepancy: str | None = "extrapolation",
    centred: bool = False,
    warn: bool = True,
) -> Fit:
    """Fit ``law`` to ``runs`` with NUTS and check the result.

    ``groups`` names a column whose levels get their own values of the ``pooled``
    parameters (default: the law's own list, usually exponents and irreducible loss),
    partially pooled: non-centred by default (suits groups with few runs each), ``centred=True``
    when every group's own runs pin its values (e.g. one group per sweep). ``sampler`` is one
    of ``nutpie`` (default), ``pymc``, ``numpyro`` (needs ``bayesmoe[jax]``). ``draws``, ``tune`` and
    ``target_accept`` default to the law file's ``[sampling]`` hints, else 1000, 1000 and 0.9
    (0.99 with groups), with ``$BAYESMOE_DRAWS`` / ``$BAYESMOE_TUNE`` first; ``chains`` to 4
    (or ``$BAYESMOE_CHAINS``).
    ``discrepancy="extrapolation"`` (default) widens predictions beyond the training runs by
    the model-discrepancy term of :mod:`bayesmoe.laws.observation`; ``None`` takes the law
    as exact. ``priors`` overrides some of the law's priors (``{"alpha": "Uniform(0.1, 0.6)"}``),
    or names one of the law file's prior sets (``"pooled"``; see ``law.prior_sets``).
    Diagnostics are computed after sampling; problems are raised as
    :class:`SamplingWarning` with the fix to try.
    """
    law = get_law(law)
    runs = load_runs(runs)
    observation.check_likelihood(likelihood)
    observation.check_discrepancy(discrepancy)
    hints = law.spec.sampling
    if draws is None:
        draws = config.default_draws() or hints.draws or 1000
    chains = config.default_chains() if chains is None else chains
    if tune is None:
        tune = config.default_tune() or hints.tune or 1000
    if target_accept is None:
        # the law's own need, else 0.99 with groups: on chinchilla with the three Gadre corpora,
        # 0.95 left 36-60 divergences in the tail of the exponents' group scale, 0.99 left 5-7
        target_accept = hints.target_accept or (0.99 if groups else 0.9)
    if cores is None:
        cores = max(1, min(chains, os.cpu_count() or 1)) if isinstance(chains, int) else 1
    settings = SamplerSettings(sampler, draws, tune, chains, seed, target_accept, progressbar, cores)
    pri = resolve_priors(law, priors)
    check_finite_at_runs(law, runs, pri)
    model = build_model(law, runs, groups=groups, pooled=pooled, priors=pri, likelihood=likelihood, centred=centred)
    key = compiled_key(law, model, pri, likelihood)
    t0 = time.perf_counter()
    with model, warnings.catch_warnings():
        # pm.sample(nuts_sampler="numpyro") warns that idata_kwargs are ignored; the InferenceData is rebuilt below
        warnings.filterwarnings("ignore", message=".*idata_kwargs.*")
        try:
            raw = run_sampler(model, settings, cache_key=key, data=model_data(law, runs, groups))
        except (KeyboardInterrupt, BayesMoEError):
            raise
        except Exception as exc:  # sampler internals raise many kinds; say what to check
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            raise FitError(
                f"sampling {law.name!r} failed ({type(exc).__name__}: {first}); check for extreme input values "
                "or priors that put the loss at non-positive values"
            ) from None
    interrupt.check()  # a stop the sampler's compiled code swallowed
    idata = assemble_idata(
        raw,
        law,
        runs,
        groups=groups,
        pooled=model.bayesmoe_pooled,
        likelihood=likelihood,
        posterior_predictive=posterior_predictive,
        seed=seed,
        discrepancy=discrepancy,
    )
    elapsed = time.perf_counter() - t0
    median = {k: float(idata.posterior[k].median()) for k in law.params}
    ident = identifiability(law, runs, pri, point=median)
    info = settings.to_dict() | {
        "likelihood": likelihood,
        "discrepancy": discrepancy,
        "centred": model.bayesmoe_centred,
        **(observation.discrepancy_settings() if discrepancy is not None else {}),
        "wall_time_s": round(elapsed, 3),
        "identifiability": ident.messages(),
    }
    info.pop("progressbar")
    result = Fit(law, runs, idata, settings=info, priors=pri, groups=groups, pooled=model.bayesmoe_pooled)
    diag = result.diagnostics()
    if warn and not diag.ok:
        warnings.warn(f"fit of {law.name!r}: " + " ".join(diag.messages), SamplingWarning, stacklevel=2)
    return result


def load(path: str | os.PathLike) -> Fit:
    """Read a fit written by :meth:`Fit.save`, refusing truncated, corrupted or foreign files."""
    parts = io.load_fit(path)
    return Fit(
        parts["law"],
        parts["runs"],
        parts["idata"],
        settings=parts["settings"],
        priors=parts["priors"],
        groups=parts["groups"],
        pooled=parts["pooled"],
    )
