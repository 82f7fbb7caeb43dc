"""Model discrepancy beyond the training runs, the uncertainty budget, and the backtest's scores."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

import bayesmoe as bm
from bayesmoe.criticism.backtesting import BacktestError, split_runs
from bayesmoe.criticism.scoring import crps, interval_score, score_draws
from bayesmoe.decisions.prediction import uncertainty_budget
from bayesmoe.errors import FitError
from bayesmoe.laws import observation
from bayesmoe.laws.simulation import generic_design

TRUTH = {"E": 1.9, "A": 300.0, "alpha": 0.32, "B": 900.0, "beta": 0.3}


def point_fit(runs, scale=0.05, draws=4000):
    """The truth at every draw, with known noise and discrepancy scales (no sampling)."""
    f = bm.Fit.from_params("chinchilla", TRUTH, runs)
    post = xr.Dataset(
        {k: (("chain", "draw"), np.full((1, draws), v)) for k, v in TRUTH.items()}
        | {"sigma": (("chain", "draw"), np.full((1, draws), 0.01))}
        | {observation.DISCREPANCY_SCALE: (("chain", "draw"), np.full((1, draws), scale))},
        coords={"chain": [0], "draw": np.arange(draws)},
    )
    f.idata.posterior = post
    f.settings |= {"discrepancy": "extrapolation", **observation.discrepancy_settings()}
    return f


@pytest.fixture(scope="module")
def runs():
    return bm.simulate("chinchilla", generic_design("chinchilla", 40, seed=1), TRUTH, seed=2)


def test_discrepancy_is_zero_inside_and_grows_beyond(runs):
    f = point_fit(runs)
    ext = f.extent()
    assert ext["C"] == pytest.approx(float(bm.runs.compute_of(runs.df).max()))
    inside = {"N": [float(runs.df["N"].median())], "D": [float(runs.df["D"].median())]}
    assert (
        float(
            observation.decades_beyond(
                observation.extent_inputs({k: np.array(v) for k, v in inside.items()}, f.law), ext
            )[0]
        )
        == 0.0
    )
    far = {"N": [ext["N"] * 10], "D": [ext["D"]]}  # 10x the largest N (and ~10x the compute)
    decades = float(
        observation.decades_beyond(observation.extent_inputs({k: np.array(v) for k, v in far.items()}, f.law), ext)[0]
    )
    assert decades == pytest.approx(np.log10(10 * ext["N"] * ext["D"] * 6 / ext["C"]), rel=1e-9)
    sd_in = float(np.log(bm.predict(f, inside, predictive=True)).std())
    sd_far = float(np.log(bm.predict(f, far, predictive=True)).std())
    assert sd_in == pytest.approx(0.01, rel=0.05)  # noise only
    g = observation.DISCREPANCY_GROWTH
    assert sd_far == pytest.approx(np.hypot(0.01, 0.05 * decades**g), rel=0.05)  # noise + scale x decades^g
    f.settings["discrepancy"] = None  # the law taken as exact
    f.idata.posterior = f.idata.posterior.drop_vars(observation.DISCREPANCY_SCALE)
    assert float(np.log(bm.predict(f, far, predictive=True)).std()) == pytest.approx(0.01, rel=0.05)


def test_uncertainty_budget_splits_the_width(runs):
    f = point_fit(runs)
    ext = f.extent()
    grid = {"N": [float(runs.df["N"].median()), ext["N"] * 100], "D": [ext["D"]]}
    b = uncertainty_budget(f, grid).squeeze()
    total = b["share_parameters"] + b["share_discrepancy"] + b["share_noise"]
    np.testing.assert_allclose(total, 1.0)
    assert float(b["parameters"].max()) == pytest.approx(0.0, abs=1e-20)  # one point: no parameter spread
    assert float(b["discrepancy"].isel(N=0)) == 0.0 and float(b["share_discrepancy"].isel(N=1)) > 0.9


def test_plan_loss_includes_discrepancy_and_says_how_far(runs):
    f = point_fit(runs, scale=0.05, draws=500)
    p = bm.plan(f, 1e26)
    assert p.extrapolation["C"] > 100
    spread = float(np.log(p.decision_loss).std())
    decades = np.log10(p.extrapolation["C"])
    assert spread == pytest.approx(0.05 * decades**observation.DISCREPANCY_GROWTH, rel=0.15)


def test_interval_score_and_crps_match_their_definitions():
    y = np.array([0.0, 2.0, -3.0])
    lo, hi = np.full(3, -1.0), np.full(3, 1.0)
    # inside: width only; above by 1: width + 2/0.1 * 1; below by 2: width + 20 * 2
    np.testing.assert_allclose(interval_score(lo, hi, y, 0.9), [2.0, 22.0, 42.0])
    draws = np.random.default_rng(0).standard_normal((20000, 1))
    for point in (0.0, 1.5):
        z = point
        exact = z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi)
        assert crps(draws, np.array([point]))[0] == pytest.approx(exact, abs=0.01)


def test_split_accepts_a_boolean_mask(runs):
    mask = np.zeros(len(runs), bool)
    mask[:25] = True
    train, test, how = split_runs(runs, mask)
    assert len(train) == 25 and len(test) == len(runs) - 25 and "mask" in how
    with pytest.raises(BacktestError, match="one per run"):
        split_runs(runs, mask[:-1])
    with pytest.raises(BacktestError, match="booleans"):
        split_runs(runs, mask.astype(int))
    with pytest.raises(BacktestError, match="no runs on one side"):
        split_runs(runs, np.ones(len(runs), bool))


def test_backtest_table_has_proper_scores(runs):
    bt = bm.backtest(
        ["chinchilla"], runs, "compute:0.7", baseline=False, draws=100, chains=2, tune=200, likelihood="normal"
    )
    row = bt.table.loc["chinchilla (Bayes)"]
    for col in ("coverage_50", "coverage_90", "interval_score_90", "crps", "median_rel_error", "max_decades_beyond"):
        assert np.isfinite(row[col])
    assert {"max_r_hat", "divergences", "min_ess_bulk"} <= set(bt.table.columns)
    assert 0 < row["max_decades_beyond"] < 3


def test_studentt_backtest_reports_its_crps_as_infinite(runs):
    """exp of Student-t noise has no mean, so the CRPS on loss is infinite: the table says so
    instead of a sample estimate that grows with the draws; interval scores stay finite."""
    bt = bm.backtest(
        ["chinchilla"], runs, "compute:0.7", baseline=False, draws=100, chains=2, tune=200, likelihood="studentt"
    )
    row = bt.table.loc["chinchilla (Bayes)"]
    assert row["crps"] == np.inf
    assert np.isfinite(row["interval_score_90"]) and 0 <= row["coverage_90"] <= 1
    rng = np.random.default_rng(0)
    draws, y = rng.normal(2.0, 0.1, (400, 3)), np.array([1.9, 2.0, 2.2])
    assert np.isfinite(score_draws(draws, y)["crps"]) and score_draws(draws, y, has_mean=False)["crps"] == np.inf


def test_leave_future_out_scores_every_later_run(monkeypatch):
    """Mechanics with mocked sampling: one row per run after the first min_train (by compute),
    a refit at the start and wherever Pareto k > 0.7, finite densities."""
    from functools import partial

    import pymc as pm
    from pymc.testing import mock_sample

    runs = bm.simulate("chinchilla", generic_design("chinchilla", 14, seed=5), TRUTH, seed=6)
    monkeypatch.setattr(pm, "sample", partial(mock_sample, draws=200))
    f = bm.fit("chinchilla", runs, sampler="pymc", chains=1, progressbar=False, warn=False)
    res = bm.leave_future_out(f, min_train=10)
    compute = bm.runs.compute_of(runs.df).to_numpy()
    assert list(res.pointwise["run"]) == list(np.argsort(compute, kind="stable")[10:])
    assert res.pointwise["refitted"].iloc[0] and np.isfinite(res.pointwise["elpd"]).all()
    later = res.pointwise.iloc[1:]
    assert (later["refitted"] == (later["pareto_k"] > 0.7)).all()
    assert res.refits == int(res.pointwise["refitted"].sum())
    with pytest.raises(bm.BayesMoEError, match="min_train"):
        bm.leave_future_out(f, min_train=14)


def test_stacking_weights_favour_the_law_that_predicts_the_future():
    import pandas as pd

    from bayesmoe.criticism.future import LeaveFutureOut

    def result(elpd):
        table = pd.DataFrame({"run": np.arange(len(elpd)), "elpd": elpd})
        return LeaveFutureOut("x", table, refits=1)

    good, bad = result(np.full(20, 1.0)), result(np.full(20, -2.0))
    w = bm.stacking_weights({"good": good, "bad": bad})
    assert w["good"] > 0.95 and w.sum() == pytest.approx(1.0)
    same = bm.stacking_weights({"a": good, "b": result(np.full(20, 1.0))})
    assert same["a"] == pytest.approx(0.5, abs=0.01)
    with pytest.raises(bm.BayesMoEError, match="different runs"):
        bm.stacking_weights({"a": good, "b": result(np.full(19, 1.0))})


def test_budget_for_target_scans_when_discrepancy_caps_the_probability(runs):
    """Far beyond the runs the discrepancy widens faster than the loss falls: the search still
    finds the first budget that reaches the target, and says how close an unreachable one came."""
    f = point_fit(runs, scale=0.05, draws=400)
    c_ref = f.extent()["C"] * 10
    target = float(bm.plan(f, c_ref).decision_loss.quantile(0.95))
    r = bm.budget_for_target(f, target, probability=0.9)
    assert r["budget"] <= c_ref * 1.01 and r["probability"] >= 0.9
    with pytest.raises(bm.PlanError, match="the best is"):
        bm.budget_for_target(f, TRUTH["E"] + 0.05, probability=0.9)


@pytest.mark.parametrize("form", observation.DISCREPANCY_SHAPES)
@pytest.mark.parametrize("growth", [0.5, 1.0])
def test_discrepancy_sd_grows_as_scale_times_decades_to_the_growth(growth, form):
    rng = np.random.default_rng(3)
    decades = np.array([0.0, 0.25, 1.0, 2.0])
    delta = observation.draw_discrepancy(np.full((40000, 1), 0.04), decades[None, :], rng, growth=growth, form=form)
    np.testing.assert_allclose(delta.std(axis=0), 0.04 * decades**growth, rtol=0.03, atol=1e-12)
    if form == "uniform":  # flat-topped: bounded at sqrt(3) sd
        assert np.all(np.abs(delta) <= np.sqrt(3) * 0.04 * decades**growth + 1e-15)
    with pytest.raises(FitError, match="unknown discrepancy shape"):
        observation.draw_discrepancy(0.04, 1.0, rng, form="cauchy")


def test_combinations_add_top_up_over_parameters_or_floor_over_parameters_and_noise():
    decades, pv, nv = np.array([0.0, 0.5, 4.0]), 0.02**2, 0.03**2
    full = 0.04 * decades**0.5
    np.testing.assert_allclose(observation.discrepancy_sd(0.04, decades, 0.5, pv, "add", nv), full)
    np.testing.assert_allclose(
        observation.discrepancy_sd(0.04, decades, 0.5, pv, "topup", nv), np.sqrt(np.maximum(full**2 - pv, 0))
    )
    floor = observation.discrepancy_sd(0.04, decades, 0.5, pv, "floor", nv)
    np.testing.assert_allclose(floor, np.sqrt(np.maximum(full**2 - pv - nv, 0)))
    assert floor[1] == 0 < floor[2]  # 0.028 half a decade out is within the fit's own 0.036; 0.08 is not
    # the floor is the predictive's sd: parameters, noise and delta together reach tau * decades**0.5
    np.testing.assert_allclose(np.sqrt(pv + nv + floor[2] ** 2), full[2])
    with pytest.raises(FitError, match="unknown discrepancy combination"):
        observation.discrepancy_sd(0.04, decades, 0.5, pv, "multiply")


def test_a_run_and_a_prediction_at_its_inputs_lie_equally_far():
    """Distances count compute as the law does on both sides: a dense law fitted to the total N
    of sparse runs that carry their own C (6 N_a D) sees no extrapolation at its training runs
    (counting 6 N D for the prediction would put every one of them log10 8 decades out)."""
    n_a, d = np.geomspace(1e8, 3e9, 12), np.geomspace(2e9, 6e10, 12)
    table = pd.DataFrame({"N": 8 * n_a, "N_a": n_a, "D": d, "C": 6 * n_a * d})
    runs = bm.load_runs(table.assign(loss=bm.get_law("chinchilla").loss_fn(TRUTH, {"N": 8 * n_a, "D": d})))
    f = point_fit(runs)
    at = observation.extent_inputs({"N": table["N"].to_numpy(), "D": d}, f.law)
    assert np.all(observation.decades_beyond(at, f.extent()) == 0)
    sd = np.log(bm.predict(f, table[["N", "D"]], predictive=True)).std(("chain", "draw"))
    np.testing.assert_allclose(sd, 0.01, rtol=0.05)  # noise only at every training run
    abnar = bm.get_law("abnar2025")  # a law in total N counts its N_a formula
    x = {"N": np.array([8e9]), "D": np.array([1e10]), "E": np.array([8.0]), "G": np.array([2.0])}
    got = observation.extent_inputs(x, abnar)
    assert got["N_a"][0] == pytest.approx(2e9) and got["C"][0] == pytest.approx(6 * 2e9 * 1e10)


def test_fits_record_the_discrepancy_settings_and_predictions_use_them(chinchilla_fit):
    from bayesmoe.decisions.prediction import predictive_parts
    from bayesmoe.inference.fitting import Fit

    st = chinchilla_fit.settings
    assert st["discrepancy_shape"] == observation.DISCREPANCY_SHAPE == "uniform"
    assert st["discrepancy_combination"] == observation.DISCREPANCY_COMBINATION == "topup"
    assert st["discrepancy_growth"] == observation.DISCREPANCY_GROWTH
    top = chinchilla_fit.extent()
    far = {"N": np.array([top["N"] * 30]), "D": np.array([top["D"] * 30])}  # ~3 decades of compute beyond
    log_mean, delta, _ = predictive_parts(chinchilla_fit, far, seed=0)
    tau = float(observation.scale_draws(chinchilla_fit.idata).max())
    decades = float(observation.decades_beyond(observation.extent_inputs(far, chinchilla_fit.law), top)[0])
    pv = float(log_mean.var(("chain", "draw")).squeeze())  # one point: axes N and D of length 1
    sd = observation.discrepancy_sd(tau, decades, param_var=pv, combination="topup")
    assert 0 < sd < tau * decades**observation.DISCREPANCY_GROWTH  # topped up, not added
    assert np.abs(delta.values).max() <= np.sqrt(3) * sd * (1 + 1e-9)
    assert np.abs(delta.values).max() > 0.8 * np.sqrt(3) * sd
    # a fit saved before these settings existed keeps its normal, additive, sqrt-growth discrepancy
    old_keys = ("discrepancy_shape", "discrepancy_combination", "discrepancy_growth")
    settings = {k: v for k, v in st.items() if k not in old_keys}
    old = Fit(
        chinchilla_fit.law, chinchilla_fit.runs, chinchilla_fit.idata, settings=settings, priors=chinchilla_fit.priors
    )
    assert old.discrepancy_kwargs() == {"form": "normal", "combination": "add", "growth": 0.5}
    _, delta, _ = predictive_parts(old, far, seed=0)
    assert delta.values.std() == pytest.approx(tau * decades**0.5, rel=0.1)


def test_top_up_fills_parameter_uncertainty_to_the_discrepancy_width(chinchilla_fit):
    # the uncertainty budget's parameters + discrepancy equal parameters + the mean over draws
    # of max(0, (tau decades^g)^2 - parameters), the variance the top-up adds in each draw
    top = chinchilla_fit.extent()
    grid = pd.DataFrame(
        {"N": [top["N"] / 2, top["N"] * 3, top["N"] * 30], "D": [top["D"] / 2, top["D"] * 3, top["D"] * 30]}
    )
    b = bm.uncertainty_budget(chinchilla_fit, grid)
    tau = observation.scale_draws(chinchilla_fit.idata).values.reshape(-1, 1)
    decades = np.asarray(
        observation.decades_beyond(
            observation.extent_inputs({k: grid[k].to_numpy() for k in grid}, chinchilla_fit.law), top
        ),
        float,
    )
    param = b["parameters"].values
    want = param + np.maximum((tau * decades**observation.DISCREPANCY_GROWTH) ** 2 - param, 0).mean(axis=0)
    np.testing.assert_allclose(b["parameters"].values + b["discrepancy"].values, want, rtol=1e-9)
    assert b["discrepancy"].values[0] == 0  # inside the runs
    with pytest.raises(FitError, match="unknown discrepancy combination"):
        observation.discrepancy_sd(0.03, 1.0, param_var=0.0, combination="multiply")
