"""Run NUTS on a built model: nutpie (default, with a compiled-model cache), PyMC or numpyro."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import arviz as az
import numpy as np

from bayesmoe._optional import require
from bayesmoe.errors import FitError
from bayesmoe.inference.nutpie_cache import compile_model, flat_initial_point, locked_point_fn

SAMPLERS = ("nutpie", "pymc", "numpyro")
#: Fastest on the 2-core reference machine (benchmarks/run.py, README "Speed").
DEFAULT_SAMPLER = "nutpie"

_COMPILED: dict[tuple, Any] = {}
_COMPILED_MAX = 16


@dataclass(frozen=True)
class SamplerSettings:
    """What NUTS runs with; validated on construction."""

    sampler: str = DEFAULT_SAMPLER
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    seed: int | None = 0
    target_accept: float = 0.9
    progressbar: bool = True
    cores: int = 1

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise FitError(f"unknown sampler {self.sampler!r}; choose one of {', '.join(SAMPLERS)}")
        for label, lo in (("draws", 1), ("tune", 0), ("chains", 1), ("cores", 1)):
            value = getattr(self, label)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < lo:
                raise FitError(f"{label} must be an integer >= {lo}, got {value!r}")
        if not 0 < self.target_accept < 1:
            raise FitError(f"target_accept must lie in (0, 1), got {self.target_accept}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _compiled_nutpie(key: tuple, model: Any) -> Any:
    """Compile a model for nutpie once per law, priors and model structure; reuse it on new runs
    (the caller swaps the data in), starting from ``model``'s own initial point."""
    import nutpie

    if os.environ.get("BAYESMOE_COMPILE_CACHE", "1") == "0":  # opt out, e.g. to compare against fresh compiles
        return nutpie.compile_pymc_model(model)
    if key not in _COMPILED:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = compile_model(model, key)  # from the disk cache in a later session
        return _COMPILED[key]
    # the cached initial point was computed from the first model's data (the sampling
    # parametrisation centres priors on the runs' reference point): start from this one's
    compiled = _COMPILED[key]
    point_fn = locked_point_fn(model)
    return replace(compiled, initial_point_func=flat_initial_point(point_fn, compiled.shape_info, compiled.n_dim))


def run_sampler(
    model: Any, settings: SamplerSettings, *, cache_key: tuple, data: Mapping[str, np.ndarray]
) -> az.InferenceData:
    """Sample ``model`` (inside its context). ``cache_key`` identifies the compiled model for
    nutpie's cache and ``data`` holds the values of its shared containers for this run."""
    import pymc as pm

    s = settings
    if s.sampler == "nutpie":
        import nutpie

        compiled = _compiled_nutpie(cache_key, model)
        compiled = compiled.with_data(**{k: v for k, v in data.items() if k in compiled.shared_data})
        seed = int(np.random.default_rng(s.seed).integers(2**31)) if s.seed is not None else None
        return nutpie.sample(
            compiled,
            draws=s.draws,
            tune=s.tune,
            chains=s.chains,
            seed=seed,
            target_accept=s.target_accept,
            progress_bar=s.progressbar,
            low_rank_modified_mass_matrix=True,
        )
    kwargs: dict[str, Any] = dict(
        draws=s.draws,
        tune=s.tune,
        chains=s.chains,
        random_seed=s.seed,
        target_accept=s.target_accept,
        progressbar=s.progressbar,
        nuts_sampler=s.sampler,
        compute_convergence_checks=False,
    )
    if s.sampler == "pymc":
        kwargs["cores"] = s.cores  # PyMC's default runs chains one after another on 2 cores
    else:
        require("numpyro", "jax", "sampler='numpyro'")
        kwargs["nuts_sampler_kwargs"] = {"chain_method": "parallel" if s.cores > 1 else "sequential"}
    return pm.sample(**kwargs)
