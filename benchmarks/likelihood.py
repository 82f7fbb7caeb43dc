"""Which run-to-run noise: Normal, Student-t, or Student-t only where PSIS-LOO flags runs?

Some training runs sit far off any smooth law: a run stopped before its learning-rate warm-up
ended, a run whose loss rose with more tokens. Normal noise widens for them everywhere and lets
them pull the fit; Student-t noise (like the Huber loss of the point-fit baseline) gives them
little weight. This script scores, on the cached leave-future-out splits of
``benchmarks/extrapolation.py`` (run that first; its cache keeps both fits of every split and
PSIS-LOO Pareto k of the training runs under each), three rules for the noise:

- ``normal``: always Normal (the default before this study);
- ``studentt``: always Student-t;
- ``flagged``: Normal, unless PSIS-LOO of the Normal fit flags a training run (Pareto k > 0.7,
  :data:`bayesmoe.criticism.comparison.PARETO_K_MAX`: a run the Normal fit cannot absorb), then
  Student-t. The threshold is ArviZ's, not tuned here.

Each gets the discrepancy as fitted (top-up, uniform, tau and growth chosen by
leave-one-sweep-out CRPS on the Normal fits of the *other* sweeps, as in
``benchmarks/discrepancy_topup.py``) and none. Scores per held-out sweep and pooled: 50 / 90 %
coverage, 90 % interval score, median relative error, 90 % width (CRPS on loss is infinite for
Student-t noise on log loss, so the interval score ranks).

Run: python benchmarks/likelihood.py   (writes benchmarks/results/likelihood.json)
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from discrepancy_topup import COMBINATIONS, GROWTHS, SCALES, choose, draws
from extrapolation import CACHE, SPLITS, pool_scores, sweeps

from bayesmoe.criticism.comparison import PARETO_K_MAX
from bayesmoe.criticism.scoring import score_draws
from bayesmoe.files import atomic_path

KEYS = ("coverage_50", "coverage_90", "interval_score_90", "median_rel_error", "mean_width_90")
RULES = ("normal", "studentt", "flagged")


def flagged(case: dict) -> bool:
    """Does PSIS-LOO of the Normal fit flag a training run?"""
    return bool(np.max(case["train_pareto_k"]) > PARETO_K_MAX)


def parts(case: dict, rule: str) -> dict:
    """The split's predictive parts under a rule."""
    t = rule == "studentt" or (rule == "flagged" and flagged(case))
    return case | case["studentt"] if t else case


def pooled(cases: list[dict], rule: str, setting: tuple) -> dict[str, float]:
    """Scores over several splits' held-out runs under a rule and a (tau, combination, growth)."""
    tau, how, growth = setting
    rows = [
        score_draws(draws(parts(c, rule), tau, how, i, growth), c["y"], has_mean=False) | {"n_runs": len(c["y"])}
        for i, c in enumerate(cases)
    ]
    return {k: v for k, v in pool_scores(rows).items() if k in KEYS or k == "n_runs"}


def main() -> None:
    cases = {}
    for name in sweeps():
        key = name.replace("/", "_").replace("<=", "le").replace(" ", "_")
        cases[name] = [pickle.loads((CACHE / f"{key}_{f}_1000_100_0.pkl").read_bytes()) for f in SPLITS]
    grid = [(t, how, g) for how in COMBINATIONS for g in GROWTHS for t in SCALES]
    per_sweep: dict[str, dict] = {}
    for held, cs in cases.items():
        others = [c for n, cc in cases.items() if n != held for c in cc]
        setting = choose(grid, others)
        row: dict = {
            "chosen": {"scale": setting[0], "combination": setting[1], "growth": setting[2]},
            "splits": [
                {
                    "split": c["how"],
                    "normal_max_pareto_k": float(np.max(c["train_pareto_k"])),
                    "normal_runs_flagged": int(np.sum(c["train_pareto_k"] > PARETO_K_MAX)),
                    "studentt_max_pareto_k": float(np.max(c["studentt"]["train_pareto_k"])),
                    "nu_median": float(np.median(c["studentt"]["nu"])),
                    "normal_sigma_median": float(np.median(np.std(c["eps"], axis=1))),
                }
                for c in cs
            ],
        }
        for rule in RULES:
            row[rule] = pooled(cs, rule, setting)
            row[f"{rule}_no_discrepancy"] = pooled(cs, rule, (0.0, "add", 0.5))
        if "huber" in cs[0]:
            reps = [score_draws(c["huber"], c["y"]) | {"n_runs": len(c["y"])} for c in cs]
            row["huber_bootstrap"] = {k: v for k, v in pool_scores(reps).items() if k in KEYS or k == "n_runs"}
        per_sweep[held] = row
        print(
            f"{held:>28}: flagged splits {sum(flagged(c) for c in cs)}/3 (max k "
            + ", ".join(f"{s['normal_max_pareto_k']:.2f}" for s in row["splits"])
            + "); IS90 "
            + " ".join(f"{r} {row[r]['interval_score_90']:.3f}" for r in RULES)
            + (f" huber {row['huber_bootstrap']['interval_score_90']:.3f}" if "huber_bootstrap" in row else "")
            + "; med.err "
            + " ".join(f"{row[r]['median_rel_error']:.3f}" for r in RULES)
            + (f" huber {row['huber_bootstrap']['median_rel_error']:.3f}" if "huber_bootstrap" in row else "")
        )
    methods = [m for m in per_sweep[next(iter(per_sweep))] if m not in ("chosen", "splits")]
    total = {m: pool_scores([per_sweep[n][m] for n in per_sweep]) for m in methods}
    for m, r in total.items():
        print(
            f"{m:>24}: cover50 {r['coverage_50']:.3f} cover90 {r['coverage_90']:.3f} IS90 "
            f"{r['interval_score_90']:.4f} med.rel.err {r['median_rel_error']:.4f} width90 {r['mean_width_90']:.3f}"
        )
    out = Path(__file__).parent / "results" / "likelihood.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"pooled_leave_one_sweep_out": total, "per_sweep": per_sweep}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
