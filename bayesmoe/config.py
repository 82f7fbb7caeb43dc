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
