import warnings
from functools import partial

import numpy as np
import pymc as pm
import pytest
import sympy
from pymc.testing import mock_sample

import bayesmoe as bm
from bayesmoe.errors import FitError
from bayesmoe.inference.model import build_model, compiled_key
from bayesmoe.inference.reparam import level_param, shear_terms
from bayesmoe.laws import expr
from bayesmoe.laws.simulation import generic_design, reference_params, zhao_design


@pytest.mark.parametrize("name", bm.list_laws())
def test_every_catalogue_law_compiles_and_samples(name, tiny_runs):
    runs = tiny_runs(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = bm.fit(name, runs, draws=20, tune=20, chains=2, progressbar=False)
    post = f.idata.posterior
    assert post.sizes["draw"] == 20 and set(f.law.params) <= set(post.data_vars)
    assert "log_likelihood" in f.idata.groups() and f.idata.log_likelihood["log_loss"].shape == (2, 20, len(runs))
    assert np.all(np.isfinite(bm.predict(f, runs.df[f.law.inputs]).values))


def test_shear_is_applied_to_power_law_prefactors():
    assert set(shear_terms(bm.get_law("chinchilla"))) == {"A", "B"}
    assert set(shear_terms(bm.get_law("ludziejewski2025"))) == {"a", "b"}
    assert set(shear_terms(bm.get_law("abnar2025"))) == {"a", "b", "c", "d"}
    # a/(x - 6) has a scale that no parameter moves: nothing to decorrelate
    assert shear_terms(bm.get_law("wan2026_active_density")) == {}
    assert shear_terms(bm.get_law("clark2022")) == {}
    # without runs S may be zero, so only the terms positive for any S qualify ...
    assert set(shear_terms(bm.get_law("zhao2025"))) == {"a", "b", "c", "e", "f"}
    # ... at the runs' reference point the whole Zhao bracket does (n has a Normal prior)
    runs = bm.simulate("zhao2025", zhao_design(40, seed=0), None, seed=1)
    shear = shear_terms(bm.get_law("zhao2025"), runs)
    assert set(shear) == {"a", "b", "c", "e", "f", "m", "n", "k"}
    # n, signed, is sampled as its share of P's positive terms, after them: their scale cancels
    G, S, e, f, m = sympy.symbols("G S e f m")
    assert sympy.simplify(expr.to_sympy(shear["n"]) - S / (e * G + f / G + m * S**2)) == 0
    assert list(shear)[-1] == "n"


def test_reparametrisation_follows_the_priors_the_fit_uses():
    """A user's prior decides, not the law file's: a scale sqrt(c) is positive only while c's
    prior is; an irreducible loss with a prior family that cannot be shifted is sampled plainly."""
    from bayesmoe.inference.reparam import resolve_priors

    law = bm.Law.from_dict(
        {
            "name": "sqrt_scale",
            "citation": "test",
            "inputs": ["N"],
            "loss": "E + A * sqrt(c) * N**(-alpha)",
            "params": {
                "E": {"prior": "Uniform(0.1, 5)"},
                "A": {"prior": "LogNormal(5, 3)"},
                "c": {"prior": "LogNormal(0, 1)"},
                "alpha": {"prior": "Uniform(0.02, 1.5)"},
            },
        }
    )
    assert set(shear_terms(law)) == {"A"}
    assert shear_terms(law, priors=resolve_priors(law, {"c": "Normal(1, 1)"})) == {}
    assert level_param(law) == ("E", 1.0)
    assert level_param(law, resolve_priors(law, {"E": "HalfNormal(2)"})) is None


def test_compiled_model_key_holds_what_the_graph_holds(chinchilla_runs, monkeypatch):
    """Another noise prior is another graph: a compiled model must not be reused across it."""
    from bayesmoe.inference.reparam import resolve_priors
    from bayesmoe.laws import observation
    from bayesmoe.laws.priors import Prior

    runs = chinchilla_runs[0]
    law = bm.get_law("chinchilla")
    pri = resolve_priors(law, None)
    model = build_model(law, runs, priors=pri, likelihood="studentt")
    key = compiled_key(law, model, pri, "studentt")
    fewer = build_model(law, bm.load_runs(runs.df.iloc[:12]), priors=pri, likelihood="studentt")
    assert compiled_key(law, fewer, pri, "studentt") == key  # the runs are data, not graph
    assert compiled_key(law, model, pri, "normal") != key
    narrower = resolve_priors(law, {"alpha": "Uniform(0.1, 0.6)"})
    assert compiled_key(law, model, narrower, "studentt") != key
    monkeypatch.setattr(observation, "NU_PRIOR", Prior("Gamma", (2.0, 0.2)))
    assert compiled_key(law, model, pri, "studentt") != key


def test_level_param_is_the_additive_term():
    assert level_param(bm.get_law("chinchilla")) == ("E", 1.0)
    assert level_param(bm.get_law("zhao2025")) == ("eps", 1.0)
    assert level_param(bm.get_law("clark2022")) is None  # 10**(... + d): not additive


def test_reparametrised_priors_are_unchanged():
    """Prior draws through every sampled coordinate (shifted log, rescaled normal, shifted
    logit of a uniform level, shifted logistic of a log-uniform) match the declared priors."""
    from scipy import stats

    runs = bm.simulate("zhao2025", zhao_design(40, seed=0), None, seed=1)
    model = build_model(bm.get_law("zhao2025"), runs, priors={"a": "LogUniform(1.0, 1000.0)"})
    names = ["eps", "n", "e", "a"]
    with model:
        prior = pm.sample_prior_predictive(4000, random_seed=1, var_names=names).prior
    draw = {k: prior[k].values.ravel() for k in names}
    assert stats.kstest(draw["eps"], stats.uniform(0.1, 4.9).cdf).pvalue > 0.001
    assert stats.kstest(draw["n"], stats.norm(0.0, 5.0).cdf).pvalue > 0.001
    assert abs(np.corrcoef(draw["n"], np.log(draw["e"]))[0, 1]) < 0.1  # n's share of P keeps n independent of e
    assert stats.kstest(np.log(draw["e"]), stats.norm(-1.0, 2.0).cdf).pvalue > 0.001
    assert stats.kstest(np.log(draw["a"]), stats.uniform(0.0, np.log(1000.0)).cdf).pvalue > 0.001
    assert {"eps_level", "n_ref", "log_e_ref", "log_a_ref"} <= {v.name for v in model.free_RVs}
    # a plain Normal prior is sampled standardised (chains start within a prior sd of its centre)
    model = build_model(bm.get_law("ludziejewski2025"), bm.simulate("ludziejewski2025", _routing_like(), None, seed=2))
    with model:
        prior = pm.sample_prior_predictive(4000, random_seed=1, var_names=["gamma"]).prior
    assert stats.kstest(prior["gamma"].values.ravel(), stats.norm(0.0, 0.05).cdf).pvalue > 0.001
    assert "gamma_std" in {v.name for v in model.free_RVs}


def _routing_like():
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "N_a": np.geomspace(1e7, 1e9, 30),
            "D": np.geomspace(1e9, 1e11, 30)[rng.permutation(30)],
            "E": rng.choice([1.0, 8.0, 64.0], 30),
        }
    )


def test_shear_keeps_the_prior_of_the_prefactor(chinchilla_runs):
    """Prior draws of A through the sheared variable match LogNormal(5, 3) on A."""
    runs, _ = chinchilla_runs
    model = build_model(bm.get_law("chinchilla"), runs)
    with model:
        prior = pm.sample_prior_predictive(4000, random_seed=1, var_names=["A"]).prior
    logA = np.log(prior["A"].values.ravel())
    assert abs(logA.mean() - 5.0) < 0.15 and abs(logA.std() - 3.0) < 0.15


def test_recovers_known_parameters(chinchilla_fit, chinchilla_runs):
    _, truth = chinchilla_runs
    summary = chinchilla_fit.summary(prob=0.95)
    for name in ("alpha", "beta", "E"):
        assert summary.loc[name, "hdi_2.5%"] <= truth[name] <= summary.loc[name, "hdi_97.5%"], name
    assert chinchilla_fit.settings["sampler"] == "nutpie"
    assert chinchilla_fit.diagnostics().divergences < 10


def test_groups_get_partially_pooled_parameters(monkeypatch):
    rng_design = bm.laws.generic_design("chinchilla", 45, seed=2)
    rng_design["lab"] = np.repeat(["a", "b", "c"], 15)
    truth = {"E": 1.8, "A": 300.0, "alpha": {"a": 0.25, "b": 0.3, "c": 0.35}, "B": 900.0, "beta": 0.3}
    runs = bm.simulate("chinchilla", rng_design, truth, group="lab", seed=3)
    monkeypatch.setattr(pm, "sample", partial(mock_sample, draws=50))
    f = bm.fit("chinchilla", runs, groups="lab", pooled=["alpha"], progressbar=False, warn=False, sampler="pymc")
    post = f.idata.posterior
    assert post["alpha_group"].dims == ("chain", "draw", "group")
    assert f.group_levels == ["a", "b", "c"] and f.pooled == ["alpha"]
    assert f.draws("b")["alpha"].dims == ("chain", "draw")
    with pytest.raises(FitError, match="unknown group"):
        f.draws("z")
    # ArviZ's schema: group parameters and scales in the posterior, sampler internals not
    assert {"alpha_group", "alpha_tau"} <= set(post.data_vars)
    assert not any(v.endswith(("_z", "_ref", "_std", "_level")) for v in post.data_vars)
    np.testing.assert_array_equal(f.idata.constant_data["group_index"], np.repeat([0, 1, 2], 15))


def test_law_file_sampler_hints_apply_unless_the_call_overrides(monkeypatch, chinchilla_runs):
    # chinchilla.toml asks for target_accept 0.99 (small sweeps' E-A-alpha ridge); a law without
    # hints gets the generic 0.9; an explicit argument always wins
    runs, _ = chinchilla_runs
    monkeypatch.setattr(pm, "sample", partial(mock_sample, draws=40))
    assert bm.get_law("chinchilla").spec.sampling.target_accept == 0.99
    assert bm.get_law("kaplan2020").spec.sampling.target_accept is None
    kw = {"progressbar": False, "sampler": "pymc", "warn": False}
    assert bm.fit("chinchilla", runs, **kw).settings["target_accept"] == 0.99
    assert bm.fit("kaplan2020", runs, **kw).settings["target_accept"] == 0.9
    assert bm.fit("chinchilla", runs, target_accept=0.95, **kw).settings["target_accept"] == 0.95


def test_mocked_fit_reports_missing_sampler_statistics(monkeypatch, chinchilla_runs):
    runs, _ = chinchilla_runs
    monkeypatch.setattr(pm, "sample", partial(mock_sample, draws=40))
    with pytest.warns(bm.SamplingWarning, match="No sampler statistics"):
        f = bm.fit("chinchilla", runs, progressbar=False, sampler="pymc")
    assert not f.diagnostics().ok


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sampler": "metropolis"}, "unknown sampler 'metropolis'"),
        ({"draws": 0}, "draws must be an integer >= 1"),
        ({"likelihood": "cauchy"}, "unknown likelihood"),
        ({"groups": "nope"}, "group column 'nope'"),
        ({"pooled": ["alpha"]}, "need a group column"),
        ({"priors": {"zeta": "Normal(0, 1)"}}, "not a parameter"),
        ({"priors": {"alpha": "Normal(0)"}}, "takes"),
        ({"target_accept": 1.5}, "target_accept"),
    ],
)
def test_bad_fit_requests_are_refused(kwargs, message, chinchilla_runs):
    runs, _ = chinchilla_runs
    with pytest.raises(bm.BayesMoEError, match=message):
        bm.fit("chinchilla", runs, **kwargs)


def test_diagnostics_flag_divergences_and_rhat(chinchilla_fit):
    import copy

    from bayesmoe.inference.diagnostics import check

    idata = copy.deepcopy(chinchilla_fit.idata)
    idata.sample_stats["diverging"][0, :5] = True
    idata.posterior["alpha"][0] = idata.posterior["alpha"][0] + 1.0  # chains disagree
    d = check(idata, ["alpha", "beta"])
    assert d.divergences == 5 and not d.ok
    text = str(d)
    assert "5 divergences" in text and "target_accept" in text and "R-hat" in text and "alpha" in text
    assert "from 0.99 to 0.995" in str(check(idata, ["alpha"], target_accept=0.99))  # above what it ran with


def test_disagreeing_chains_name_the_laws_unused_prior_sets(chinchilla_fit):
    import copy

    idata = copy.deepcopy(chinchilla_fit.idata)
    idata.posterior["E"][0] = idata.posterior["E"][0] + 0.5  # chains disagree
    kw = {"settings": chinchilla_fit.settings, "pooled": chinchilla_fit.pooled}
    default = bm.Fit(chinchilla_fit.law, chinchilla_fit.runs, idata, priors=chinchilla_fit.priors, **kw)
    assert "priors='pooled'" in str(default.diagnostics())
    with_set = dict(chinchilla_fit.priors) | chinchilla_fit.law.prior_set("pooled")
    pooled = bm.Fit(chinchilla_fit.law, chinchilla_fit.runs, idata, priors=with_set, **kw)
    assert "R-hat" in str(pooled.diagnostics()) and "priors=" not in str(pooled.diagnostics())  # it has them


def test_inference_data_follows_arviz_schema(chinchilla_fit):
    """posterior holds the law's and the noise's parameters only; ArviZ's own checks run on it."""
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    idata = chinchilla_fit.idata
    law_and_noise = {"E", "A", "alpha", "B", "beta", "sigma", "nu"}  # Student-t noise by default
    assert set(idata.posterior.data_vars) == law_and_noise
    for group in ("posterior", "posterior_predictive", "log_likelihood", "observed_data", "constant_data"):
        assert group in idata.groups()
    n = len(chinchilla_fit.runs)
    # the default discrepancy scale is fixed: a model constant, not a sampled parameter
    assert set(idata.constant_data.data_vars) == {"N", "D", "discrepancy_scale"}
    assert idata.constant_data["N"].shape == (n,) and idata.constant_data["discrepancy_scale"].shape == ()
    np.testing.assert_allclose(idata.observed_data["log_loss"], np.log(chinchilla_fit.runs.loss()))
    assert idata.posterior_predictive["log_loss"].shape == idata.log_likelihood["log_loss"].shape
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no zero-variance variable for R-hat / ESS
        table = az.summary(idata)
    assert table.shape[0] == len(law_and_noise) and np.isfinite(table["r_hat"]).all()
    assert set(chinchilla_fit.summary().index) == law_and_noise
    assert np.isfinite(az.loo(idata).elpd_loo)
    pit = az.loo_pit(idata, y="log_loss")
    assert pit.shape == (n,) and np.all((pit >= 0) & (pit <= 1))
    assert az.plot_ppc(idata, num_pp_samples=20) is not None


def test_student_t_fit_draws_student_t_noise():
    """A Student-t fit's predictive draws have the heavy tails of its nu, not Normal ones."""
    import xarray as xr

    from bayesmoe.laws import observation

    rng = np.random.default_rng(0)
    noise = {k: xr.DataArray(np.full((1, 4000), v), dims=("chain", "draw")) for k, v in (("sigma", 0.01), ("nu", 2.5))}
    mean = xr.DataArray(np.full((1, 4000, 50), 2.0), dims=("chain", "draw", "config"))
    draws_t = np.log(observation.draw_loss(mean, noise, "studentt", rng) / 2.0).values.ravel()
    draws_n = np.log(observation.draw_loss(mean, {"sigma": noise["sigma"]}, "normal", rng) / 2.0).values.ravel()
    # beyond 5 sigma: Student-t(2.5) puts ~1.2 % there, a Normal ~6e-7
    assert np.mean(np.abs(draws_t) > 0.05) > 0.005 and np.mean(np.abs(draws_n) > 0.05) < 1e-4
    t_fit = bm.Fit.from_params("chinchilla", {"E": 1.9, "A": 300.0, "alpha": 0.32, "B": 900.0, "beta": 0.3})
    t_fit.idata.posterior["sigma"] = noise["sigma"].isel(draw=[0])
    t_fit.idata.posterior["nu"] = noise["nu"].isel(draw=[0])
    t_fit.settings["likelihood"] = "studentt"
    grid = {"N": np.geomspace(1e9, 1.0001e9, 20000), "D": [2e10]}
    z = np.log(bm.predict(t_fit, grid, predictive=True) / bm.predict(t_fit, grid)).values.ravel() / 0.01
    assert np.mean(np.abs(z) > 5) > 0.005  # Normal noise would put ~6e-7 there


def test_draws_default_from_environment(chinchilla_runs, monkeypatch):
    monkeypatch.setenv("BAYESMOE_DRAWS", "15")
    monkeypatch.setenv("BAYESMOE_CHAINS", "1")
    monkeypatch.setenv("BAYESMOE_TUNE", "20")
    runs, _ = chinchilla_runs
    f = bm.fit("chinchilla", runs, progressbar=False, warn=False)
    assert f.idata.posterior.sizes["chain"] == 1 and f.idata.posterior.sizes["draw"] == 15
    assert f.settings["tune"] == 20
    monkeypatch.setenv("BAYESMOE_DRAWS", "many")
    with pytest.raises(ValueError, match="BAYESMOE_DRAWS"):
        bm.fit("chinchilla", runs, progressbar=False)


def test_a_laws_draws_hint_comes_after_the_environment(chinchilla_runs, monkeypatch):
    runs, _ = chinchilla_runs
    spec = bm.get_law("chinchilla").to_dict()
    law = bm.Law.from_dict(spec | {"name": "hinted", "sampling": spec["sampling"] | {"draws": 120, "tune": 100}})
    monkeypatch.delenv("BAYESMOE_DRAWS", raising=False)
    monkeypatch.delenv("BAYESMOE_TUNE", raising=False)
    f = bm.fit(law, runs, chains=1, progressbar=False, warn=False)
    assert f.idata.posterior.sizes["draw"] == 120 and f.settings["tune"] == 100
    monkeypatch.setenv("BAYESMOE_DRAWS", "15")
    assert bm.fit(law, runs, chains=1, progressbar=False, warn=False).idata.posterior.sizes["draw"] == 15
    assert bm.fit(law, runs, chains=1, draws=20, progressbar=False, warn=False).idata.posterior.sizes["draw"] == 20


def test_compiled_model_serves_runs_of_any_number_exactly(monkeypatch):
    """A refit on other runs (another number of them, another reference point) reuses the compiled
    model and draws exactly what a fresh compilation draws."""
    from bayesmoe.inference import sampling

    law = "chinchilla"
    first, other = (bm.simulate(law, generic_design(law, n, seed=n), reference_params(law), seed=n) for n in (30, 41))
    assert first.reference(["N"]) != other.reference(["N"])
    compiles = []
    compile_model = sampling.compile_model
    monkeypatch.setattr(sampling, "compile_model", lambda *a, **k: compiles.append(1) or compile_model(*a, **k))
    monkeypatch.setattr(sampling, "_COMPILED", {})
    kw = dict(draws=60, tune=60, chains=2, progressbar=False, seed=5)
    bm.fit(law, first, **kw)
    reused = bm.fit(law, other, **kw)
    assert len(compiles) == 1, "the refit compiled the model again"
    sampling._COMPILED.clear()
    fresh = bm.fit(law, other, **kw)
    assert len(compiles) == 2
    for name in bm.get_law(law).params:
        np.testing.assert_array_equal(reused.idata.posterior[name].values, fresh.idata.posterior[name].values)


def test_centred_pooling_recovers_group_values_and_is_remembered(tmp_path):
    """Groups whose own runs pin their values: the centred form recovers each group's exponent,
    keeps the ArviZ schema, and saved fits and refits keep the parametrisation."""
    from bayesmoe.criticism.comparison import refit_kwargs

    design = bm.laws.generic_design("chinchilla", 60, seed=2)
    design["lab"] = np.repeat(["a", "b", "c"], 20)
    truth = {"E": 1.8, "A": 300.0, "alpha": {"a": 0.25, "b": 0.3, "c": 0.35}, "B": 900.0, "beta": 0.3}
    runs = bm.simulate("chinchilla", design, truth, group="lab", seed=3)
    f = bm.fit(
        "chinchilla", runs, groups="lab", pooled=["alpha"], centred=True, draws=300, tune=500, chains=2,
        progressbar=False, warn=False, seed=1,
    )  # fmt: skip
    post = f.idata.posterior
    assert f.settings["centred"] is True and refit_kwargs(f, 0)["centred"] is True
    assert not any(v.endswith(("_z", "_free")) for v in post.data_vars)
    for level, value in truth["alpha"].items():
        lo, hi = np.quantile(post["alpha_group"].sel(group=level), [0.025, 0.975])
        assert lo <= value <= hi, (level, lo, hi)
    f.save(tmp_path / "c.nc")
    assert bm.load(tmp_path / "c.nc").settings["centred"] is True
    plain = bm.fit(
        "chinchilla", runs, groups="lab", pooled=["alpha"], draws=20, tune=20, chains=1, progressbar=False, warn=False
    )
    assert plain.settings["centred"] is False
    with pytest.raises(FitError, match="centred pooling need a group column"):
        bm.fit("chinchilla", runs, centred=True, progressbar=False)
