import warnings

import numpy as np
import pytest

import bayesmoe as bm
from bayesmoe.criticism.backtesting import BacktestError, backtest, split_runs
from bayesmoe.criticism.baseline import huber_fit
from bayesmoe.criticism.comparison import CompareError, compare
from bayesmoe.laws.simulation import generic_design

# A deliberately misspecified law: no data term at all.
NO_DATA = bm.Law.from_dict(
    {
        "name": "params_only",
        "citation": "test",
        "inputs": ["N", "D"],
        "loss": "E + A * N**(-alpha) + 0 * D",
        "params": {
            "E": {"prior": "Uniform(0.1, 5)"},
            "A": {"prior": "LogNormal(5, 3)"},
            "alpha": {"prior": "Uniform(0.02, 1.5)"},
        },
    }
)


def _fit(law, runs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bm.fit(law, runs, draws=200, tune=300, chains=2, progressbar=False, seed=5)


@pytest.fixture(scope="module")
def fits(chinchilla_runs):
    runs, _ = chinchilla_runs
    return {"chinchilla": _fit("chinchilla", runs), "params_only": _fit(NO_DATA, runs)}


def test_true_law_wins_and_misspecified_law_loses(fits):
    c = compare(fits)
    assert c.best == "chinchilla"
    assert c.table.loc["params_only", "elpd_diff"] > 4 * c.table.loc["params_only", "dse"]
    assert c.weights["chinchilla"] > 0.9
    assert "chinchilla" in repr(c) and "<table" in c._repr_html_()


def test_fits_on_different_runs_are_refused(fits, chinchilla_runs):
    runs, _ = chinchilla_runs
    other = _fit("chinchilla", runs.subset(np.arange(len(runs)) < 40))
    with pytest.raises(CompareError, match="different runs"):
        compare({"a": fits["chinchilla"], "b": other})
    with pytest.raises(CompareError, match="at least two"):
        compare({"a": fits["chinchilla"]})


def test_split_rules(chinchilla_runs):
    runs, _ = chinchilla_runs
    train, test, how = split_runs(runs, "compute:0.7")
    assert len(train) == 42 and len(test) == 18 and "compute" in how
    c = 6 * runs.df["N"] * runs.df["D"]
    assert c[: len(runs)].sort_values().iloc[41] <= (6 * test.df["N"] * test.df["D"]).min()
    train, test, _ = split_runs(runs, "N:<=1e9")
    assert (train.df["N"] <= 1e9).all() and (test.df["N"] > 1e9).all()
    for bad in ("compute", "N:1.5", "Q:0.5", "N:<=1"):
        with pytest.raises(BacktestError):
            split_runs(runs, bad)


def test_backtest_true_law_beats_misspecified_and_has_baseline(chinchilla_runs):
    runs, _ = chinchilla_runs
    bt = backtest(
        {"chinchilla": "chinchilla", "params_only": NO_DATA},
        runs,
        "compute:0.7",
        draws=200,
        tune=300,
        chains=2,
        bootstrap=30,
        starts=32,
    )
    t = bt.table
    assert t.loc["chinchilla (Bayes)", "lpd_per_run"] > t.loc["params_only (Bayes)", "lpd_per_run"]
    assert t.loc["chinchilla (Bayes)", "median_rel_error"] < t.loc["params_only (Bayes)", "median_rel_error"]
    assert t.loc["chinchilla (Bayes)", "coverage_90"] >= 0.7
    assert "chinchilla (Huber + bootstrap)" in t.index
    assert set(bt.predictions["method"]) == set(t.index)


def test_huber_baseline_recovers_truth():
    truth = {"E": 1.9, "A": 300.0, "alpha": 0.32, "B": 900.0, "beta": 0.3}
    runs = bm.simulate("chinchilla", generic_design("chinchilla", 80, seed=8), truth, noise=0.002, seed=9)
    pf = huber_fit("chinchilla", runs, starts=64, bootstrap=20)
    assert pf.params["alpha"] == pytest.approx(0.32, abs=0.03) and pf.params["beta"] == pytest.approx(0.3, abs=0.03)
    assert len(pf.bootstrap) == 20 and pf.predict_bootstrap(runs.df).shape == (20, 80)


def test_loo_refits_are_made_the_way_the_fit_was(fits):
    """A PSIS-LOO refit samples like the fit it replaces (target_accept, tuning, priors, discrepancy)."""
    import copy

    from bayesmoe.criticism.comparison import RefitWrapper

    g = copy.copy(fits["chinchilla"])
    g.settings = {**g.settings, "target_accept": 0.9}
    kw = RefitWrapper(g).fit_kwargs
    assert kw["target_accept"] == 0.9 and kw["tune"] == 300 and kw["draws"] == 200
    assert kw["discrepancy"] == g.discrepancy and kw["priors"] == g.priors and kw["seed"] == 5
    assert RefitWrapper(g, draws=50).fit_kwargs["draws"] == 50


def test_reloo_refit_agrees_with_psis_where_k_is_small(fits, monkeypatch):
    """compare(refit_flagged=True) replaces a flagged run by an exact refit through az.reloo;
    where PSIS is reliable the two agree."""
    import arviz as az
    from scipy.special import logsumexp

    from bayesmoe.criticism.comparison import RefitWrapper

    f = fits["chinchilla"]
    loo = az.loo(f.idata, pointwise=True)
    i = int(np.argmin(np.asarray(loo.pareto_k)))
    w = RefitWrapper(f)
    train, left_out = w.sel_observations(np.array([i]))
    assert len(train) == len(f.runs) - 1 and list(left_out.index) == [i]
    ll = w.log_likelihood__i(left_out, w.get_inference_data(w.sample(train))).values.ravel()
    exact = float(logsumexp(ll) - np.log(ll.size))
    assert exact == pytest.approx(float(loo.loo_i[i]), abs=0.15)

    real_loo = az.loo

    def flag_run_i(idata, **kw):  # pretend run i alone has a high Pareto k in the first fit
        out = real_loo(idata, **kw)
        if idata is f.idata:
            out.pareto_k.values[:] = 0.0
            out.pareto_k.values[i] = 1.5
        return out

    monkeypatch.setattr(az, "loo", flag_run_i)
    c = compare(fits, refit_flagged=True, max_refits=1)
    assert c.refitted == {"chinchilla": [i]} and c.pareto_k["chinchilla"][i] == 0.0
    assert not any("chinchilla" in m for m in c.messages), c.messages


def test_backtest_passes_per_law_settings_to_its_fit(chinchilla_runs, monkeypatch):
    import sys

    seen = {}

    class Stop(Exception):
        pass

    def fake_fit(law, runs, **kw):
        seen[law.name] = kw
        raise Stop

    monkeypatch.setattr(sys.modules["bayesmoe.criticism.backtesting"], "fit_law", fake_fit)
    runs, _ = chinchilla_runs
    with pytest.raises(Stop):
        backtest({"c": {"law": "chinchilla", "target_accept": 0.97}}, runs, "compute:0.7", draws=10)
    assert seen["chinchilla"]["target_accept"] == 0.97 and seen["chinchilla"]["draws"] == 10


def test_refit_cap_takes_the_least_reliable_runs_first(fits, monkeypatch):
    import arviz as az

    f = fits["chinchilla"]
    real_loo = az.loo

    def flag_two(idata, **kw):  # runs 3 (k 0.9) and 40 (k 1.5) flagged; the cap allows one refit
        out = real_loo(idata, **kw)
        if idata is f.idata:
            out.pareto_k.values[:] = 0.0
            out.pareto_k.values[3], out.pareto_k.values[40] = 0.9, 1.5
        return out

    monkeypatch.setattr(az, "loo", flag_two)
    c = compare(fits, refit_flagged=True, max_refits=1)
    assert c.refitted["chinchilla"] == [40]
    assert c.pareto_k["chinchilla"][3] == 0.9  # left flagged, and said so
    assert any(m.startswith("chinchilla") and "rows 3" in m for m in c.messages)
