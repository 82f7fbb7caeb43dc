"""The discrepancy scale learned from a sweep's own runs."""

import warnings

import numpy as np
import pytest
from scipy import integrate, stats

import bayesmoe as bm
from bayesmoe.criticism.comparison import CompareError
from bayesmoe.criticism.discrepancy import SCALE_GRID, scale_log_likelihood, scale_posterior
from bayesmoe.laws import observation


def test_scale_log_likelihood_is_the_mixture_density_over_draws():
    rng = np.random.default_rng(0)
    log_y, log_mean = rng.normal(1, 0.1, 4), rng.normal(1, 0.1, (3, 4))
    sigma, decades = np.array([0.01, 0.02, 0.015]), np.array([0.0, 0.5, 1.0, 2.0])
    grid = np.array([0.01, 0.05])
    got = {c: scale_log_likelihood(log_y, log_mean, sigma, decades, grid, "normal", c) for c in ("add", "topup")}
    flat = scale_log_likelihood(log_y, log_mean, sigma, decades, grid, form="uniform")
    pv = log_mean.var(axis=0)
    for t, tau in enumerate(grid):
        target = tau * decades**observation.DISCREPANCY_GROWTH
        for comb, dsd in (("add", target), ("topup", np.sqrt(np.maximum(target**2 - pv, 0)))):
            sd = np.sqrt(sigma[:, None] ** 2 + dsd[None] ** 2)
            dens = stats.norm.pdf(log_y[None], log_mean, sd).mean(axis=0)
            assert got[comb][t] == pytest.approx(np.log(dens).sum(), rel=1e-10)
        # uniform, topped up: Normal noise convolved with Uniform(-a, a), a = sqrt(3) sd, by quadrature
        dens = np.zeros(4)
        for j in range(4):
            a = np.sqrt(3) * dsd[j]
            for d in range(3):
                r = log_y[j] - log_mean[d, j]
                if a == 0:
                    dens[j] += stats.norm.pdf(r, scale=sigma[d]) / 3
                else:
                    f = lambda u, r=r, s=sigma[d], a=a: stats.norm.pdf(r - u, scale=s) / (2 * a)  # noqa: E731
                    dens[j] += integrate.quad(f, -a, a)[0] / 3
        assert flat[t] == pytest.approx(np.log(dens).sum(), rel=1e-6)


def test_scale_log_likelihood_with_studentt_noise_is_its_convolution_with_the_discrepancy():
    rng = np.random.default_rng(2)
    log_y, log_mean = rng.normal(1, 0.1, 3), rng.normal(1, 0.1, (2, 3))
    sigma, nu, decades = np.array([0.01, 0.02]), np.array([2.5, 9.0]), np.array([0.0, 0.7, 2.0])
    grid = np.array([0.02, 0.06])
    got = scale_log_likelihood(log_y, log_mean, sigma, decades, grid, form="uniform", nu=nu)
    pv = log_mean.var(axis=0)
    for t, tau in enumerate(grid):
        dsd = np.sqrt(np.maximum((tau * decades**observation.DISCREPANCY_GROWTH) ** 2 - pv, 0))
        dens = np.zeros(3)
        for j in range(3):
            a = np.sqrt(3) * dsd[j]
            for d in range(2):
                r, s, v = log_y[j] - log_mean[d, j], sigma[d], nu[d]
                if a == 0:
                    dens[j] += stats.t.pdf(r, v, scale=s) / 2
                else:
                    f = lambda u, r=r, s=s, v=v, a=a: stats.t.pdf(r - u, v, scale=s) / (2 * a)  # noqa: E731
                    dens[j] += integrate.quad(f, -a, a)[0] / 2
        assert got[t] == pytest.approx(np.log(dens).sum(), rel=1e-6)
    with pytest.raises(bm.FitError, match="Normal noise only"):
        scale_log_likelihood(log_y, log_mean, sigma, decades, grid, form="normal", nu=nu)


@pytest.mark.parametrize("tau", [0.01, 0.08])
def test_scale_posterior_recovers_the_scale_of_simulated_misses(tau):
    # 400 held-out runs 0.2-2 decades beyond, misses drawn with sd tau * decades**growth
    rng = np.random.default_rng(1)
    decades = rng.uniform(0.2, 2.0, 400)
    log_mean = np.zeros((1, 400))
    sd = np.sqrt(0.005**2 + (tau * decades**observation.DISCREPANCY_GROWTH) ** 2)
    log_y = rng.normal(0, sd)
    ll = scale_log_likelihood(log_y, log_mean, np.array([0.005]), decades, SCALE_GRID, form="normal")
    p = scale_posterior(ll)
    cdf = np.cumsum(p)
    lo, hi = SCALE_GRID[np.searchsorted(cdf, 0.005)], SCALE_GRID[np.searchsorted(cdf, 0.995)]
    assert lo < tau < hi and hi / lo < 2  # the 99 % interval holds it, and is narrow


@pytest.fixture(scope="module")
def learned(chinchilla_fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = bm.learn_discrepancy(chinchilla_fit, progress=False)
    return out, caught


def test_learn_discrepancy_replaces_the_scale_and_records_the_evidence(chinchilla_fit, learned):
    fit, _ = learned
    tau = fit.idata.posterior[observation.DISCREPANCY_SCALE]
    assert tau.shape == chinchilla_fit.idata.posterior["sigma"].shape
    assert np.ptp(tau.values) > 0  # a posterior, not the fixed default
    info = fit.settings["discrepancy_scale"]
    assert info["learned"] and len(info["evidence"]) == 2
    assert info["eti_90"][0] < info["median"] < info["eti_90"][1]
    assert [e["n_train"] + e["n_scored"] for e in info["evidence"]] == [len(chinchilla_fit.runs)] * 2
    # the law's parameters are untouched
    np.testing.assert_array_equal(fit.idata.posterior["alpha"].values, chinchilla_fit.idata.posterior["alpha"].values)
    # simulated from the law itself: the law's extrapolation misses are small, so is the scale
    assert info["median"] < 0.03


def test_learn_discrepancy_survives_save_and_load(learned, tmp_path):
    fit, _ = learned
    fit.save(tmp_path / "f.nc")
    back = bm.load(tmp_path / "f.nc")
    assert back.settings["discrepancy_scale"]["median"] == fit.settings["discrepancy_scale"]["median"]
    np.testing.assert_allclose(
        back.idata.posterior[observation.DISCREPANCY_SCALE].values,
        fit.idata.posterior[observation.DISCREPANCY_SCALE].values,
    )


def test_learn_discrepancy_rejects_what_it_cannot_learn(chinchilla_runs):
    runs, _ = chinchilla_runs
    point = bm.Fit.from_params("chinchilla", bm.get_law("chinchilla").published(), runs=runs)
    with pytest.raises(CompareError, match="inner shares"):
        bm.learn_discrepancy(point, inner=(0.5, 1.2))
    kw = dict(draws=50, tune=50, chains=1, progressbar=False, warn=False)
    none = bm.fit("chinchilla", runs, discrepancy=None, **kw)
    with pytest.raises(CompareError, match="no discrepancy term"):
        bm.learn_discrepancy(none)
    t = bm.fit("chinchilla", runs, likelihood="studentt", **kw)
    t.settings["discrepancy_shape"] = "normal"  # as fits saved before the shape was recorded
    with pytest.raises(CompareError, match="likelihood='normal'"):
        bm.learn_discrepancy(t)


def test_a_floor_only_raises_the_scale(learned):
    from bayesmoe.criticism.discrepancy import with_scale_floor

    fit, _ = learned
    tau = fit.idata.posterior[observation.DISCREPANCY_SCALE].values
    floored = with_scale_floor(fit, 0.035)
    got = observation.scale_draws(floored.idata).values  # in constant_data if the floor made it constant
    np.testing.assert_array_equal(got, np.maximum(tau, 0.035))
    assert floored.settings["discrepancy_scale"]["floor"] == 0.035
    assert floored.settings["discrepancy_scale"]["median"] >= 0.035
    np.testing.assert_array_equal(fit.idata.posterior[observation.DISCREPANCY_SCALE].values, tau)  # a copy
    with pytest.raises(CompareError, match="floor must be"):
        with_scale_floor(fit, -1.0)
