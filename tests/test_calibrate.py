import json

import pandas as pd
import pytest

import bayesmoe as bm
from bayesmoe.criticism.calibration import calibrate, one_simulation
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
