"""A self-contained HTML report of one fit: data, diagnostics, parameters, surfaces, a plan
with intervals, and caveats. Figures are embedded as PNG, so the page is one file."""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from bayesmoe.config import INTERVAL_PROB
from bayesmoe.decisions.closed_forms import optima, summarize_optima
from bayesmoe.decisions.planning import plan
from bayesmoe.errors import BayesMoEError
from bayesmoe.files import atomic_path
from bayesmoe.viz import plots


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img class="figure" alt="figure" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _figure(title: str, draw: Any) -> str:
    """Draw one figure; a figure that cannot be drawn becomes a visible note, not a crash."""
    import matplotlib.pyplot as plt

    try:
        out = draw()
        axes = np.atleast_1d(out)
        fig = axes.ravel()[0].figure if hasattr(axes.ravel()[0], "figure") else plt.gcf()
        return f"<h3>{html.escape(title)}</h3>" + _png(fig)
    except (BayesMoEError, ValueError) as exc:
        plt.close("all")
        return f"<h3>{html.escape(title)}</h3><p class='note'>Not drawn: {html.escape(str(exc))}</p>"


def build_report(fit: Any, budget: float | None = None, *, design: Any = None, **plan_kwargs: Any) -> str:
    """The report as an HTML string; ``design`` (from :func:`bayesmoe.design`) adds a section
    on which runs to train next."""
    import matplotlib

    matplotlib.use("Agg")

    law, runs = fit.law, fit.runs
    d = fit.diagnostics()
    ladder: list[Any] = []
    decision: list[str] = []
    if budget is not None:  # the decision opens the report; the evidence follows
        try:
            # one plan per budget of the ladder, computed once and shared by the figures below
            ladder = [plan(fit, float(c), **plan_kwargs) for c in np.geomspace(budget / 100, budget, 5)]
        except BayesMoEError as exc:
            decision.append(
                f"<h2>Plan for C = {budget:.3g} FLOPs</h2><p class='note'>No plan: {html.escape(str(exc))}</p>"
            )
        else:
            decision.append("<div class='plan'>" + ladder[-1]._repr_html_() + "</div>")
    parts = [
        f"<h1>bayesmoe report: {html.escape(law.name)}</h1>",
        *decision,
        f"<p>{html.escape(law.spec.citation)}</p><p><code>L = {html.escape(law.spec.loss)}</code></p>",
        f"<h2>Data</h2><p>{len(runs)} runs from {html.escape(runs.source)}"
        + (" <b>(synthetic)</b>" if runs.synthetic else "")
        + "</p>",
        runs.df[[c for c in ["loss", *law.inputs] if c in runs.df]].describe().T.to_html(float_format="{:.4g}".format),
        _figure("Runs and fitted law", lambda: plots.plot_runs(fit)),
        "<h2>Diagnostics</h2>",
        f"<p class='{'ok' if d.ok else 'warn'}'>{html.escape(str(d)).replace(chr(10), '<br>')}</p>",
        _figure("Rank plots", lambda: plots.plot_diagnostics(fit)),
        f"<h2>Parameters (mean, sd, {INTERVAL_PROB:.0%} highest-density interval)</h2>",
        fit.summary().to_html(float_format="{:.4g}".format),
    ]
    sizes = [k for k in ("N", "N_a", "D", "M") if k in law.inputs]
    if len(sizes) >= 2 and len(runs):
        fixed = {k: float(np.median(runs.df[k])) for k in law.inputs if k not in sizes[:2]}
        parts.append(
            _figure(
                f"Loss surface over {sizes[0]} and {sizes[1]}",
                lambda: plots.plot_surface(fit, sizes[0], sizes[1], fixed=fixed),
            )
        )
    opt = optima(fit)
    if opt.data_vars:
        parts.append("<h2>Law optima</h2>" + summarize_optima(opt).to_html(float_format="{:.4g}".format))
        parts.append(_figure("Posterior of the optima", lambda: plots.plot_optima(fit)))
    if ladder:
        p = ladder[-1]
        group = plan_kwargs.get("group")
        parts.append("<h2>Evidence for the plan</h2>")
        parts.append(_figure("Extrapolation in compute", lambda: plots.plot_extrapolation(fit, ladder)))
        parts.append(_figure("Iso-FLOP curves", lambda: plots.plot_isoflop(fit, [ladder[-3], p], group=group)))
        parts.append(_figure("Optimum against budget", lambda: plots.plot_optimum_vs_budget(ladder)))
        far = {k: v for k, v in p.extrapolation.items() if v > 1}
        if far:
            caveat = (
                "The plan extrapolates beyond the data: "
                + ", ".join(f"{k} is {v:.3g}x the largest run" for k, v in far.items())
                + ". Its loss interval includes the model discrepancy for that distance, sized by backtests on "
                "other sweeps; check the law on your own larger runs with a backtest."
            )
        else:
            caveat = "The plan stays within the range of the data."
        parts.append(f"<h2>Caveats</h2><p>{html.escape(caveat)}</p>")
    if design is not None:
        parts.append("<h2>Which runs to train next</h2><div class='plan'>" + design._repr_html_() + "</div>")
        parts.append(_figure("Candidate runs and the design's choice", lambda: plots.plot_design(design, fit=fit)))
    style = (
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:2px 6px}"
        ".warn{color:#b35900}.ok{color:#1a7f37}.note{color:#666}.plan{border:2px solid #1a5fb4;padding:0 1em;margin:1em 0}img.figure{max-width:100%}</style>"
    )
    # on load, record how many embedded figures decoded (a self-check a browser test can read)
    check = (
        "<script>window.addEventListener('load',()=>{const i=[...document.images];"
        "document.body.dataset.figures=i.length;document.body.dataset.rendered=i.filter(x=>x.naturalWidth>0).length;});</script>"
    )
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>bayesmoe: {html.escape(law.name)}</title>{style}</head><body>{''.join(parts)}{check}</body></html>"


def write_report(
    fit: Any, path: str | os.PathLike, budget: float | None = None, *, design: Any = None, **plan_kwargs: Any
) -> Path:
    """Write the report atomically to ``path``."""
    text = build_report(fit, budget, design=design, **plan_kwargs)
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path
