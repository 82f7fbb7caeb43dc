"""Plots from hand-built posteriors (no sampling), and the HTML report in a real browser."""

import itertools
import shutil
import subprocess

import arviz as az
import matplotlib
import numpy as np
import pytest
import xarray as xr

import bayesmoe as bm
from bayesmoe.criticism.comparison import compare
from bayesmoe.decisions import near_optimal_band
from bayesmoe.inference.fitting import assemble_idata
from bayesmoe.laws.simulation import generic_design, zhao_design
from bayesmoe.viz import plots
from bayesmoe.viz.report import write_report

matplotlib.use("Agg")


def hand_fit(law, truth, runs, sd=0.02, draws=100, seed=0, groups=None):
    """A Fit whose posterior is the truth with small multiplicative jitter (no sampling)."""
    law = bm.get_law(law)
    rng = np.random.default_rng(seed)
    post = {
        k: (
            ("chain", "draw"),
            v * (1 + sd * rng.standard_normal((2, draws))) if v != 0 else sd * rng.standard_normal((2, draws)),
        )
        for k, v in truth.items()
    }
    post["sigma"] = (("chain", "draw"), np.full((2, draws), 0.01) * (1 + 0.1 * rng.random((2, draws))))
    ds = xr.Dataset(post, coords={"chain": [0, 1], "draw": np.arange(draws)})
    stats = xr.Dataset(
        {
            "diverging": (("chain", "draw"), np.zeros((2, draws), bool)),
            "energy": (("chain", "draw"), rng.normal(size=(2, draws))),
        },
        coords={"chain": [0, 1], "draw": np.arange(draws)},
    )
    raw = az.InferenceData(posterior=ds, sample_stats=stats)
    kw = dict(groups=None, pooled=[], likelihood="normal", posterior_predictive=True, seed=seed)
    idata = assemble_idata(raw, law, runs, **kw)
    return bm.Fit(law, runs, idata, settings={"sampler": "hand-built", "wall_time_s": 0.0}, priors=law.priors)


TRUTH = {"E": 1.9, "A": 300.0, "alpha": 0.32, "B": 900.0, "beta": 0.3}


@pytest.fixture(scope="module")
def chin():
    runs = bm.simulate("chinchilla", generic_design("chinchilla", 40, seed=1), TRUTH, seed=2)
    return hand_fit("chinchilla", TRUTH, runs)


@pytest.fixture(scope="module")
def zhao():
    p = bm.get_law("zhao2025").published()
    runs = bm.simulate("zhao2025", zhao_design(60, seed=1), p, seed=2)
    return hand_fit("zhao2025", p, runs, sd=0.01)


def _n_artists(ax):
    return len(ax.collections) + len(ax.lines) + len(ax.images) + len(ax.patches)


def test_plot_runs_and_surface(chin):
    assert _n_artists(plots.plot_runs(chin, "N")) >= 3
    axes = plots.plot_surface(chin, "N", "D", n=20)
    assert len(axes) == 2 and all(_n_artists(a) > 0 for a in axes)


def test_plot_isoflop_fan_and_optima(chin, zhao):
    ax = plots.plot_isoflop(chin, [bm.plan(chin, 1e20), bm.plan(chin, 1e21)], n=20, n_points=20)
    assert len(ax.lines) == 2 and len(ax.collections) >= 4
    axes = plots.plot_optimum_vs_budget([bm.plan(chin, c) for c in (1e19, 1e20, 1e21)])
    assert [a.get_title() for a in axes] == ["optimal N", "optimal D", "optimal loss"]
    axes = plots.plot_optima(zhao, ["G_star", "S_star", "activation_ratio"], N=[30e9, 671e9])
    assert "G_star" in axes[0].get_title() and len(axes[2].patches) > 0


def test_plot_near_optimal(chin):
    band = near_optimal_band(chin, 1e21, {"N": np.geomspace(1e8, 1e11, 30)})
    ax = plots.plot_near_optimal(band)
    assert ax.get_ylim() == (0, 1)


def test_plot_comparison_backtest_and_diagnostics(chin):
    other = hand_fit("chinchilla", {**TRUTH, "beta": 0.2}, chin.runs, seed=1)
    c = compare({"true": chin, "wrong": other})
    ax = plots.plot_comparison(c)
    assert any("w=" in t.get_text() for t in ax.get_yticklabels())
    import pandas as pd

    from bayesmoe.criticism.backtesting import Backtest

    preds = pd.DataFrame(
        {
            "method": "m",
            "run": [0, 1],
            "observed": [2.5, 2.4],
            "median": [2.51, 2.38],
            "eti_5%": [2.4, 2.3],
            "eti_95%": [2.6, 2.5],
        }
    )
    ax = plots.plot_backtest(Backtest("N <= 1e9", 10, 2, pd.DataFrame(), preds))
    assert len(ax.collections) + len(ax.lines) >= 2
    assert np.asarray(plots.plot_diagnostics(chin)).size >= 5
    assert np.asarray(plots.plot_pair(chin, ["A", "alpha"])).size >= 1


def test_report_renders_every_figure_in_headless_chromium(zhao, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "the report test needs Debian's chromium (installed by .ci/run's test command)"
    path = write_report(zhao, tmp_path / "report.html", budget=1e21, max_total_params=1e11)
    text = path.read_text()
    n_img = text.count("<img ")
    assert n_img >= 6 and "Plan for C = 1e+21" in text and "Caveats" in text
    # the decision opens the report; the evidence (data, checks, extrapolation) follows
    assert text.index("Plan for C = 1e+21") < text.index("<h2>Data</h2>") < text.index("Extrapolation in compute")
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert f'data-figures="{n_img}"' in dom and f'data-rendered="{n_img}"' in dom, dom[-500:]


def grouped_fit(chin, shift=0.3):
    """``chin`` with two groups whose irreducible losses differ by ``shift`` nats."""
    runs = bm.Runs(chin.runs.df.assign(lab=np.where(np.arange(len(chin.runs)) % 2, "b", "a")))
    post = chin.idata.posterior
    e = post["E"]
    post = post.assign(E_group=xr.concat([e, e + shift], dim="group").transpose("chain", "draw", "group"))
    post = post.assign_coords(group=["a", "b"])
    idata = az.InferenceData(posterior=post, sample_stats=chin.idata.sample_stats)
    return bm.Fit(chin.law, runs, idata, settings=chin.settings, priors=chin.priors, groups="lab", pooled=["E"])


def test_isoflop_curves_use_the_plans_group_and_their_minimum_is_the_decision(chin):
    g = grouped_fit(chin)
    for group in ("a", "b"):
        p = bm.plan(g, 1e21, group=group)
        assert p.group == group
        ax = plots.plot_isoflop(g, [p], n=161, span=10, n_points=20)
        x, y = ax.lines[0].get_data()
        # the plotted median curve bottoms out at the plan's decision (grid step 10**(2/160))
        assert x[np.argmin(y)] == pytest.approx(p.decision["N"], rel=0.03)
        assert float(np.min(y)) == pytest.approx(float(np.median(p.decision_loss)), abs=0.01)
    with pytest.raises(ValueError, match="used group 'a'"):
        plots.plot_isoflop(g, [bm.plan(g, 1e21, group="a")], group="b")


def test_surface_ranges_stay_inside_each_inputs_bounds(zhao):
    axes = plots.plot_surface(zhao, "N_a", "G", fixed={"N": 1e10, "D": 1e11, "S": 0.25}, n=12)
    assert zhao.runs.df["G"].min() / 3 < 1.0
    assert axes[0].get_ylim()[0] >= 1.0  # G >= 1 although the runs' smallest G / 3 is below it


def test_plot_optima_says_when_a_law_has_none(chin):
    from bayesmoe.laws.catalogue import get_law

    clark = hand_fit("clark2022", get_law("clark2022").published("S-Base"), bm.datasets.clark2022())
    with pytest.raises(ValueError, match="defines no optima"):
        plots.plot_optima(clark)
    with pytest.raises(ValueError, match="no optimum"):
        plots.plot_optima(chin, ["G_star"])


def test_zhao_optima_plot_is_readable_and_the_activation_ratio_is_a_ratio(zhao):
    import matplotlib.pyplot as plt

    # below ~1e8 total parameters the stationary point of N_a/N lies above 1: the optimum is dense
    ratio = bm.optima(zhao, N=[1e6, 30e9, 671e9])["activation_ratio"]
    assert float(ratio.max()) <= 1.0 and float(ratio.sel(N=1e6).min()) == 1.0
    assert float(ratio.sel(N=30e9).max()) < 1.0
    axes = plots.plot_optima(zhao, ["G_star", "S_star", "activation_ratio"], N=[30e9, 671e9])
    fig = axes[0].figure
    fig.canvas.draw()
    boxes = [a.get_tightbbox(fig.canvas.get_renderer()) for a in axes]
    for left, right in itertools.pairwise(boxes):
        assert left.x1 <= right.x0, "neighbouring panels (titles, labels) overlap"
    # one histogram per N with its own interval in the legend
    labels = [t.get_text() for t in axes[2].get_legend().get_texts()]
    assert len(labels) == 2 and all("[" in t for t in labels)
    plt.close(fig)


def test_extrapolation_plot_draws_the_plans_losses_beyond_the_largest_run(chin):
    from bayesmoe.runs.compute import compute_of

    ladder = [bm.plan(chin, c) for c in (1e19, 1e20, 1e21)]
    ax = plots.plot_extrapolation(chin, ladder[::-1])  # any order: drawn by budget
    median = next(line for line in ax.lines if line.get_label() == "planned run (median loss)")
    np.testing.assert_allclose(median.get_xdata(), [1e19, 1e20, 1e21])
    np.testing.assert_allclose(median.get_ydata(), [float(np.median(p.decision_loss)) for p in ladder])
    edge = next(line for line in ax.lines if line.get_label() == "largest training run")
    assert edge.get_xdata()[0] == pytest.approx(float(compute_of(chin.runs.df).max()))
    assert "FLOPs" in ax.get_xlabel() and "nats" in ax.get_ylabel()


def test_isoflop_curve_of_a_law_in_total_N_bottoms_out_at_its_plan():
    """abnar2025 counts FLOPs from N_a = N G / E: the curve buys tokens the way the plan does."""
    truth = dict(a=400.0, alpha=0.34, b=410.0, beta=0.28, c=0.02, lam=0.4, d=1.0, delta=0.3, gamma=0.2, e=1.7)
    point = bm.Fit.from_params("abnar2025", truth)
    p = bm.plan(point, 1e21)
    assert p.decision["G"] < p.decision["E"]  # sparse, so N and N_a differ
    ax = plots.plot_isoflop(point, [p], n=161, span=10, n_points=1)
    x, y = ax.lines[0].get_data()
    assert x[np.argmin(y)] == pytest.approx(p.decision["N"], rel=0.03)
    assert float(np.min(y)) == pytest.approx(p.optimum["loss"].item(), rel=1e-4)
