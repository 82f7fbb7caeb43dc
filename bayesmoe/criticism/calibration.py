"""Simulation-based calibration (SBC): draw parameters from the prior, simulate runs on a
design, fit, and check that the truth's rank among the posterior draws is uniform and that
50 % / 90 % intervals cover it 50 % / 90 % of the time - per parameter and for the derived
optima (the law's closed forms, and N_opt(C) from the planner when a budget is given).

Hundreds of fits run on Dask (a LocalCluster by default, or a scheduler address). Each
finished simulation is written as one JSON file, atomically, so a rerun skips it; a failed
fit is recorded as failed instead of stopping the sweep.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from bayesmoe._optional import require
from bayesmoe.config import BAND_LEVELS
from bayesmoe.decisions.planning import plan
from bayesmoe.errors import BayesMoEError
from bayesmoe.files import atomic_path
from bayesmoe.inference.fitting import Fit, fit
from bayesmoe.intervals import eti
from bayesmoe.laws import observation
from bayesmoe.laws.catalogue import get_law
from bayesmoe.laws.law import Law
from bayesmoe.laws.priors import Prior
from bayesmoe.laws.simulation import simulate
from bayesmoe.progress import track

RANK_DRAWS = 100  # posterior draws kept (evenly thinned) for the rank statistic
RANK_BINS = 10


def _atomic_json(path: Path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload))


def fit_simulated(law: Law, runs: Any, priors: Mapping[str, str], settings: Mapping[str, Any], seed: int) -> Fit:
    """Fit simulated runs as an SBC sweep does: its sampler ``settings``, no predictive draws and
    no warnings (the sweep reports each fit's diagnostics itself)."""
    return fit(
        law,
        runs,
        priors=priors,
        draws=settings["draws"],
        tune=settings["tune"],
        chains=settings["chains"],
        seed=seed,
        progressbar=False,
        warn=False,
        posterior_predictive=False,
        target_accept=settings.get("target_accept"),
        likelihood=settings.get("likelihood", "normal"),
    )


def interval_hits(true: float, draws: np.ndarray) -> dict[str, bool]:
    """Whether each :data:`BAND_LEVELS` equal-tailed interval of ``draws`` holds ``true`` (keyed by level)."""
    out = {}
    for level in BAND_LEVELS:
        lo, hi = eti(draws, level)
        out[str(level)] = bool(lo <= true <= hi)
    return out


def one_simulation(
    law_json: str, priors: dict[str, str], design: pd.DataFrame, index: int, seed: int, settings: dict[str, Any]
) -> dict[str, Any]:
    """Simulate from the prior, fit, and return ranks and interval hits (never raises)."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"index": index}
    try:
        law = Law.from_dict(json.loads(law_json))
        rng = np.random.default_rng([seed, index])
        pri = {k: Prior.parse(v) for k, v in priors.items()}
        truth = {k: float(pri[k].sample(rng)) for k in law.params}
        likelihood = settings.get("likelihood", "normal")  # the model simulated is the model fitted
        noise = {k: float(p.sample(rng)) for k, p in observation.noise_priors(likelihood).items()}  # its priors
        try:
            runs = simulate(law, design, truth, noise=noise["sigma"], nu=noise.get("nu"), seed=int(rng.integers(2**31)))
        except BayesMoEError as exc:
            return out | {"status": "rejected", "reason": str(exc), "truth": truth}
        f = fit_simulated(law, runs, priors, settings, seed=int(rng.integers(2**31)))
        quantities = {k: (truth[k], f.idata.posterior[k].values.reshape(-1)) for k in law.params}
        quantities |= {k: (v, f.idata.posterior[k].values.reshape(-1)) for k, v in noise.items()}
        point = Fit.from_params(law, truth)
        for name in law.derived_trees:
            if not law.derived_inputs(name):
                quantities[name] = (
                    float(np.asarray(point.derived(name)).ravel()[0]),
                    f.derived(name).values.reshape(-1),
                )
        if settings.get("budget"):
            kw = settings.get("plan_kwargs") or {}
            p_true = plan(point, settings["budget"], **kw)
            p_fit = plan(f, settings["budget"], **kw)
            size = law.size_input
            quantities[f"{size}_opt"] = (
                float(p_true.optimum[size].values.ravel()[0]),
                p_fit.optimum[size].values.reshape(-1),
            )
        ranks, hits = {}, {}
        for k, (true, draws) in quantities.items():
            thin = draws[np.linspace(0, len(draws) - 1, min(RANK_DRAWS, len(draws))).astype(int)]
            ranks[k] = int(np.sum(thin < true))
            hits[k] = interval_hits(true, draws)
        d = f.diagnostics()
        out |= {
            "status": "ok",
            "truth": truth,
            "noise": noise,  # the noise's true values, for coverage by noise level (Calibration.coverage_by)
            "ranks": ranks,
            "hits": hits,
            "max_r_hat": d.max_r_hat,
            "divergences": d.divergences,
            "seconds": time.perf_counter() - t0,
        }
    except Exception as exc:  # recorded, not raised: one bad simulation must not stop the sweep
        out |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return out


def _hit_rate(results: list[dict[str, Any]], quantity: str, level: float) -> float:
    """Share of ``results`` whose ``level`` interval of ``quantity`` held the truth."""
    return float(np.mean([r["hits"][quantity][str(level)] for r in results]))


@dataclass
class Calibration:
    law: str
    results: list[dict[str, Any]]

    @property
    def ok(self) -> list[dict[str, Any]]:
        return [r for r in self.results if r.get("status") == "ok"]

    def coverage(self) -> pd.DataFrame:
        """Empirical coverage of the 50 % / 90 % intervals and a rank-uniformity test per quantity."""
        ok = self.ok
        if not ok:
            raise BayesMoEError("no successful simulations to summarise")
        rows = {}
        for k in ok[0]["ranks"]:
            ranks = np.array([r["ranks"][k] for r in ok if k in r["ranks"]])
            hist = np.histogram(ranks, bins=RANK_BINS, range=(0, RANK_DRAWS + 1))[0]
            rows[k] = {
                **{f"coverage_{int(lv * 100)}": _hit_rate(ok, k, lv) for lv in BAND_LEVELS},
                "rank_chi2_p": float(stats.chisquare(hist).pvalue),
                "n": len(ranks),
            }
        return pd.DataFrame(rows).T

    def coverage_by(self, truth: str, edges: Sequence[float], level: float = 0.9) -> pd.DataFrame:
        """Coverage of the ``level`` intervals of every quantity, by bins of one true value.

        SBC guarantees coverage averaged over the prior, not within a bin, but a bin far below
        nominal says where to look (e.g. ``truth="sigma"``: the runs' noise level). ``truth``
        names a law parameter or a noise parameter; ``edges`` are the bins' increasing edges.
        Rows: ``[lo, hi)`` bins that hold simulations; columns: each quantity, then
        ``simulations`` (the count; not ``n``, which is a parameter of zhao2025).
        """
        ok = self.ok
        if not ok:
            raise BayesMoEError("no successful simulations to summarise")
        edges = [float(e) for e in edges]
        if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
            raise BayesMoEError(f"coverage_by: edges must be at least two increasing values, got {edges}")
        if str(level) not in ok[0]["hits"][next(iter(ok[0]["hits"]))]:
            raise BayesMoEError(
                f"coverage_by: level {level} was not scored; the sweep scored {list(map(float, BAND_LEVELS))}"
            )
        values = []
        for r in ok:
            known = r["truth"] | r.get("noise", {})
            if truth not in known:
                where = "" if "noise" in r else " (it was run before noise values were recorded: rerun it)"
                raise BayesMoEError(
                    f"coverage_by: simulation {r['index']} has no true value of {truth!r}{where}; known: {sorted(known)}"
                )
            values.append(known[truth])
        bins = np.digitize(values, edges) - 1  # bin i holds edges[i] <= value < edges[i + 1]
        rows = {}
        for i in range(len(edges) - 1):
            inside = [r for r, b in zip(ok, bins, strict=True) if b == i]
            if inside:
                rows[f"[{edges[i]:g}, {edges[i + 1]:g})"] = {
                    k: _hit_rate(inside, k, level) for k in inside[0]["hits"]
                } | {"simulations": len(inside)}
        return pd.DataFrame(rows).T

    def rank_histograms(self) -> pd.DataFrame:
        ok = self.ok
        return pd.DataFrame(
            {
                k: np.histogram([r["ranks"][k] for r in ok], bins=RANK_BINS, range=(0, RANK_DRAWS + 1))[0]
                for k in ok[0]["ranks"]
            }
        )

    def convergence(self) -> dict[str, float]:
        """How many fits sampled well: share with R-hat > 1.01, share with divergences, median seconds."""
        ok = self.ok
        return {
            "share_r_hat_over_1.01": float(np.mean([r["max_r_hat"] > 1.01 for r in ok])) if ok else float("nan"),
            "share_with_divergences": float(np.mean([r["divergences"] > 0 for r in ok])) if ok else float("nan"),
            "median_fit_s": float(np.median([r["seconds"] for r in ok])) if ok else float("nan"),
        }

    def counts(self) -> dict[str, int]:
        return {s: sum(r.get("status") == s for r in self.results) for s in ("ok", "rejected", "failed")}

    def __repr__(self) -> str:
        return f"Calibration of {self.law}: {self.counts()}; {self.convergence()}\n" + self.coverage().to_string(
            float_format=lambda v: f"{v:.3f}"
        )


def calibrate(
    law: str | Law,
    design: pd.DataFrame,
    *,
    sims: int = 200,
    out_dir: str | os.PathLike,
    priors: Mapping[str, str] | None = None,
    draws: int = 500,
    tune: int = 500,
    chains: int = 2,
    target_accept: float | None = None,
    likelihood: str = observation.LIKELIHOOD,
    budget: float | None = None,
    plan_kwargs: Mapping[str, Any] | None = None,
    scheduler: str | None = None,
    n_workers: int | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> Calibration:
    """Run (or resume) an SBC sweep of ``sims`` simulations on Dask; returns all results.

    Runs are simulated with the noise the fits assume (``likelihood``; Student-t with nu drawn
    from its prior, by default), so the check is exact."""
    distributed = require("dask.distributed", "dask", "calibrate (simulation-based calibration on Dask)")
    Client, LocalCluster, as_completed = distributed.Client, distributed.LocalCluster, distributed.as_completed

    law = get_law(law)
    pri = {k: str(v) for k, v in law.priors.items()}
    for k, v in (priors or {}).items():
        if k not in pri:
            raise BayesMoEError(f"prior given for {k!r}, which is not a parameter of {law.name!r}")
        pri[k] = str(Prior.parse(v, f"prior for {k!r}"))
    absent = [c for c in law.inputs if c not in design.columns]
    if absent:
        raise BayesMoEError(f"calibration design lacks input column(s) {absent}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "target_accept": target_accept,
        "likelihood": observation.check_likelihood(likelihood),
        "budget": budget,
        "plan_kwargs": dict(plan_kwargs or {}),
    }
    manifest = {"law": law.to_json(), "priors": pri, "settings": settings, "seed": seed, "design_rows": len(design)}
    mpath = out / "manifest.json"
    if mpath.exists() and json.loads(mpath.read_text()) != json.loads(json.dumps(manifest)):
        raise BayesMoEError(f"{out} holds a sweep with other settings; use another out_dir")
    _atomic_json(mpath, manifest)
    todo = [i for i in range(sims) if not (out / f"sim_{i:04d}.json").exists()]
    if todo:
        cluster = None
        if scheduler:
            client = Client(scheduler)
        else:
            cluster = LocalCluster(
                n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = Client(cluster)
        try:
            design_f = client.scatter(design, broadcast=True)
            futures = client.map(
                one_simulation,
                [law.to_json()] * len(todo),
                [pri] * len(todo),
                [design_f] * len(todo),
                todo,
                [seed] * len(todo),
                [settings] * len(todo),
                pure=False,
            )
            failed = 0
            for fut in track(as_completed(futures), f"sbc {law.name}", total=len(todo), progress=progress):
                res = fut.result()
                _atomic_json(out / f"sim_{res['index']:04d}.json", res)
                failed += res.get("status") != "ok"
            if failed:
                print(f"sbc {law.name}: {failed} of {len(todo)} simulations not ok (see results)", file=sys.stderr)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    results = [json.loads((out / f"sim_{i:04d}.json").read_text()) for i in range(sims)]
    return Calibration(law.name, results)
