"""Identifiability from the runs, and parameters held at known values (Fixed priors)."""

import warnings

import numpy as np
import pandas as pd
import pytest

import bayesmoe as bm
from bayesmoe.criticism.baseline import huber_fit
from bayesmoe.errors import FitError, PriorError
from bayesmoe.inference.identify import identifiability
from bayesmoe.laws.priors import Prior

TRUTH = {"E": 1.8, "A": 480.0, "alpha": 0.35, "B": 2000.0, "beta": 0.37}


def _runs(vary_d: bool, n: int = 40) -> bm.Runs:
    rng = np.random.default_rng(3)
    d = np.geomspace(1e9, 1e12, n)[rng.permutation(n)] if vary_d else np.full(n, 2e11)
    return bm.simulate(
        "chinchilla", pd.DataFrame({"N": np.geomspace(1e7, 1e10, n), "D": d}), TRUTH, noise=0.005, seed=4
    )


def test_constant_input_is_named_with_what_to_hold():
    check = identifiability("chinchilla", _runs(vary_d=False))
    assert not check.ok and check.constant_inputs == {"D": pytest.approx(2e11)}
    assert {"B", "beta", "E"} <= set().union(*(w.weights for w in check.weak))
    assert check.suggest_fixed == ["beta", "B"]  # exponent first, then the prefactor; E stays free
    msg = check.messages()[0]
    assert "D = 2e+11" in msg and "priors={'beta': 'Fixed(" in msg
    assert "--prior 'beta=Fixed(" in check.messages(cli=True)[0]
    import ast
    import re

    hint = ast.literal_eval(re.search(r"priors=(\{.*?\})", msg).group(1))  # valid Python, as printed
    assert list(hint) == ["beta", "B"] and all(v.startswith("Fixed(") for v in hint.values())
    assert identifiability(
        "chinchilla", _runs(vary_d=False), {"beta": Prior.parse("Fixed(0.37)"), "B": Prior.parse("Fixed(2000)")}
    ).ok
    assert identifiability("chinchilla", _runs(vary_d=True)).ok


def test_term_that_vanishes_is_flagged():
    """Zhao's m S^2 + n S is zero when no run has shared experts."""
    from bayesmoe.laws.simulation import zhao_design

    design = zhao_design(60, seed=0).assign(S=0.0)
    check = identifiability("zhao2025", bm.simulate("zhao2025", design, None, seed=1))
    assert {"m", "n"} <= set(check.suggest_fixed)


def test_fixed_prior_holds_the_value_and_reports_the_gap():
    with pytest.raises(PriorError, match="Fixed takes"):
        Prior.parse("Fixed(1, 2)")
    p = Prior.parse("Fixed(0.37)")
    assert p.sample(np.random.default_rng(0)) == 0.37 and p.contains(0.37) and not p.contains(0.38)
    runs = _runs(vary_d=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loose = bm.fit("chinchilla", runs, draws=200, tune=300, chains=2, progressbar=False)
        held = bm.fit(
            "chinchilla",
            runs,
            priors={"beta": "Fixed(0.37)", "B": "Fixed(2000)"},
            draws=200,
            tune=300,
            chains=2,
            progressbar=False,
        )
    assert any("do not identify" in m for m in loose.diagnostics().messages)
    assert not any("do not identify" in m for m in held.diagnostics().messages)
    assert np.all(held.idata.posterior["beta"].values == 0.37)
    assert "beta" not in held.var_names and "beta" not in held.diagnostics().table.index
    # with B and beta held at the truth, E is learned: the truth lies in its 90 % interval
    lo, hi = np.quantile(held.idata.posterior["E"].values, [0.05, 0.95])
    assert lo <= TRUTH["E"] <= hi
    with pytest.raises(FitError, match="cannot also vary by group"):
        bm.fit(
            "chinchilla",
            runs.df.assign(g=["a", "b"] * 20),
            groups="g",
            pooled=["beta"],
            priors={"beta": "Fixed(0.37)"},
            draws=10,
            tune=10,
        )


def test_point_fit_holds_fixed_parameters():
    pf = huber_fit("chinchilla", _runs(vary_d=True), priors={"alpha": "Fixed(0.35)"}, starts=128, bootstrap=5)
    assert pf.params["alpha"] == pytest.approx(0.35) and np.all(pf.bootstrap["alpha"] == 0.35)
    assert pf.params["beta"] == pytest.approx(TRUTH["beta"], rel=0.1)
