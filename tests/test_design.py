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
