"""Does the fitter's parametrisation cause an SBC shortfall? A paired check (issue 12, SBC).

The chinchilla law with narrow exponent priors (alpha and beta Uniform(0.3, 0.36)) shows the
same alpha shortfall as zhao2025's SBC (README, Calibration) at a fraction of the cost. Each
simulation of ``one_simulation`` (same truth, same runs, same fit seed) is fitted three ways:

* ``default``: as the fitter samples it (reference-scale shear and level shift);
* ``noshear``: the shear switched off (``reparam.SCALABLE = ()`` in this process);
* ``plain``: the shear and the level shift switched off (``reparam.LEVELLED = ()`` too).

All three target the same posterior, so a parametrisation that biased the intervals would
show as simulations one way covers and another misses. Everything runs in this one process,
because the switches are module settings; the compiled-model key holds the parametrisation
(``model.bayesmoe_shear``), so each way gets its own compiled model.

Run: python benchmarks/sbc_reparam.py [--sims 200] [--seed 0] [--out PATH]. Each finished simulation is one
line of ``benchmarks/cache/sbc-reparam-seed<S>.jsonl``, not committed: a rerun resumes. The
summary goes to ``results/sbc_reparam.json``.
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
from bayesmoe.criticism.calibration import one_simulation
from bayesmoe.files import atomic_path
from bayesmoe.inference import reparam
from bayesmoe.laws.simulation import generic_design

PRIORS = {
    "E": "Uniform(1.5, 2.5)",
    "A": "LogNormal(6.0, 0.5)",
    "alpha": "Uniform(0.3, 0.36)",
    "B": "LogNormal(7.0, 0.5)",
    "beta": "Uniform(0.3, 0.36)",
}
SETTINGS = {"draws": 1000, "tune": 2000, "chains": 2, "target_accept": 0.99, "likelihood": "normal"}
WAYS = {
    "default": (reparam.LEVELLED, reparam.SCALABLE),
    "noshear": (reparam.LEVELLED, ()),
    "plain": ((), ()),
}


def fit_three_ways(law: bm.Law, design: pd.DataFrame, index: int, seed: int) -> dict:
    row: dict = {"index": index}
    saved = reparam.LEVELLED, reparam.SCALABLE
    try:
        for way, (levelled, scalable) in WAYS.items():
            reparam.LEVELLED, reparam.SCALABLE = levelled, scalable
            r = one_simulation(law.to_json(), PRIORS, design, index, seed, SETTINGS)
            row[way] = {k: r.get(k) for k in ("status", "hits", "max_r_hat", "divergences")}
    finally:
        reparam.LEVELLED, reparam.SCALABLE = saved
    return row


def summarise(rows: list[dict]) -> dict:
    ok = [r for r in rows if all(r[w]["status"] == "ok" for w in WAYS)]
    out: dict = {"simulations": len(rows), "ok_all_ways": len(ok), "coverage_90": {}, "disagreements": {}}
    for q in ok[0][next(iter(WAYS))]["hits"]:
        hits = {w: np.array([r[w]["hits"][q]["0.9"] for r in ok]) for w in WAYS}
        out["coverage_90"][q] = {w: float(h.mean()) for w, h in hits.items()}
        out["disagreements"][q] = {
            f"{a}/{b}": [int((hits[a] & ~hits[b]).sum()), int((hits[b] & ~hits[a]).sum())]
            for i, a in enumerate(WAYS)
            for b in list(WAYS)[i + 1 :]
        }
    out["share_r_hat_over_1.01"] = {w: float(np.mean([r[w]["max_r_hat"] > 1.01 for r in ok])) for w in WAYS}
    out["share_with_divergences"] = {w: float(np.mean([r[w]["divergences"] > 0 for r in ok])) for w in WAYS}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sims", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sbc_reparam.json")
    args = ap.parse_args()
    cache = Path(__file__).parent / "cache" / f"sbc-reparam-seed{args.seed}.jsonl"
    cache.parent.mkdir(parents=True, exist_ok=True)
    rows = [json.loads(line) for line in cache.read_text().splitlines()] if cache.exists() else []
    done = {r["index"]: r for r in rows}
    law, design = bm.get_law("chinchilla"), generic_design("chinchilla", 60, seed=11)
    t0 = time.perf_counter()
    with cache.open("a") as f:
        for i in range(args.sims):
            if i not in done:
                done[i] = fit_three_ways(law, design, i, args.seed)
                f.write(json.dumps(done[i]) + "\n")
                f.flush()
    summary = summarise([done[i] for i in range(args.sims)])
    summary |= {
        "seed": args.seed,
        "priors": PRIORS,
        "settings": SETTINGS,
        "wall_s_this_run": time.perf_counter() - t0,
        "machine": platform.platform(),
        "bayesmoe": bm.__version__,
    }
    print(json.dumps({k: summary[k] for k in ("ok_all_ways", "share_r_hat_over_1.01")}, indent=1))
    print("90 % coverage:", json.dumps(summary["coverage_90"], indent=1))
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
