"""Mapping a decision to a transformer layout, and the plan's export of it."""

import json

import pytest

import bayesmoe as bm
from bayesmoe.decisions import plan
from bayesmoe.decisions.layouts import Layout, layout_for, layout_report
from bayesmoe.errors import PlanError


def test_layout_counts_follow_the_documented_accounting():
    lay = Layout(
        d_model=1024,
        n_layers=10,
        n_heads=8,
        head_dim=128,
        expert_width=256,
        n_experts=64,
        top_k=6,
        n_shared=2,
        context=2048,
    )
    attn, expert = 4 * 1024**2, 3 * 1024 * 256
    c = lay.counts()
    assert c["N_a"] == 10 * (attn + 8 * expert)
    assert c["N"] == c["N_a"] + 10 * (64 - 6) * expert
    assert c["M"] == 6 * c["N_a"] + 6 * 2048 * 1024 * 10


@pytest.mark.parametrize(
    "decision",
    [
        {"N_a": 2.85e9, "N": 1e11, "G": 7, "S": 0.375, "D": 5.8e11},  # Zhao: G active, S shared share
        {"N_a": 3e8, "N": 3e8 * 20, "G": 1, "S": 0.0, "D": 1e11},
        {"N": 8.97e9, "D": 1.86e11},  # dense
    ],
)
def test_layout_meets_the_decision(decision):
    lay = layout_for(decision)
    c = lay.counts()
    assert c["N_a"] == pytest.approx(decision.get("N_a", decision["N"]), rel=0.02)
    assert c["N"] == pytest.approx(decision["N"], rel=0.02)
    assert lay.d_model % lay.head_dim == 0 and lay.n_heads * lay.head_dim == lay.d_model
    assert 64 <= lay.d_model / lay.n_layers <= 256  # near the aspect ratio
    if "G" in decision:
        assert lay.n_shared == round(decision["S"] * decision["G"])
        assert lay.top_k + lay.n_shared == decision["G"]
        assert lay.n_experts > lay.top_k
    else:
        assert lay.n_experts == 0 and lay.top_k == 0


def test_layout_with_routed_experts_given_keeps_them():
    lay = layout_for({"N_a": 1e9, "E": 16, "D": 1e11})
    assert lay.n_experts == 16 and lay.top_k == 1
    assert lay.counts()["N_a"] == pytest.approx(1e9, rel=0.02)


def test_layout_rejects_impossible_decisions():
    with pytest.raises(PlanError, match="every activated expert is shared"):
        layout_for({"N_a": 1e9, "N": 1e10, "G": 4, "S": 1.0})
    with pytest.raises(PlanError, match="no activated parameter count"):
        layout_for({"N": 1e10, "E": 64, "G": 8, "D": 1e11})  # abnar2025's inputs
    with pytest.raises(PlanError, match="need 0 < N_a <= N"):
        layout_for({"N_a": 2e9, "N": 1e9})


def test_layout_report_counts_attention_the_plan_left_out():
    r = layout_report({"N_a": 2.85e9, "N": 1e11, "G": 7, "S": 0.375, "D": 5.8e11}, 1e22, 0.0)
    assert r["D_at_budget"] == pytest.approx(1e22 / r["M"])
    assert r["D_at_budget"] < 5.8e11 and "attention" in r["note"]
    assert "note" not in layout_report({"N": 8.97e9, "D": 1.86e11}, 1e22, 1e9)


def test_zhao_plan_exports_its_architecture(tmp_path):
    z = bm.Fit.from_params("zhao2025", bm.get_law("zhao2025").published())
    p = plan(z, 1e22, max_total_params=1e11)
    out = json.loads(p.export(tmp_path / "plan.json").read_text())
    arch = out["architecture"]
    assert arch["top_k"] + arch["n_shared"] == p.decision["G"]
    assert arch["N"] == pytest.approx(p.decision["N"], rel=0.02)
    assert arch["N_a"] == pytest.approx(p.decision["N_a"], rel=0.02)
    assert "layout: d=" in repr(p) and "routed experts" in repr(p)
