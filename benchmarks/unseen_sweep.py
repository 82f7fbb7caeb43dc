"""A sweep the defaults never saw: leave-future-out on the OLMo 2 model ladder (Bhagia et al. 2024).

Every default of the observation model - Student-t noise, the discrepancy's scale, shape, growth
and combination, the shipped ``pooled`` priors - was chosen on the eight sweeps of
``extrapolation.py`` before this ladder was bundled (2026-12-07). Scoring the defaults on it is
the out-of-sample check those choices could not give themselves: 25 dense runs, five sizes
(190M-3B) at 0.5-10x Chinchilla tokens, C4 validation loss, Chinchilla law.

Splits: the cheapest 50 / 60 / 70 % of runs by training compute train and the rest are scored
(as in ``extrapolation.py``), and a size split - the four smaller sizes train, the 3B runs are
scored. Methods: the default model; the same without discrepancy; Normal noise; the pooled
priors; Huber + bootstrap. Pooled rows weight each split by its held-out runs (a run held out
by several splits counts once per split, as in ``extrapolation.py``).

Run: python benchmarks/unseen_sweep.py [--draws 1000] [--val c4_en]
Writes benchmarks/results/unseen_sweep.json (summary; ``unseen_sweep_<val>.json`` for another set).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayesmoe as bm
from bayesmoe.files import atomic_path

SPLITS = ("compute:0.5", "compute:0.6", "compute:0.7", "size")
METHODS = {
    "default": {"law": "chinchilla"},
    "no discrepancy": {"law": "chinchilla", "discrepancy": None},
    "Normal noise": {"law": "chinchilla", "likelihood": "normal"},
    "pooled priors": {"law": "chinchilla", "priors": "pooled"},
}
#: Backtest rows kept and their labels; the Huber baseline (per method in ``bm.backtest``) is kept once.
KEEP = [f"{m} (Bayes)" for m in METHODS] + ["default (Huber + bootstrap)"]
LABELS = {k: k.removesuffix(" (Bayes)") for k in KEEP} | {"default (Huber + bootstrap)": "Huber + bootstrap"}
#: Per-run means in the backtest table, pooled over splits by their held-out runs (the median error is
#: pooled from the predictions instead).
MEANS = ("coverage_50", "coverage_90", "interval_score_90", "mean_width_90")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1000, help="posterior draws per chain")
    ap.add_argument("--val", default="c4_en", help="validation set of the ladder (its loss)")
    args = ap.parse_args()
    t0 = time.time()
    runs = bm.datasets.bhagia2024(val=args.val)
    per_split, preds = {}, []
    for split in SPLITS:
        mask = (runs.df["size"] != "3B").to_numpy() if split == "size" else split
        bt = bm.backtest(METHODS, runs, split=mask, draws=args.draws, progress=False)
        table = bt.table.loc[KEEP].rename(index=LABELS)  # one baseline: the same fit for every method
        per_split[split] = {
            "how": bt.split,
            "n_train": bt.n_train,
            "n_test": bt.n_test,
            "table": {i: {k: float(v) for k, v in row.items() if pd.notna(v)} for i, row in table.iterrows()},
        }
        p = bt.predictions[bt.predictions["method"].isin(KEEP)]
        preds.append(p.assign(split=split, method=p["method"].map(LABELS)))
        row = per_split[split]["table"]
        print(
            f"{split}: {bt.n_train} train, {bt.n_test} scored; "
            + "; ".join(f"{m} IS90 {r['interval_score_90']:.4f} cov90 {r['coverage_90']:.2f}" for m, r in row.items()),
            flush=True,
        )
    pooled = {}
    allp = pd.concat(preds, ignore_index=True)
    for method in per_split[SPLITS[0]]["table"]:
        w = np.array([per_split[s]["n_test"] for s in SPLITS], float)
        vals = {c: np.array([per_split[s]["table"][method][c] for s in SPLITS]) for c in MEANS}
        p = allp[allp["method"] == method]
        pooled[method] = {c: float(np.sum(v * w) / w.sum()) for c, v in vals.items()} | {
            "median_rel_error": float(np.median(np.abs(p["median"] - p["observed"]) / p["observed"])),
            "held_out_rows": int(w.sum()),
        }
    result = {
        "sweep": f"bhagia2024 (OLMo 2 ladder), {args.val} loss, chinchilla law",
        "splits": per_split,
        "pooled": pooled,
        "draws_per_chain": args.draws,
        "seconds": round(time.time() - t0, 1),
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "bayesmoe": bm.__version__,
    }
    out = (
        Path(__file__).parent
        / "results"
        / ("unseen_sweep.json" if args.val == "c4_en" else f"unseen_sweep_{args.val}.json")
    )
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(pooled, indent=2))


if __name__ == "__main__":
    main()
