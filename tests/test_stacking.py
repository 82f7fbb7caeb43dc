"""A stacked predictive over laws: built from weights, accepted by predict / plan / backtest."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmoe as bm
from bayesmoe.errors import FitError


@pytest.fixture(scope="module")
def kaplan_fit(chinchilla_runs):
    runs, _ = chinchilla_runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplingWarning)
        return bm.fit("kaplan2020", runs, draws=200, tune=300, chains=2, progressbar=False, seed=2)


@pytest.fixture(scope="module")
def fits(chinchilla_fit, kaplan_fit):
    return {"chinchilla": chinchilla_fit, "kaplan2020": kaplan_fit}


def test_weights_validated(fits, chinchilla_fit, tiny_runs):
    with pytest.raises(FitError, match="at least two"):
        bm.Stacked({"chinchilla": chinchilla_fit}, pd.Series({"chinchilla": 1.0}))
    with pytest.raises(FitError, match="weights are for"):
        bm.Stacked(fits, pd.Series({"chinchilla": 1.0, "other": 0.0}))
    with pytest.raises(FitError, match="non-negative"):
        bm.Stacked(fits, pd.Series({"chinchilla": 1.5, "kaplan2020": -0.5}))
    st = bm.stack(fits, weights={"chinchilla": 3.0, "kaplan2020": 1.0})
    assert st.weights.to_dict() == pytest.approx({"chinchilla": 0.75, "kaplan2020": 0.25})
    assert sum(st.allocation().values()) == st.n_draws == 400
    assert st.allocation() == {"chinchilla": 300, "kaplan2020": 100}


def test_laws_must_share_inputs_and_runs(fits, chinchilla_fit, tiny_runs):
    clark = tiny_runs("clark2022", n=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplingWarning)
        other = bm.fit("clark2022", clark, draws=20, tune=20, chains=1, progressbar=False)
    with pytest.raises(bm.BayesMoEError, match="different runs"):
        bm.stack({"a": chinchilla_fit, "b": other}, weights={"a": 0.5, "b": 0.5})
    with pytest.raises(FitError, match="share their inputs"):
        bm.Stacked({"a": chinchilla_fit, "b": other}, pd.Series({"a": 0.5, "b": 0.5}))


def test_predict_mixes_draws_by_weight(fits, chinchilla_fit, kaplan_fit):
    grid = {"N": [1e8, 1e10], "D": [1e10, 1e12]}
    st = bm.stack(fits, weights={"chinchilla": 0.75, "kaplan2020": 0.25})
    mix = bm.predict(st, grid)
    assert mix.dims[:2] == ("chain", "draw") and mix.sizes["draw"] == 400
    assert (mix["law"].values == "kaplan2020").sum() == 100
    # each component's draws are that law's own predictions
    a = bm.predict(chinchilla_fit, grid).stack(s=("chain", "draw")).transpose("s", ...).values
    part = mix.sel(draw=mix["law"] == "chinchilla").isel(chain=0).values
    assert np.allclose(np.sort(part, axis=0), np.sort(a[np.linspace(0, 399, 300).round().astype(int)], axis=0))
    # the mixture's mean is the weighted mean of the laws' means (up to the thinning)
    b = bm.predict(kaplan_fit, grid).mean(("chain", "draw")).values
    assert np.allclose(mix.mean(("chain", "draw")).values, 0.75 * a.mean(0) + 0.25 * b, rtol=2e-3)
    rep = bm.predict(st, grid, predictive=True, seed=1)
    assert rep.attrs["kind"] == "posterior predictive" and rep.sizes["draw"] == 400
    budget = bm.uncertainty_budget(st, grid)
    total = budget["share_parameters"] + budget["share_discrepancy"] + budget["share_noise"]
    assert np.allclose(total, 1.0)
    # the spread between the laws is parameter uncertainty of the mixture: more than either law's alone
    single = bm.uncertainty_budget(chinchilla_fit, grid)["parameters"]
    far = {"N": 1e10, "D": 1e12}
    assert float(budget["parameters"].sel(far)) > float(single.sel(far))


def test_plan_on_a_one_law_mixture_equals_that_law(fits, chinchilla_fit):
    st = bm.stack(fits, weights={"chinchilla": 1.0, "kaplan2020": 0.0})
    p1, p2 = bm.plan(chinchilla_fit, 1e21), bm.plan(st, 1e21)
    assert p2.decision == pytest.approx(p1.decision, rel=1e-9)
    assert np.allclose(np.sort(p2.optimum["N"].values.ravel()), np.sort(p1.optimum["N"].values.ravel()))
    assert p2.law.startswith("stacked(")


def test_plan_pools_the_laws(fits, chinchilla_fit, kaplan_fit):
    st = bm.stack(fits, weights={"chinchilla": 0.5, "kaplan2020": 0.5})
    p = bm.plan(st, 1e21, max_tokens=1e13)
    assert set(p.optimum["law"].values) == {"chinchilla", "kaplan2020"}
    # the Bayes decision's risk is the pooled mean loss of the decision over both laws' draws
    law_loss = []
    for _, f, _, params in st.flat_params():
        law_loss.append(np.broadcast_to(f.law.loss_fn(params, {"N": p.decision["N"], "D": p.decision["D"]}), (200,)))
    assert p.decision["risk_loss"] == pytest.approx(np.mean(np.concatenate(law_loss)), rel=1e-9)
    # and it is no worse for the mixture than either law's own decision
    for f in (chinchilla_fit, kaplan_fit):
        own = bm.plan(f, 1e21, max_tokens=1e13).decision
        other = [np.mean(g.law.loss_fn(pp, {"N": own["N"], "D": own["D"]})) for _, g, _, pp in st.flat_params()]
        assert p.decision["risk_loss"] <= np.mean(other) * (1 + 1e-6)
    ds = bm.plan_sweep(st, [1e20, 1e21], max_tokens=1e13)
    assert ds.attrs["law"] == st.name
    with pytest.raises(FitError, match="one law"):
        bm.near_optimal_band(st, 1e21, {"N": [1e9]})


def test_stack_by_loo_and_in_backtest(chinchilla_runs):
    runs, _ = chinchilla_runs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", bm.SamplingWarning)
        bt = bm.backtest(
            ["chinchilla", "kaplan2020"],
            runs,
            "compute:0.7",
            baseline=False,
            stack="loo",
            draws=100,
            tune=200,
            chains=2,
            likelihood="normal",  # Student-t noise has no finite CRPS on loss
        )
    row = bt.table.loc["stacked (Bayes)"]
    assert row["weight:chinchilla"] + row["weight:kaplan2020"] == pytest.approx(1.0)
    assert 0 <= row["coverage_90"] <= 1 and np.isfinite(row["crps"])
    assert set(bt.predictions["method"]) >= {"stacked (Bayes)", "chinchilla (Bayes)"}
    with pytest.raises(bm.BayesMoEError, match="at least two laws"):
        bm.backtest(["chinchilla"], runs, "compute:0.7", baseline=False, stack="loo", draws=10)
