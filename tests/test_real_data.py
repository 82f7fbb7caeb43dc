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


def test_farseer_and_muennighoff_bundled_with_their_provenance():
    far = bm.datasets.farseer2025()
    # 411 rows in the file, four of them exact copies (see data/farseer2025/README.md)
    assert len(far) == 407 and not far.df.duplicated(["N", "D"]).any()
    assert far.loss().max() < 1.0  # bits per character, not nats/token
    assert "bits per character" in far.source
    dc = bm.datasets.muennighoff2023()
    assert len(dc) == 182 and dc.df["epochs"].max() == pytest.approx(9000)
    single = bm.datasets.muennighoff2023(max_epochs=1)
    assert len(single) == 29 and (single.df["D"] <= single.df["U_D"]).all()
    assert set(bm.datasets.names()) >= {"farseer2025", "muennighoff2023"}
    with pytest.raises(bm.RunsError, match="max_epochs"):
        bm.datasets.muennighoff2023(max_epochs=0)


def test_olmo_ladder_bundled_with_its_provenance():
    """25 runs, five sizes x five token multipliers, D within 0.5 % of multiplier x 20 N."""
    ladder = bm.datasets.bhagia2024()
    df = ladder.df
    assert len(ladder) == 25 and df.groupby("size").size().eq(5).all()
    np.testing.assert_allclose(df["D"], 20 * df["multiplier_xC"] * df["N"], rtol=5e-3)
    # more tokens at a fixed size lower the loss, and so does a larger size at a fixed multiplier
    for _, g in df.groupby("size"):
        assert np.all(np.diff(g.sort_values("D")["loss"]) < 0)
    for _, g in df.groupby("multiplier_xC"):
        assert np.all(np.diff(g.sort_values("N")["loss"]) < 0)
    assert ladder.loss_unit == "nats/token" and "Bhagia" in ladder.source
    pile = bm.datasets.bhagia2024(val="pile")
    assert not np.allclose(pile.loss(), ladder.loss())
    assert "bhagia2024" in bm.datasets.names()
    with pytest.raises(bm.RunsError, match="unknown validation set 'c4'"):
        bm.datasets.bhagia2024(val="c4")


def test_data_constrained_law_reduces_to_chinchilla_on_one_epoch():
    """One epoch (D = U_D) gives D' = D: the Muennighoff law equals Chinchilla there, and
    repeated data is worth less than fresh data of the same size."""
    from bayesmoe.laws.catalogue import get_law

    m, c = get_law("muennighoff2023"), get_law("chinchilla")
    theta = {"E": 1.9, "A": 400.0, "alpha": 0.34, "B": 1500.0, "beta": 0.36, "R_D_star": 15.4}
    N = np.array([1e8, 1e9])
    D = np.array([2e9, 2e10])
    one = m.loss_fn(theta, {"N": N, "D": D, "U_D": D})
    np.testing.assert_allclose(one, c.loss_fn(theta, {"N": N, "D": D}), rtol=1e-12)
    repeated = m.loss_fn(theta, {"N": N, "D": D, "U_D": D / 16})
    assert np.all(repeated > one)
    # far past R_D_star the effective data saturates at U_D (1 + R_D_star)
    sat = m.loss_fn(theta, {"N": N, "D": D * 1e4, "U_D": D})
    np.testing.assert_allclose(sat, c.loss_fn(theta, {"N": N, "D": D * 16.4}), rtol=1e-9)


def test_data_constrained_law_on_less_than_one_epoch_is_chinchilla():
    from bayesmoe.laws.catalogue import get_law

    m, c = get_law("muennighoff2023"), get_law("chinchilla")
    theta = {"E": 1.9, "A": 400.0, "alpha": 0.34, "B": 1500.0, "beta": 0.36, "R_D_star": 15.4}
    N, D = np.array([1e8]), np.array([1e9])
    np.testing.assert_allclose(m.loss_fn(theta, {"N": N, "D": D, "U_D": D * 100}), c.loss_fn(theta, {"N": N, "D": D}))
