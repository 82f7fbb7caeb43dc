"""Which runs to train next: the design's choice against the next iso-FLOP rung and random runs.

From a simulated truth - the Chinchilla form with Besiroglu et al. 2024's coefficients
(``--law chinchilla``), or zhao2025 with its published values (``--law zhao2025``) - each
repetition starts from a 15-run ladder at 1e18-1e19 FLOPs (three iso-FLOP budgets, five sizes
around the 20-tokens-per-parameter guess; for zhao2025 each run also gets its own expansion
N/N_a, activated experts G and shared share S, cycling through five settings), fits it, and
spends the same FLOPs three ways:

(a) ``bm.design``: candidates chosen greedily by expected reduction per FLOP of the 90 % interval
    width of log N* at the target budget (preposterior importance reweighting);
(b) the next iso-FLOP rung: five runs at the next budget, centred on the current Bayes
    decision there, at x1/4 ... x4 - what a scaling study does by habit (for zhao2025 at the
    decision's G and S, and N/N_a = 16);
(c) random candidates from the same grid as (a), added until the spend is used;
and (a) again with half the spend, for the goal's other form (the rung's width at half its FLOPs).

Each choice is simulated from the truth (same noise), the law is refitted on ladder + new runs,
and the benchmark reports the width of the 90 % interval of log N*(target) (log N_a* for
zhao2025, whose N sits on its max_total_params limit) and the regret of the Bayes decision at
the target (true loss of the decision above the true optimum), with how well the design's
predicted width matched the realised one.

Run: python benchmarks/design.py [--law chinchilla|zhao2025] [--reps 20] [--draws 500] [--likelihood normal]
Writes benchmarks/results/design.json (chinchilla) or design_zhao2025.json (summary), with
``_studentt`` before ``.json`` for Student-t fits (the library's default noise);
per-repetition rows are cached in the ignored benchmarks/cache/design/.
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import bayesmoe as bm
from bayesmoe.files import atomic_path
from bayesmoe.laws.observation import LIKELIHOOD, LIKELIHOODS

TARGET = 1e23  # the budget the decision is for
LADDER = (1e18, 3e18, 1e19)
RUNG = 1e20  # the next rung of the ladder by habit (x10)
SPEND = 5 * RUNG  # every strategy spends the same FLOPs: one five-run rung
GRID_BUDGETS = (3e19, 1e20, 3e20)
NOISE = 0.01  # sd of log loss, run to run
CACHE = Path(__file__).parent / "cache" / "design"
RESULTS = Path(__file__).parent / "results"
# zhao2025: (N_a multiplier, N/N_a, G, S) cycled through the ladder; the candidates' MoE settings
ZHAO_LADDER = [(0.25, 16, 1, 0.0), (0.5, 4, 4, 0.25), (1, 8, 8, 0.5), (2, 16, 2, 0.125), (4, 4, 16, 0.375)]
ZHAO_SETTINGS = [(4, 2, 0.0), (32, 2, 0.0), (4, 8, 0.25), (32, 8, 0.25), (4, 16, 0.5), (32, 16, 0.5)]
ZHAO_LIMITS = {"max_total_params": 1e12}  # zhao2025 rewards total parameters at no compute cost


@dataclass(frozen=True)
class Arm:
    law: str
    size: str  # the size whose optimum's interval is scored
    plan_kwargs: dict

    @property
    def inputs(self) -> list[str]:
        return bm.get_law(self.law).inputs


ARMS = {"chinchilla": Arm("chinchilla", "N", {}), "zhao2025": Arm("zhao2025", "N_a", ZHAO_LIMITS)}


def guess_n(c: float) -> float:
    """N at 20 tokens per parameter (C = 6 N D): the habitual centre of a ladder."""
    return float(np.sqrt(c / 120.0))


def run(arm: Arm, c: float, size: float, expansion: float = 1.0, g: float = 8, s: float = 0.25) -> dict:
    """One run of ``c`` FLOPs with ``size`` parameters setting its FLOPs (N, or N_a for MoE)."""
    if arm.law == "chinchilla":
        return {"N": size, "D": c / (6 * size)}
    return {"N_a": size, "N": size * expansion, "D": c / (6 * size), "G": g, "S": s}


def ladder(arm: Arm) -> pd.DataFrame:
    if arm.law == "chinchilla":
        return pd.DataFrame([run(arm, c, guess_n(c) * f) for c in LADDER for f in np.geomspace(0.25, 4, 5)])
    rows = []
    for i, c in enumerate(LADDER):
        for j in range(5):
            m, e, g, s = ZHAO_LADDER[(j + 2 * i) % 5]
            rows.append(run(arm, c, guess_n(c) * m, e, g, s))
    return pd.DataFrame(rows)


def candidates(arm: Arm) -> pd.DataFrame:
    if arm.law == "chinchilla":
        return pd.DataFrame([run(arm, c, guess_n(c) * f) for c in GRID_BUDGETS for f in np.geomspace(1 / 8, 8, 7)])
    return pd.DataFrame(
        [
            run(arm, c, guess_n(c) * f, e, g, s)
            for c in GRID_BUDGETS
            for f in (1 / 8, 1 / 2, 2, 8)
            for e, g, s in ZHAO_SETTINGS
        ]
    )


def rung(arm: Arm, f0: bm.Fit) -> pd.DataFrame:
    """Five runs at the next budget around today's decision there, x1/4 ... x4."""
    dec = bm.plan(f0, RUNG, **arm.plan_kwargs).decision
    centre = dec[arm.size]
    return pd.DataFrame(
        [run(arm, RUNG, centre * k, 16, dec.get("G", 8), dec.get("S", 0.25)) for k in np.geomspace(0.25, 4, 5)]
    )


def flops(rows: pd.DataFrame, arm: Arm) -> pd.Series:
    return 6 * rows[arm.size] * rows["D"]


def fit(arm: Arm, runs: bm.Runs, draws: int, seed: int, likelihood: str) -> bm.Fit:
    return bm.fit(
        arm.law,
        runs,
        draws=draws,
        tune=draws,
        target_accept=0.99,
        progressbar=False,
        seed=seed,
        likelihood=likelihood,
    )


def scores(arm: Arm, f: bm.Fit, truth_plan: bm.Plan, truth: dict) -> dict:
    """Width of the 90 % interval of log size*(TARGET), and the true regret of the Bayes decision."""
    p = bm.plan(f, TARGET, **arm.plan_kwargs)
    logn = np.log(p.optimum[arm.size].values.ravel())
    lo, hi = np.quantile(logn, [0.05, 0.95])
    law = bm.get_law(arm.law)
    true_loss = float(law.loss_fn(truth, {k: p.decision[k] for k in arm.inputs}))
    regret = true_loss - float(truth_plan.decision_loss.values.ravel()[0])
    diag = f.diagnostics()
    return {
        "width": float(hi - lo),
        "regret": regret,
        "n_star_median": float(np.exp(np.median(logn))),
        "r_hat": diag.max_r_hat,
        "divergences": diag.divergences,
    }


def simulate(arm: Arm, rows: pd.DataFrame, truth: dict, seed: int) -> pd.DataFrame:
    return bm.simulate(arm.law, rows[arm.inputs], truth, noise=NOISE, seed=seed).df


def one_rep(arm: Arm, rep: int, draws: int, truth: dict, truth_plan: bm.Plan, likelihood: str) -> dict:
    tag = ("" if arm.law == "chinchilla" else f"{arm.law}-") + ("" if likelihood == "normal" else f"{likelihood}-")
    path = CACHE / f"{tag}rep{rep}-{draws}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    rng = np.random.default_rng(rep)
    base = simulate(arm, ladder(arm), truth, seed=1000 + rep)
    f0 = fit(arm, bm.load_runs(base), draws, seed=rep, likelihood=likelihood)
    out: dict = {"rep": rep, "before": scores(arm, f0, truth_plan, truth)}
    cand = candidates(arm)

    t = time.time()
    d = bm.design(f0, budget=TARGET, candidates=cand, spend=SPEND, seed=rep, **arm.plan_kwargs)
    design_s = time.time() - t
    half = bm.design(f0, budget=TARGET, candidates=cand, spend=SPEND / 2, seed=rep, **arm.plan_kwargs)
    # random candidates until the spend is used
    left, picks = SPEND, []
    cost = flops(cand, arm)
    for i in rng.permutation(len(cand)):
        if cost.iloc[i] <= left:
            picks.append(i)
            left -= cost.iloc[i]
    random = cand.iloc[picks]
    chosen = (("design", d.chosen[arm.inputs]), ("design_half_spend", half.chosen[arm.inputs]))
    for name, rows in (*chosen, ("next_rung", rung(arm, f0)), ("random", random)):
        if rows.empty:
            out[name] = {**out["before"], "runs": 0, "flops": 0.0}
            continue
        new = simulate(arm, rows.reset_index(drop=True), truth, seed=2000 + rep)
        f = fit(arm, bm.load_runs(pd.concat([base, new], ignore_index=True)), draws, seed=rep, likelihood=likelihood)
        out[name] = {
            **scores(arm, f, truth_plan, truth),
            "runs": len(rows),
            "flops": float(flops(rows, arm).sum()),
        }
    out["design"]["predicted_width"] = d.expected_after
    out["design"]["seconds"] = design_s
    CACHE.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(pickle.dumps(out))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--law", choices=sorted(ARMS), default="chinchilla", help="the simulated truth's law")
    ap.add_argument("--reps", type=int, default=20, help="repetitions (ladder noise and outcomes re-drawn)")
    ap.add_argument("--draws", type=int, default=500, help="posterior draws (and tuning steps) per chain")
    ap.add_argument("--likelihood", choices=LIKELIHOODS, default=LIKELIHOOD, help="run-to-run noise the fits assume")
    args = ap.parse_args()
    t0 = time.time()
    arm = ARMS[args.law]
    truth = bm.get_law(arm.law).published()
    truth_plan = bm.plan(bm.Fit.from_params(arm.law, truth), TARGET, **arm.plan_kwargs)
    reps = []
    for r in range(args.reps):
        reps.append(one_rep(arm, r, args.draws, truth, truth_plan, args.likelihood))
        rr = reps[-1]
        print(
            f"rep {r:2d}: width before {rr['before']['width']:.3f}; after design {rr['design']['width']:.3f} "
            f"(predicted {rr['design']['predicted_width']:.3f}, {rr['design']['runs']} runs; half spend "
            f"{rr['design_half_spend']['width']:.3f}), next rung "
            f"{rr['next_rung']['width']:.3f}, random {rr['random']['width']:.3f}",
            flush=True,
        )
    strategies = ("before", "design", "design_half_spend", "next_rung", "random")
    summary = {}
    for s in strategies:
        w = np.array([r[s]["width"] for r in reps])
        g = np.array([r[s]["regret"] for r in reps])
        summary[s] = {
            "width_90_log_n_star_mean": float(w.mean()),
            "width_90_log_n_star_median": float(np.median(w)),
            "regret_mean": float(g.mean()),
            "regret_median": float(np.median(g)),
            "runs_mean": float(np.mean([r[s].get("runs", 0) for r in reps])),
            "flops_mean": float(np.mean([r[s].get("flops", 0.0) for r in reps])),
            "max_r_hat": float(np.max([r[s]["r_hat"] for r in reps])),
            "divergences_total": int(np.sum([r[s]["divergences"] for r in reps])),
        }
    pred = np.array([r["design"]["predicted_width"] for r in reps])
    real = np.array([r["design"]["width"] for r in reps])
    before = np.array([r["before"]["width"] for r in reps])
    rung = np.array([r["next_rung"]["width"] for r in reps])
    result = {
        "law": arm.law,
        "scored_size": arm.size,
        "plan_limits": arm.plan_kwargs,
        "truth": truth,
        "target_budget": TARGET,
        "ladder_budgets": LADDER,
        "spend_flops": SPEND,
        "noise_sd_log_loss": NOISE,
        "likelihood": args.likelihood,
        "reps": args.reps,
        "draws_per_chain": args.draws,
        "summary": summary,
        "design_vs_next_rung_width_ratio_mean": float(np.mean(real / rung)),
        "design_narrower_than_rung_share": float(np.mean(real < rung)),
        "design_half_spend_vs_next_rung_width_ratio_mean": float(
            np.mean([r["design_half_spend"]["width"] for r in reps] / rung)
        ),
        "predicted_vs_realised": {
            "predicted_reduction_mean": float(np.mean(before - pred)),
            "realised_reduction_mean": float(np.mean(before - real)),
            "correlation_of_reductions": float(np.corrcoef(before - pred, before - real)[0, 1]),
            "median_abs_error_of_predicted_width": float(np.median(np.abs(pred - real))),
        },
        "design_seconds_mean": float(np.mean([r["design"]["seconds"] for r in reps])),
        "seconds": round(time.time() - t0, 1),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
    }
    stem = (
        "design"
        + ("" if arm.law == "chinchilla" else f"_{arm.law}")
        + ("" if args.likelihood == "normal" else f"_{args.likelihood}")
    )
    out_path = RESULTS / f"{stem}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_path) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(
        json.dumps(
            {k: result[k] for k in ("summary", "design_vs_next_rung_width_ratio_mean", "predicted_vs_realised")},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
