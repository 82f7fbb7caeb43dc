"""Does the SBC shortfall come from the simulator? Two generators, one process (issue 12, SBC).

zhao2025's SBC (``benchmarks/calibration.py``) covers alpha about 86 % at 90 %. Its simulations
draw the truth with ``Prior.sample`` and the runs with ``bayesmoe.simulate``
(``calibration.one_simulation``). This benchmark interleaves, in one process and with the same
fit settings, simulations of that generator (``declared``) with simulations drawn from the PyMC
model's own prior predictive (``model``: truth and runs from ``build_model``'s graph), so
whatever differs between the two shows in the coverage of the same quantities. SBC with the
model's own prior predictive checks the posterior computation alone (sampler, parametrisation,
compiled-model reuse); the declared generator checks it against the law and priors as written.

Run: python benchmarks/sbc_generators.py [--law zhao2025] [--sims 200] [--seed 0]. Each finished
pair is one line of ``benchmarks/cache/sbc-generators-<law>-seed<S>.jsonl`` (not committed): a
rerun resumes. The summary, pooled over every cached seed, goes to ``results/sbc_generators.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import pymc as pm
from calibration import SETUPS

import bayesmoe as bm
from bayesmoe.criticism.calibration import fit_simulated, interval_hits, one_simulation
from bayesmoe.errors import RunsError
from bayesmoe.files import atomic_path
from bayesmoe.inference.model import build_model
from bayesmoe.inference.reparam import resolve_priors
from bayesmoe.laws import observation
from bayesmoe.laws.simulation import reference_params, simulate

LIKELIHOOD = "studentt"
DRAWS = 500
CACHE = Path(__file__).parent / "cache"


def settings(law: str) -> dict:
    """``one_simulation``'s settings: the SBC benchmark's sampler setup for ``law``, no plan."""
    return {"draws": DRAWS, "chains": 2, **SETUPS[law]["sampler"], "likelihood": LIKELIHOOD}


def model_simulations(law: bm.Law, design, priors: dict, sims: int, seed: int) -> tuple[dict, np.ndarray]:
    """Truths and log losses drawn from the prior predictive of the model the fitter builds."""
    runs = simulate(law, design, reference_params(law), seed=1)  # any losses: only the inputs matter
    model = build_model(law, runs, priors=resolve_priors(law, priors), likelihood=LIKELIHOOD)
    prior = pm.sample_prior_predictive(draws=sims, model=model, random_seed=seed)
    names = list(law.params) + observation.noise_names(LIKELIHOOD)
    truths = {k: prior.prior[k].values.reshape(-1) for k in names}
    return truths, prior.prior_predictive[observation.OBSERVED].values.reshape(sims, -1)


def fit_model_simulation(law: bm.Law, design, priors: dict, truth: dict, log_loss: np.ndarray, seed: int) -> dict:
    """Fit one prior-predictive simulation as ``one_simulation`` fits its own; hits at 50/90 %."""
    df = design.assign(loss=np.exp(log_loss), source="synthetic")
    try:
        runs = bm.load_runs(df, synthetic=True)
    except RunsError as exc:  # refused as implausible losses, as one_simulation refuses them
        return {"status": "rejected", "reason": str(exc)}
    f = fit_simulated(law, runs, priors, settings(law.name), seed)
    hits = {k: interval_hits(true, f.idata.posterior[k].values.reshape(-1)) for k, true in truth.items()}
    return {"status": "ok", "hits": hits, "max_r_hat": f.diagnostics().max_r_hat}


def summarise(rows: list[dict]) -> dict:
    out: dict = {}
    for way in ("declared", "model"):
        ok = [r[way] for r in rows if r[way]["status"] == "ok"]
        n = len(ok)
        out[way] = {
            "fits": n,
            "coverage_90": {k: float(np.mean([r["hits"][k]["0.9"] for r in ok])) for k in ok[0]["hits"]},
            "coverage_50": {k: float(np.mean([r["hits"][k]["0.5"] for r in ok])) for k in ok[0]["hits"]},
            "standard_error_90": float(np.sqrt(0.09 / n)),
            "share_r_hat_over_1.01": float(np.mean([r["max_r_hat"] > 1.01 for r in ok])),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--law", default="zhao2025", choices=list(SETUPS))
    ap.add_argument("--sims", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "sbc_generators.json")
    args = ap.parse_args()
    setup, law = SETUPS[args.law], bm.get_law(args.law)
    design, priors = setup["design"](), setup["priors"]
    cache = CACHE / f"sbc-generators-{args.law}-seed{args.seed}.jsonl"
    cache.parent.mkdir(parents=True, exist_ok=True)
    done = {r["index"]: r for r in map(json.loads, cache.read_text().splitlines())} if cache.exists() else {}
    truths, log_losses = model_simulations(law, design, priors, args.sims, args.seed)
    t0 = time.perf_counter()
    with cache.open("a") as f:
        for i in range(args.sims):
            if i in done:
                continue
            truth = {k: float(v[i]) for k, v in truths.items()}
            declared = one_simulation(law.to_json(), priors, design, i, args.seed, settings(args.law))
            model = fit_model_simulation(law, design, priors, truth, log_losses[i], seed=10_000 + i)
            done[i] = {"index": i, "declared": declared, "model": model}
            f.write(json.dumps(done[i]) + "\n")
            f.flush()
    caches = sorted(CACHE.glob(f"sbc-generators-{args.law}-seed*.jsonl"))
    rows = [r for p in caches for r in map(json.loads, p.open())]
    summary = {"law": args.law, "pairs": len(rows), **summarise(rows)}
    summary |= {
        "settings": settings(args.law),
        "seeds": sorted(int(p.stem.rsplit("seed", 1)[1]) for p in caches),
        "wall_s_this_run": time.perf_counter() - t0,
        "machine": platform.platform(),
        "bayesmoe": bm.__version__,
    }
    for way in ("declared", "model"):
        c = summary[way]["coverage_90"]
        print(f"{way}: {summary[way]['fits']} fits, 90 % coverage", {k: round(v, 3) for k, v in c.items()})
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
