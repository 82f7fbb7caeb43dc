import json

import pandas as pd
import pytest

import bayesmoe as bm
from bayesmoe.criticism.calibration import Calibration, calibrate, one_simulation
from bayesmoe.laws.simulation import generic_design

PRIORS = {
    "E": "Uniform(1.5, 2.5)",
    "A": "LogNormal(6.0, 0.5)",
    "alpha": "Uniform(0.2, 0.5)",
    "B": "LogNormal(7.0, 0.5)",
    "beta": "Uniform(0.2, 0.5)",
}


def test_sweep_runs_on_dask_records_and_resumes(tmp_path):
    design = generic_design("chinchilla", 30, seed=1)
    # Normal noise: Student-t noise with nu from its prior may simulate a loss that is refused (below)
    kw = dict(
        sims=3,
        out_dir=tmp_path,
        priors=PRIORS,
        draws=60,
        tune=60,
        chains=2,
        budget=1e21,
        progress=False,
        likelihood="normal",
    )
    cal = calibrate("chinchilla", design, n_workers=1, **kw)
    assert cal.counts()["ok"] == 3
    cov = cal.coverage()
    assert {"alpha", "beta", "sigma", "a_exp", "N_opt"} <= set(cov.index) and "nu" not in cov.index
    assert cov["coverage_90"].between(0, 1).all() and (cov["n"] == 3).all()
    conv = cal.convergence()
    rhats = [r["max_r_hat"] for r in cal.ok]
    assert conv["share_r_hat_over_1.01"] == pytest.approx(sum(v > 1.01 for v in rhats) / 3) and conv["median_fit_s"] > 0
    assert sorted(p.name for p in tmp_path.glob("sim_*.json")) == ["sim_0000.json", "sim_0001.json", "sim_0002.json"]
    first = (tmp_path / "sim_0000.json").read_text()
    again = calibrate("chinchilla", design, **kw)
    assert (tmp_path / "sim_0000.json").read_text() == first and again.counts()["ok"] == 3  # resumed, not rerun
    with pytest.raises(bm.BayesMoEError, match="other settings"):
        calibrate("chinchilla", design, sims=3, out_dir=tmp_path, priors=PRIORS, draws=80, tune=60, progress=False)


def test_failed_simulation_is_recorded_not_raised():
    law = bm.get_law("chinchilla")
    res = one_simulation(
        law.to_json(),
        {k: str(v) for k, v in law.priors.items()},
        pd.DataFrame({"N": [1e9]}),
        0,
        0,
        {"draws": 10, "tune": 10, "chains": 1},
    )
    assert res["status"] in ("failed", "rejected") and json.dumps(res)


def test_a_studentt_simulation_draws_nu_and_fits_it():
    """The model simulated is the model fitted: Student-t noise with nu from its prior, and nu ranked."""
    law = bm.get_law("chinchilla")
    settings = {"draws": 40, "tune": 60, "chains": 1, "likelihood": "studentt"}
    res = one_simulation(law.to_json(), PRIORS, generic_design("chinchilla", 30, seed=1), 0, 0, settings)
    assert res["status"] == "ok" and {"nu", "sigma", "alpha"} <= set(res["ranks"])
    assert 0 <= res["ranks"]["nu"] <= 40
    assert set(res["noise"]) == {"sigma", "nu"} and res["noise"]["sigma"] > 0 and res["noise"]["nu"] > 0


def _result(index, sigma, hit_alpha, hit_e=True):
    hits = {"alpha": {"0.5": False, "0.9": hit_alpha}, "E": {"0.5": True, "0.9": hit_e}}
    hits["n"] = {"0.5": True, "0.9": True}  # zhao2025 has a parameter n: it must not clash with a count
    return {
        "index": index,
        "status": "ok",
        "truth": {"alpha": 0.3, "E": 2.0},
        "noise": {"sigma": sigma},
        "ranks": {"alpha": 1, "E": 50},
        "hits": hits,
        "max_r_hat": 1.0,
        "divergences": 0,
        "seconds": 1.0,
    }


def test_coverage_by_a_true_value_bins_the_simulations():
    results = [_result(0, 0.001, False), _result(1, 0.002, True), _result(2, 0.02, True), _result(3, 0.05, False)]
    results.append({"index": 4, "status": "rejected"})  # not ok: not counted
    by = Calibration("chinchilla", results).coverage_by("sigma", [0, 0.01, 0.03, 1.0])
    assert list(by.index) == ["[0, 0.01)", "[0.01, 0.03)", "[0.03, 1)"]
    assert by.loc["[0, 0.01)", "alpha"] == 0.5 and by.loc["[0, 0.01)", "simulations"] == 2
    assert by.loc["[0.03, 1)", "alpha"] == 0.0 and by.loc["[0.01, 0.03)", "E"] == 1.0
    assert by["simulations"].sum() == 4 and (by["n"] == 1.0).all()
    at_50 = Calibration("chinchilla", results).coverage_by("alpha", [0.2, 0.5], level=0.5)  # one bin of a law parameter
    assert at_50.loc["[0.2, 0.5)", "alpha"] == 0.0 and at_50.loc["[0.2, 0.5)", "E"] == 1.0


def test_coverage_by_refuses_what_it_cannot_bin():
    old = _result(0, 0.01, True)
    del old["noise"]  # a sweep run before noise values were recorded
    with pytest.raises(bm.BayesMoEError, match=r"no true value of 'sigma'.*rerun"):
        Calibration("chinchilla", [old]).coverage_by("sigma", [0, 1])
    cal = Calibration("chinchilla", [_result(0, 0.01, True)])
    with pytest.raises(bm.BayesMoEError, match="increasing"):
        cal.coverage_by("sigma", [0.1, 0.01])
    with pytest.raises(bm.BayesMoEError, match=r"level 0\.8 was not scored"):
        cal.coverage_by("sigma", [0, 1], level=0.8)
