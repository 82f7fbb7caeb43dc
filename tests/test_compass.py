"""The compass search and the per-draw optima it gives on posteriors of thousands of draws."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import bayesmoe as bm
from bayesmoe.decisions import plan
from bayesmoe.decisions.compass import zoom


def quadratic(centres: np.ndarray):
    def f(z: np.ndarray, rows) -> np.ndarray:
        return ((z - centres[rows][:, None, :]) ** 2).sum(-1)

    return f


def test_zoom_finds_each_rows_minimum_and_respects_the_box():
    rng = np.random.default_rng(1)
    centres = rng.uniform(-3, 3, (500, 2))
    centres[:5, 1] = 9.0  # outside the box: the minimum sits on the upper bound
    lo, hi = np.array([-5.0, -5.0]), np.array([5.0, 5.0])
    z, _ = zoom(quadratic(centres), lo, hi, 500)
    np.testing.assert_allclose(z, np.clip(centres, lo, hi), atol=1e-3)
    assert np.all(z[:5, 1] == 5.0)
    # a warm start far from the answer still gets there
    z2, _ = zoom(quadratic(centres), lo, hi, 500, start=np.zeros((500, 2)), step=np.array([0.1, 0.1]))
    np.testing.assert_allclose(z2, z, atol=1e-3)


def spread_zhao(draws: int, seed: int = 0) -> bm.Fit:
    import arviz as az

    pub = bm.get_law("zhao2025").published()
    rng = np.random.default_rng(seed)
    f = bm.Fit.from_params("zhao2025", pub)
    post = f.idata.posterior.isel(chain=[0], draw=[0] * draws).assign_coords(draw=range(draws))
    for k, v in pub.items():
        post[k] = (("chain", "draw"), v * (1 + 0.02 * rng.standard_normal((1, draws))))
    f.idata = az.InferenceData(posterior=post)
    return f


def test_many_draw_plan_matches_brute_force_per_draw():
    # over 256 draws the search warm-starts from a subsample: check draws against a 1-D
    # bounded minimisation over N_a for every (G, S) pair (N sits on max_total_params)
    fit = spread_zhao(1200)
    C, n_max = 1e22, 1e11
    p = plan(fit, C, max_total_params=n_max, choices={"G": [4, 7, 12], "S": [0.125, 0.25, 0.375]})
    law = fit.law
    draws = fit.draws()
    for i in np.linspace(0, 1199, 12).astype(int):
        params = {k: float(draws[k].values.ravel()[i]) for k in draws.data_vars}
        best = (np.inf, None)
        for g in (4, 7, 12):
            for s in (0.125, 0.25, 0.375):

                def loss(z, g=g, s=s, params=params):
                    n_a = np.exp(z)
                    x = {"N": n_max, "N_a": n_a, "D": C / (6 * n_a), "G": g, "S": s}
                    return float(law.loss_fn(params, x))

                r = minimize_scalar(
                    loss, bounds=(np.log(1e7), np.log(n_max)), method="bounded", options={"xatol": 1e-7}
                )
                best = min(best, (r.fun, (g, s, np.exp(r.x))), key=lambda t: t[0])
        got = p.optimum.isel(chain=0, draw=i)
        assert float(got["loss"]) == pytest.approx(best[0], abs=1e-9)
        assert (float(got["G"]), float(got["S"])) == best[1][:2]
        assert float(got["N_a"]) == pytest.approx(best[1][2], rel=2e-3)
        assert float(got["N"]) == pytest.approx(n_max, rel=1e-9)
