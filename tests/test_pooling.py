"""Priors for a new sweep from a pooled fit: the population predictive, moment-matched."""

import json
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr

import bayesmoe as bm
from bayesmoe.errors import FitError
from bayesmoe.inference.pooling import new_group_draws, new_group_priors
from bayesmoe.laws import observation


def pooled_fit(m=-1.4, s=0.1, tau=0.3, draws=20000, priors=None):
    """A hand-built fit: log alpha_pop ~ N(m, s), group spread tau on the log scale, 3 sweeps."""
    law = bm.get_law("chinchilla")
    rng = np.random.default_rng(12345)  # not the helper's seed: independent offsets
    shape = (2, draws // 2)
    post = xr.Dataset(
        {
            "alpha": (("chain", "draw"), np.exp(m + s * rng.standard_normal(shape))),
            "alpha_tau": (("chain", "draw"), np.full(shape, tau)),
            "beta": (("chain", "draw"), np.full(shape, 0.3)),
            "E": (("chain", "draw"), np.full(shape, 1.8)),
            "alpha_group": (("chain", "draw", "group"), np.full((*shape, 3), 0.25)),
        },
        coords={"group": ["a", "b", "c"]},
    )
    runs = bm.simulate(
        "chinchilla",
        bm.laws.generic_design("chinchilla", 6, seed=1),
        {"E": 1.8, "A": 300.0, "alpha": 0.25, "B": 900.0, "beta": 0.3},
        seed=1,
    )
    return bm.Fit(
        law,
        runs,
        az.InferenceData(posterior=post),
        settings={},
        priors={**law.priors, **(priors or {})},
        groups="lab",
        pooled=["alpha"],
    )


def test_new_sweep_prior_is_the_population_predictive():
    f = pooled_fit(priors={"alpha": bm.Prior.parse("LogNormal(-1.4, 1)")})  # offsets on the log scale
    pri = new_group_priors(f)
    assert list(pri) == ["alpha"] and pri["alpha"].family == "LogNormal"
    mu, sd = pri["alpha"].args
    assert mu == pytest.approx(-1.4, abs=0.01)
    assert sd == pytest.approx(np.hypot(0.1, 0.3), abs=0.01)  # parameter + between-sweep spread
    assert bm.Prior.parse(str(pri["alpha"])) == pri["alpha"]  # usable as bm.fit(priors=...)


def test_default_keeps_the_catalogue_support():
    f = pooled_fit()
    (pri,) = new_group_priors(f).values()  # chinchilla's alpha is Uniform(0.02, 1.5): bounded
    assert pri.family == "TruncatedNormal" and pri.bounds == f.priors["alpha"].bounds
    draws = new_group_draws(f, "alpha")
    assert pri.args[0] == pytest.approx(draws.mean()) and pri.args[1] == pytest.approx(draws.std())
    with pytest.raises(FitError, match="family must be"):
        new_group_priors(f, family="Gamma")


def test_a_parameter_not_pooled_is_refused_by_name():
    with pytest.raises(FitError, match="'beta' does not vary by group"):
        new_group_draws(pooled_fit(), "beta")


def test_shipped_pooled_prior_set_is_the_benchmarks_all_sweeps_derivation():
    """models/chinchilla.toml's [prior_sets.pooled] holds what benchmarks/pooling.py derived with
    the default noise (Student-t: --likelihood studentt)."""
    result = json.loads((Path(__file__).parents[1] / "benchmarks/results/pooling_studentt.json").read_text())
    assert result["likelihood"] == observation.LIKELIHOOD
    derived = result["all_sweeps"]
    shipped = bm.get_law("chinchilla").prior_set("pooled")
    assert {k: str(v) for k, v in shipped.items()} == derived["priors"]
    assert derived["checks"]["max_r_hat"] <= 1.01  # the set comes from a fit that passed R-hat
