"""Training compute: the one home of the FLOPs formula.

Training FLOPs ``C = M * D`` with ``M = 6 * N_a + attention_flops`` FLOPs per token
(Kaplan et al. 2020's ``6N``, with Wan et al. 2026's attention term, laws.md section 2).
``N_a`` is the activated parameter count (``N`` for dense models, where every parameter is
active). All sizes are raw counts; C is in FLOPs, D in tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayesmoe.errors import RunsError

#: FLOPs per activated parameter per training token (forward + backward).
FLOPS_PER_PARAM_TOKEN = 6.0


def flops_per_token(N_a: Any, attention_flops: Any = 0.0) -> Any:
    """M: training FLOPs per token for ``N_a`` activated parameters."""
    return FLOPS_PER_PARAM_TOKEN * N_a + attention_flops


def training_flops(N_a: Any, D: Any, attention_flops: Any = 0.0) -> Any:
    """C = M * D: training FLOPs of ``D`` tokens at ``N_a`` activated parameters."""
    return flops_per_token(N_a, attention_flops) * D


def tokens_for_budget(C: Any, N_a: Any, attention_flops: Any = 0.0) -> Any:
    """D = C / M: the tokens a budget of ``C`` FLOPs buys at ``N_a`` activated parameters."""
    return C / flops_per_token(N_a, attention_flops)


def active_for_flops_per_token(M: Any, attention_flops: Any = 0.0) -> Any:
    """N_a from M (the inverse of :func:`flops_per_token`)."""
    return (M - attention_flops) / FLOPS_PER_PARAM_TOKEN


def compute_of_inputs(x: Mapping[str, Any]) -> Any | None:
    """Training compute from a mapping of inputs: ``C``, else ``M * D``, else 6 N_a D (6 N D); None if not derivable."""
    if "C" in x:
        return x["C"]
    if "D" not in x:
        return None
    if "M" in x:
        return x["M"] * x["D"]
    size = x.get("N_a", x.get("N"))
    return None if size is None else training_flops(size, x["D"])


def compute_of(df: pd.DataFrame) -> pd.Series:
    """Training compute of each run in a table (see :func:`compute_of_inputs`)."""
    cols = {k: df[k].astype(float) for k in ("C", "M", "D", "N_a", "N") if k in df}
    c = compute_of_inputs(cols)
    if c is None:
        raise RunsError(
            f"cannot compute training FLOPs: the runs need C, or D with M, N_a or N (columns: {list(df.columns)})"
        )
    return pd.Series(np.asarray(c, float), index=df.index)
