"""Fits to the bundled real runs (short chains; the full runs live in benchmarks/)."""

import warnings

import numpy as np
import pytest

import bayesmoe as bm

TOL = {"a": 0.006, "b": 0.035, "c": 0.004, "d": 0.05}


def test_clark2022_sbase_matches_published():
    runs = bm.datasets.clark2022("S-Base")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = bm.fit("clark2022", runs, draws=300, tune=400, chains=2, progressbar=False)
    pub = f.law.published("S-Base")
    for k, tol in TOL.items():
        assert np.median(f.idata.posterior[k].values) == pytest.approx(pub[k], abs=tol), k


def test_chinchilla_pooled_across_gadre_corpora():
    runs = bm.datasets.gadre2024()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = bm.fit("chinchilla", runs, groups="corpus", draws=200, tune=300, chains=2, progressbar=False)
    assert f.group_levels == ["c4_original", "rpj", "rw_original"]
    e = f.idata.posterior["E_group"].median(("chain", "draw"))
    # the corpora differ in irreducible loss (c4 is the hardest of the three in-distribution sets)
    assert float(e.sel(group="c4_original")) > float(e.sel(group="rpj"))
    assert 0.15 < float(f.idata.posterior["alpha"].median()) < 0.45
