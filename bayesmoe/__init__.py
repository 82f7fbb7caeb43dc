"""bayesmoe: Bayesian scaling laws for Mixture-of-Experts language models.

The workflow reads ``load -> fit -> check -> predict -> decide -> compare``::

    runs = bayesmoe.datasets.clark2022(router="S-Base")
    fit = bayesmoe.fit("clark2022", runs)
    fit.diagnostics()
"""

from __future__ import annotations

import warnings

warnings.filterwarnings("ignore", message=r"(?s).*ArviZ is undergoing a major refactor", category=FutureWarning)

__version__ = "0.1.0"

from bayesmoe import datasets  # noqa: E402
from bayesmoe.config import HDI_PROB  # noqa: E402
from bayesmoe.errors import (  # noqa: E402
    BayesMoEError,
    FitError,
    FitFileError,
    LawError,
    PlanError,
    RunsError,
    SamplingWarning,
)
from bayesmoe.fit import Fit, fit  # noqa: E402
from bayesmoe.io import load_fit as load  # noqa: E402
from bayesmoe.laws import Law, get_law, list_laws, register_law  # noqa: E402
from bayesmoe.runs import Runs, load_runs  # noqa: E402
from bayesmoe.simulate import simulate  # noqa: E402

__all__ = [
    "HDI_PROB", "BayesMoEError", "Fit", "FitError", "FitFileError", "Law", "LawError", "PlanError",
    "Runs", "RunsError", "SamplingWarning", "datasets", "fit", "get_law", "list_laws", "load",
    "load_runs", "register_law", "simulate",
]  # fmt: skip
