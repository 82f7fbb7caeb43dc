"""Which runs to train next: the design respects its spend and ranks runs by what they buy."""

import numpy as np
import pandas as pd
import pytest

from bayesmoe.decisions.next_runs import design
from bayesmoe.errors import PlanError


@pytest.fixture(scope="module")
def candidates():
    n = np.geomspace(1e8, 3e10, 8)
    rows = [{"N": x, "D": c / (6 * x)} for c in (1e19, 1e20, 1e21) for x in n]
    return pd.DataFrame(rows)


def test_design_spends_within_budget_and_sharpens_the_target(chinchilla_fit, candidates):
    d = design(chinchilla_fit, budget=1e23, candidates=candidates, spend=3e20, draws=400, simulations=32)
    assert d.current > 0 and len(d.chosen) >= 1
    assert d.chosen["C"].sum() <= 3e20 * (1 + 1e-9)
    assert np.all(np.diff(d.chosen["expected_target_after"]) <= 0)  # each run is expected to help
    assert d.expected_after < d.current
    r = d.ranking["reduction_per_1e18_flops"].to_numpy()
    assert np.all(np.diff(r) <= 1e-12)  # ranked best first
    assert d.to_dict()["spent_flops"] == pytest.approx(d.chosen["C"].sum())


def test_regret_target_and_bad_requests(chinchilla_fit, candidates):
    d = design(
        chinchilla_fit, budget=1e23, candidates=candidates, spend=3e20, target="regret", draws=300, simulations=16
    )
    assert d.current >= 0
    with pytest.raises(PlanError, match="unknown design target"):
        design(chinchilla_fit, budget=1e23, candidates=candidates, spend=1e20, target="width")
    with pytest.raises(PlanError, match="lack input"):
        design(chinchilla_fit, budget=1e23, candidates=candidates[["N"]], spend=1e20)
    with pytest.raises(PlanError, match="no candidate fits the spend"):
        design(chinchilla_fit, budget=1e23, candidates=candidates, spend=1e15)
    with pytest.raises(PlanError, match="positive"):
        design(chinchilla_fit, budget=1e23, candidates=candidates, spend=-1)


def test_design_plot_marks_the_chosen_runs_and_the_report_has_the_section(chinchilla_fit, candidates):
    import matplotlib

    matplotlib.use("Agg")
    from bayesmoe.viz import build_report, plot_design

    d = design(chinchilla_fit, budget=1e23, candidates=candidates, spend=3e20, draws=300, simulations=16)
    ax = plot_design(d, fit=chinchilla_fit)
    by_label = {c.get_label(): c.get_offsets() for c in ax.collections}
    np.testing.assert_allclose(by_label["chosen"], d.chosen[["N", "D"]].to_numpy())
    assert len(by_label["candidates"]) == len(d.ranking)
    assert [t.get_text() for t in ax.texts] == [str(i) for i in range(1, len(d.chosen) + 1)]
    assert "parameters" in ax.get_xlabel() and "tokens" in ax.get_ylabel()
    html = build_report(chinchilla_fit, design=d)
    assert "Which runs to train next" in html and html.count("<img") >= 2


def test_outcomes_follow_the_fits_observation_model(chinchilla_fit):
    """Outcomes and weights come from the fit's full predictive: Student-t noise here, and
    beyond the training runs its flat-topped discrepancy (density checked by quadrature)."""
    from scipy import integrate, stats

    from bayesmoe.decisions.next_runs import outcomes
    from bayesmoe.laws import observation

    sub = chinchilla_fit.thinned(50)
    assert sub.likelihood == "studentt" and sub.discrepancy is not None
    runs = chinchilla_fit.runs.df
    inside = runs.iloc[(runs["N"] * runs["D"]).argsort()[:2]]  # within the training extent: no discrepancy
    far = {"N": np.array([3e10]), "D": np.array([1e23 / 1.8e11])}  # ~2 decades beyond
    x = {k: np.concatenate([inside[k].to_numpy(float), far[k]]) for k in ("N", "D")}
    params = {k: sub.idata.posterior[k].values.reshape(-1) for k in ("E", "A", "alpha", "B", "beta")}
    mean = np.asarray(sub.law.loss_fn({k: v[:, None] for k, v in params.items()}, {k: v[None] for k, v in x.items()}))
    y, j, ll = outcomes(sub, x, mean, 4000, np.random.default_rng(0))
    assert y.shape == (4000, 3) and ll.shape == (4000, 50, 3) and np.all(np.isfinite(ll))
    sigma, nu = (sub.idata.posterior[k].values.reshape(-1) for k in ("sigma", "nu"))
    want = stats.t.logpdf(y[:, None, :2], nu[None, :, None], np.log(mean)[None, :, :2], sigma[None, :, None])
    np.testing.assert_allclose(ll[:, :, :2], want, rtol=1e-9)
    resid = y - np.log(mean[j])
    assert np.median(np.abs(resid[:, :2])) < 1.5 * np.median(sigma)  # noise only inside
    pv = np.log(mean[:, 2]).var()
    tau = float(observation.scale_draws(sub.idata).values.flat[0])
    decades = float(observation.decades_beyond(observation.extent_inputs(far, sub.law), sub.extent())[0])
    a = np.sqrt(3) * np.sqrt(max((tau * decades**observation.DISCREPANCY_GROWTH) ** 2 - pv, 0.0))
    assert decades > 1 and a > 5 * np.median(sigma)
    # beyond: Uniform(-a, a) plus the noise; |delta| has median a / 2
    assert np.median(np.abs(resid[:, 2])) == pytest.approx(a / 2, rel=0.15)
    for s, i in [(0, 0), (1, 7), (3, int(j[3]))]:
        r = y[s, 2] - np.log(mean[i, 2])
        dens = integrate.quad(lambda u, r=r, v=nu[i], sc=sigma[i]: stats.t.pdf(r - u, v, scale=sc), -a, a)[0] / (2 * a)
        assert ll[s, i, 2] == pytest.approx(np.log(dens), rel=1e-6)


def test_predictive_density_stays_finite_far_out():
    from bayesmoe.laws import observation

    r = np.array([0.0, 0.1, 1.0, 10.0, 100.0])
    for lik, noise in [("normal", {"sigma": 0.01}), ("studentt", {"sigma": 0.01, "nu": 200.0})]:
        for sd in (0.0, 0.05):
            lp = observation.predictive_log_density(r, noise, lik, sd, "uniform")
            assert np.all(np.isfinite(lp)) and np.all(np.diff(lp) <= 0), (lik, sd, lp)
