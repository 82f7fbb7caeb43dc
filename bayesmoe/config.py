"""Project-wide settings, each defined once."""

from __future__ import annotations

#: The one default credible-interval level used by summaries, plots and plans.
HDI_PROB = 0.9
#: The two levels drawn as bands in plots and checked in backtests.
BAND_LEVELS = (0.5, 0.9)

#: Diagnostic thresholds (Vehtari et al. 2021 recommendations).
R_HAT_MAX = 1.01
ESS_MIN_PER_CHAIN = 100
BFMI_MIN = 0.3

#: Prior scale of group-to-group spread on the unconstrained (log / logit) scale.
GROUP_SCALE = 0.5
#: Prior scale of the residual standard deviation of log loss.
SIGMA_SCALE = 0.05

#: Relative singular value of the run-sensitivity matrix below which a parameter combination
#: counts as not identified by the runs (bayesmoe.identify). Structural confounding measured
#: at 1e-18..6e-5 on the routing runs; the strongest genuine correlation seen (zhao2025's
#: b-beta on its 446-run grid) sits at 4.5e-4.
IDENTIFY_TOL = 1e-4
