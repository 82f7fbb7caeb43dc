"""The compass search and the per-draw optima it gives on posteriors of thousands of draws."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import bayesmoe as bm
from bayesmoe.decisions import plan
from bayesmoe.decisions.compass import newton_offsets, zoom


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


def test_newton_offsets_solve_a_quadratic_and_refuse_what_is_not_convex():
    import itertools

    offsets = np.array([o for o in itertools.product((-1.0, 0.0, 1.0), repeat=2) if any(o)])
    a = np.array([[2.0, 0.6], [0.6, 1.0]])
    c = np.array([[0.7, -1.3], [0.2, 0.1], [5.0, 0.0]])  # the last lies beyond the cap of 2 steps

    def q(u, c):
        e = u - c
        return np.einsum("...i,ij,...j->...", e, a, e)

    f0 = np.array([q(np.zeros(2), ci) for ci in c])
    f = np.array([q(offsets, ci) for ci in c])
    none = np.zeros(f.shape, bool)
    du = newton_offsets(f0, f, offsets, clipped=none)
    np.testing.assert_allclose(du[:2], c[:2], atol=1e-12)
    np.testing.assert_allclose(du[2], [2.0, 0.0], atol=1e-12)  # same direction, 2 steps
    # concave: no step; a non-finite neighbour on one axis: a step along the other axis only
    assert np.all(newton_offsets(-f0, -f, offsets, clipped=none) == 0)
    f_bad = f.copy()
    f_bad[0, np.flatnonzero((offsets[:, 0] == 0) & (offsets[:, 1] == -1))[0]] = np.inf
    du_bad = newton_offsets(f0, f_bad, offsets, clipped=none)[0]
    assert du_bad[1] == 0 and du_bad[0] == pytest.approx(c[0, 0] + a[0, 1] / a[0, 0] * c[0, 1])
    f_bad[0] = np.inf
    assert np.all(newton_offsets(f0, f_bad, offsets, clipped=none)[0] == 0)
    # a stencil the box clipped along the second axis: a step along the first axis only, the
    # one-dimensional Newton step there (the gradient over the curvature, cross terms unknown)
    clipped = none.copy()
    clipped[:, offsets[:, 1] == 1] = True
    du = newton_offsets(f0, f, offsets, clipped=clipped)
    assert np.all(du[:, 1] == 0)
    np.testing.assert_allclose(du[:2, 0], c[:2, 0] + a[0, 1] / a[0, 0] * c[:2, 1], atol=1e-12)


def test_zoom_takes_newton_steps_on_a_smooth_objective():
    # a convex, non-quadratic objective (log-sum-exp): a warm start converges in a few rounds
    rng = np.random.default_rng(3)
    centres = rng.uniform(-1, 1, (300, 2))
    calls = []

    def f(z, rows):
        calls.append(1)
        e = z - centres[rows][:, None, :]
        return np.log(np.exp(e[..., 0] + e[..., 1]) + np.exp(-e[..., 0]) + np.exp(-e[..., 1] + 0.5 * e[..., 0]))

    lo, hi = np.array([-5.0, -5.0]), np.array([5.0, 5.0])
    z, fz = zoom(f, lo, hi, 300, start=centres + 0.3, step=np.array([0.2, 0.2]))
    # the exact minimiser, from a fine solve of the first-order conditions per row
    from scipy.optimize import minimize

    for i in range(0, 300, 50):
        r = minimize(lambda x, i=i: f(np.asarray(x)[None, None, :], [i])[0, 0], centres[i], tol=1e-12)
        np.testing.assert_allclose(z[i], r.x, atol=2e-3)
        assert fz[i] <= r.fun + 1e-6
    calls.clear()
    zoom(f, lo, hi, 300, start=centres + 0.3, step=np.array([0.2, 0.2]))
    assert len(calls) <= 16  # 13 with Newton steps (two evaluations a round); the compass alone took 21


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


def test_draws_whose_warm_start_is_invalid_are_searched_from_the_grid(monkeypatch):
    # 300 draws (> 256: warm starts); in three of them E < 0 makes the loss invalid (<= 0)
    # around everyone else's optimum, valid only towards small N or D. Every draw starts at
    # the common optimum with a small step, so those three see no valid neighbour there.
    from bayesmoe.decisions import search

    def common_start(p, sub, z_sub, coarse):
        return np.broadcast_to(np.median(z_sub, axis=0), (300, z_sub.shape[1])), np.full(z_sub.shape[1], 4e-3)

    monkeypatch.setattr(search, "predicted_start", common_start)
    law = bm.get_law("chinchilla")
    params = {k: np.full(300, v) for k, v in law.published().items()}
    params["E"][[10, 150, 290]] = -0.5
    problem = search.make_problem(law, 1e22, search.Limits(), {}, None, 0.0)
    out = search.per_draw_optima(problem, params, 300)
    assert np.all(np.isfinite(out["loss"])) and np.all(out["loss"] > 0)
    good = np.ones(300, bool)
    good[[10, 150, 290]] = False
    assert np.ptp(np.log(out["N"][good])) < 1e-3  # identical draws, one optimum
    assert np.all(np.abs(np.log(out["N"][~good] / out["N"][0])) > 0.1)  # the others moved away
    monkeypatch.setattr(search, "regrid", lambda *a, **k: None)
    with pytest.raises(search.PlanError, match="3 of 300 draws"):
        search.per_draw_optima(problem, params, 300)
