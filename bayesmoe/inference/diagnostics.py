"""Convergence checks run after every fit, reported as a table and in plain words."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd

from bayesmoe.config import BFMI_MIN, ESS_MIN_PER_CHAIN, R_HAT_MAX


@dataclass
class Diagnostics:
    """Divergences, R-hat, bulk/tail ESS and BFMI of one fit, with advice."""

    table: pd.DataFrame
    divergences: int
    n_draws: int
    chains: int
    bfmi: list[float]
    messages: list[str] = field(default_factory=list)
    mocked: bool = False

    @property
    def max_r_hat(self) -> float:
        return float(self.table["r_hat"].max()) if len(self.table) else float("nan")

    @property
    def min_ess_bulk(self) -> float:
        return float(self.table["ess_bulk"].min()) if len(self.table) else float("nan")

    @property
    def min_ess_tail(self) -> float:
        return float(self.table["ess_tail"].min()) if len(self.table) else float("nan")

    @property
    def ok(self) -> bool:
        return not self.messages

    def caveat(self, what: str) -> str | None:
        """One sentence for a decision made on this fit when it failed its checks (None when it passed).

        Fixed-value and mocked fits (no sampler statistics) are not flagged: they were not sampled.
        """
        if self.ok or self.mocked:
            return None
        return (
            f"{what} failed its sampling checks ({self.divergences} divergences, max R-hat {self.max_r_hat:.3f}, "
            f"min ESS {min(self.min_ess_bulk, self.min_ess_tail):.0f}): the posterior draws this decision "
            "averages over may be wrong. Fix the fit first (see fit.diagnostics()) and plan again."
        )

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "divergences": self.divergences,
            "max_r_hat": self.max_r_hat,
            "min_ess_bulk": self.min_ess_bulk,
            "min_ess_tail": self.min_ess_tail,
            "bfmi": self.bfmi,
            "chains": self.chains,
            "draws": self.n_draws,
            "messages": self.messages,
        }

    def __str__(self) -> str:
        head = (
            f"{self.chains} chains x {self.n_draws} draws: {self.divergences} divergences, "
            f"max R-hat {self.max_r_hat:.3f}, min ESS bulk {self.min_ess_bulk:.0f} / tail {self.min_ess_tail:.0f}"
            + (f", min BFMI {min(self.bfmi):.2f}" if self.bfmi else "")
        )
        if self.ok:
            return head + "\nAll checks passed."
        return head + "\n" + "\n".join(f"- {m}" for m in self.messages)

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#b35900"
        items = "".join(f"<li>{html.escape(m)}</li>" for m in self.messages) or "<li>All checks passed.</li>"
        return f"<div style='color:{colour}'><b>Diagnostics</b><ul>{items}</ul></div>" + self.table.to_html(
            float_format="{:.3f}".format
        )


def check(
    idata: az.InferenceData,
    var_names: list[str],
    target_accept: float | None = None,
    prior_sets: Sequence[str] = (),
) -> Diagnostics:
    """Compute the diagnostics for ``var_names`` and say what to do about any problem
    (``target_accept``: what the sampler ran with, so the advice can name a higher one;
    ``prior_sets``: the law's prior sets the fit did not use, named when chains disagree)."""
    post = idata.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    stats = getattr(idata, "sample_stats", None)
    mocked = stats is None or "diverging" not in stats
    names = [v for v in var_names if v in post]
    if chains >= 2 and draws >= 4:
        table = az.summary(idata, var_names=names, kind="diagnostics", round_to="none")[
            ["r_hat", "ess_bulk", "ess_tail"]
        ]
    else:
        table = pd.DataFrame(columns=["r_hat", "ess_bulk", "ess_tail"], dtype=float)
    divergences = 0 if mocked else int(stats["diverging"].sum())
    bfmi: list[float] = []
    if not mocked and "energy" in stats:
        bfmi = [float(b) for b in np.atleast_1d(az.bfmi(idata))]
    msgs: list[str] = []
    if mocked:
        msgs.append("No sampler statistics (mocked or external sampler): divergences and BFMI were not checked.")
    if chains < 2:
        msgs.append("Only one chain: R-hat cannot be computed. Run chains=4 to check convergence.")
    if divergences:
        msgs.append(
            f"{divergences} divergent transitions ({100 * divergences / (chains * draws):.1f} % of draws): the sampler "
            "could not follow the posterior's curvature, so intervals may be biased. Fix: raise target_accept "
            + (
                f"from {target_accept:g} to {1 - (1 - target_accept) / 2:g} and tune longer"
                if target_accept
                else "(0.95 or 0.99)"
            )
            + "; if they persist, tighten the priors of strongly correlated parameters or fix a weakly identified one."
        )
    if len(table):
        worst = table["r_hat"].astype(float)
        if (worst > R_HAT_MAX).any() or worst.isna().any():
            bad = ", ".join(worst[(worst > R_HAT_MAX) | worst.isna()].sort_values(ascending=False).index[:5])
            msgs.append(
                f"R-hat up to {worst.max():.3f} (> {R_HAT_MAX}) for {bad}: the chains disagree. Fix: run longer "
                "(tune=2000, draws=2000); if chains sit in different modes the law has several local optima "
                "on these runs: narrow the priors or add runs that separate them."
                + "".join(
                    f" The law's prior set priors={n!r} narrows them from other sweeps' evidence." for n in prior_sets
                )
            )
        ess_min = ESS_MIN_PER_CHAIN * chains
        low = table[(table["ess_bulk"] < ess_min) | (table["ess_tail"] < ess_min)]
        if len(low):
            msgs.append(
                f"Effective sample size as low as {min(low['ess_bulk'].min(), low['ess_tail'].min()):.0f} "
                f"(< {ess_min}) for {', '.join(low.index[:5])}: too few independent draws for stable "
                "90 % intervals. Fix: more draws; if trajectories are long, check the pair plot for "
                "strongly correlated parameters and tighten or reparametrise them."
            )
    if bfmi and min(bfmi) < BFMI_MIN:
        msgs.append(
            f"Low energy BFMI ({min(bfmi):.2f} < {BFMI_MIN}): the sampler explores the tails poorly, often "
            "because of group-scale (tau) parameters. Fix: fewer pooled parameters, or tighter group-scale priors."
        )
    return Diagnostics(
        table=table, divergences=divergences, n_draws=draws, chains=chains, bfmi=bfmi, messages=msgs, mocked=mocked
    )
