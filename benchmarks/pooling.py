"""Pooling across sweeps: do exponents learned from other sweeps make a new sweep's
extrapolation more honest than the catalogue's default priors?

For each bundled sweep the Chinchilla form applies to (Gadre et al. per corpus, Farseer), the
law is fitted hierarchically to the *other* sweeps (sweep = group, every parameter per sweep
around a population value with a learned spread; centred, since each sweep's own runs pin its
values), and the predictive distribution of a *new* sweep's exponents alpha and beta
(population value plus a fresh group offset, draw by draw) is summarised as LogNormal priors.
The held-out sweep is then backtested - fit on its cheapest 50 / 60 / 70 % by compute, score
the rest - with those derived priors and with the defaults, each with the default model
discrepancy and without it, beside the Huber + bootstrap point fit (128 starts, 100 resamples,
as ``extrapolation.py`` scores it): per held-out sweep, does the discrepancy help once the
priors are informative, and does the Bayesian fit beat the point fit? Last, the same is derived from all the
sweeps together: the law file's ``[prior_sets.pooled]``, ``bm.fit(..., priors="pooled")``.
E, A and B stay at their defaults: they carry each sweep's loss unit and tokenizer.

Run: python benchmarks/pooling.py [--draws 500] [--set-draws 2000]
Writes benchmarks/results/pooling.json (summary); fits are cached in the ignored benchmarks/cache/pooling/.
"""

from __future__ import annotations

import argparse
import json
import pickle
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

import bayesmoe as bm
from bayesmoe.criticism.backtesting import split_runs
from bayesmoe.criticism.baseline import huber_fit
from bayesmoe.criticism.scoring import score_draws
from bayesmoe.files import atomic_path
from bayesmoe.inference.pooling import new_group_draws
from bayesmoe.laws import observation

LAW = "chinchilla"
EXPONENTS = ("alpha", "beta")
SPLITS = (0.5, 0.6, 0.7)
SCORES = ("coverage_50", "coverage_90", "interval_score_90", "mean_width_90", "crps", "median_rel_error")
VARIANTS = ("default priors", "pooled priors", "default priors, no discrepancy", "pooled priors, no discrepancy")
HUBER = "Huber + bootstrap"
CACHE = Path(__file__).parent / "cache" / "pooling"
OUT = Path(__file__).parent / "results" / "pooling.json"


def sweeps() -> dict[str, pd.DataFrame]:
    out = {f"gadre2024/{c}": bm.datasets.gadre2024(corpus=c).df for c in ("c4_original", "rpj", "rw_original")}
    out["farseer2025"] = bm.datasets.farseer2025().df
    return {k: v[["N", "D", "loss"]] for k, v in out.items()}


def cached(key: str, make):
    path = CACHE / f"{key.replace('/', '_')}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
    value = make()
    CACHE.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_bytes(pickle.dumps(value))
    return value


def derived_priors(others: dict[str, pd.DataFrame], draws: int, seed: int, likelihood: str) -> dict:
    """LogNormal priors for a new sweep's exponents from a hierarchical fit to ``others``."""
    table = pd.concat([df.assign(sweep=name) for name, df in others.items()], ignore_index=True)
    law = bm.get_law(LAW)
    f = bm.fit(
        LAW,
        bm.load_runs(table),
        groups="sweep",
        pooled=list(law.params),
        centred=True,  # each sweep's own runs pin its values: the non-centred form left R-hat 1.08-1.19
        draws=draws,
        tune=2 * draws,
        target_accept=0.99,
        progressbar=False,
        seed=seed,
        likelihood=likelihood,
        warn=False,
    )
    post = f.idata.posterior
    priors = bm.new_group_priors(f, EXPONENTS, family="LogNormal", seed=seed)  # a new sweep's exponents
    out = {p: str(priors[p]) for p in EXPONENTS}
    spread = {}
    for p in EXPONENTS:
        new = new_group_draws(f, p, seed=seed)
        spread[p] = {
            "new_sweep_median": float(np.median(new)),
            "new_sweep_90": [float(v) for v in np.quantile(new, [0.05, 0.95])],
            "per_sweep_median": {
                g: float(np.median(post[f"{p}_group"].sel(group=g).values)) for g in post["group"].values
            },
        }
    d = f.diagnostics()
    checks = {"max_r_hat": d.max_r_hat, "divergences": d.divergences, "min_ess_bulk": d.min_ess_bulk}
    return {"priors": out, "spread": spread, "checks": checks}


def huber_scores(df: pd.DataFrame, frac: float, seed: int = 0) -> dict:
    """The point fit's bootstrap scored on the held-out runs of one split."""
    train, test, _ = split_runs(bm.load_runs(df), f"compute:{frac}")
    pf = huber_fit(LAW, train, starts=128, bootstrap=100, seed=seed)
    boot = pf.predict_bootstrap(test.df)
    boot = boot[np.all(np.isfinite(boot) & (boot > 0), axis=1)]
    return score_draws(boot, test.loss()) | {"n_test": len(test)}


def pool(rows: list) -> dict:
    """Scores over the held-out runs of several splits (each split weighted by its runs)."""
    t = pd.DataFrame(rows)
    w = t["n_test"].to_numpy(float)
    return {s: float(np.average(t[s].to_numpy(float), weights=w)) for s in SCORES} | {"n_runs": int(w.sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=500, help="posterior draws per chain of every fit")
    ap.add_argument(
        "--set-draws", type=int, default=2000, help="posterior draws per chain of the all-sweeps fit (the prior set)"
    )
    # results/pooling.json (and the shipped prior set) came from Normal noise, the default before
    # 2026-12-07; another likelihood writes results/pooling_<likelihood>.json
    ap.add_argument("--likelihood", default="normal", choices=observation.LIKELIHOODS)
    args = ap.parse_args()
    lik = args.likelihood
    tag = "" if lik == "normal" else f"-{lik}"
    out = OUT if lik == "normal" else OUT.with_name(f"pooling_{lik}.json")
    t0 = time.time()
    data = sweeps()
    result: dict = {"law": LAW, "likelihood": lik, "splits": SPLITS, "draws_per_chain": args.draws, "held_out": {}}
    pooled_rows: dict[str, list] = {name: [] for name in (*VARIANTS, HUBER)}
    for held, df in data.items():
        others = {k: v for k, v in data.items() if k != held}
        pri = cached(
            f"priors-centred-{held}-{args.draws}{tag}", lambda others=others: derived_priors(others, args.draws, 0, lik)
        )
        print(f"{held}: priors from the other sweeps {pri['priors']} (checks {pri['checks']})", flush=True)
        entry = {"derived": pri, "splits": {}}
        sweep_rows: dict[str, list] = {name: [] for name in pooled_rows}
        for frac in SPLITS:
            laws = {
                name: {"law": LAW}
                | ({"priors": pri["priors"]} if name.startswith("pooled") else {})
                | ({"discrepancy": None} if name.endswith("no discrepancy") else {})
                for name in VARIANTS
            }

            def run(laws=laws, frac=frac, df=df):
                bt = bm.backtest(
                    laws,
                    bm.load_runs(df),
                    f"compute:{frac}",
                    baseline=False,
                    draws=args.draws,
                    warn=False,
                    likelihood=lik,
                )
                return bt.table.assign(n_test=bt.n_test)

            table = cached(f"bt-variants-{held}-{frac}-{args.draws}{tag}", run)
            table.index = [i.removesuffix(" (Bayes)") for i in table.index]
            table.loc[HUBER] = pd.Series(
                cached(f"huber-{held}-{frac}", lambda df=df, frac=frac: huber_scores(df, frac))
            )
            entry["splits"][str(frac)] = table[[*SCORES, "n_test", "max_r_hat", "divergences"]].to_dict(orient="index")
            for name in pooled_rows:
                pooled_rows[name].append(table.loc[name])
                sweep_rows[name].append(table.loc[name])
            print(f"  {frac}: " + table[list(SCORES)].round(4).to_string().replace("\n", "\n    "), flush=True)
        entry["over_splits"] = {name: pool(rows) for name, rows in sweep_rows.items()}
        result["held_out"][held] = entry
    summary = {name: pool(rows) for name, rows in pooled_rows.items()}
    result["pooled_over_held_out_sweeps"] = summary
    # the shipped prior set (models/chinchilla.toml, [prior_sets.pooled]) pools every sweep
    everything = cached(
        f"priors-centred-all-{args.set_draws}{tag}", lambda: derived_priors(data, args.set_draws, 0, lik)
    )
    everything["draws_per_chain"] = args.set_draws
    print(f"all sweeps: priors for a new sweep {everything['priors']} (checks {everything['checks']})", flush=True)
    result["all_sweeps"] = everything
    result["seconds"] = round(time.time() - t0, 1)
    result["machine"] = platform.platform()
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
