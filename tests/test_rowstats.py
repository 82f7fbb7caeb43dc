"""The surface reduction equals NumPy's mean and linear-interpolated quantiles, row by row."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayesmoe.rowstats import row_mean_quantiles

QUANTILES = [(0.05, 0.5, 0.95), (0.5,), (0.01, 0.25, 0.75, 0.99), (0.3, 0.3000001)]


@pytest.mark.parametrize("qs", QUANTILES)
@pytest.mark.parametrize("shape", [(1, 1), (5, 2), (300, 37), (700, 4000)])
def test_matches_numpy_on_random_sorted_tied_and_constant_rows(shape, qs):
    rng = np.random.default_rng(shape[0])
    v = rng.normal(size=shape)
    v[0] = np.sort(v[0])[::-1]
    if shape[0] > 2:
        v[1] = 3.0
        v[2] = np.round(v[2], 1)
    before = v.copy()
    mean, q = row_mean_quantiles(v, qs)
    np.testing.assert_allclose(q, np.quantile(v, qs, axis=1), rtol=0, atol=1e-12)
    np.testing.assert_allclose(mean, v.mean(axis=1))
    assert (v == before).all(), "the input is left untouched"


def test_non_finite_rows_propagate_as_numpy_does():
    v = np.random.default_rng(0).random((6, 50))
    v[1, 3], v[4, 0] = np.nan, np.inf
    mean, q = row_mean_quantiles(v, (0.1, 0.9))
    np.testing.assert_allclose(q, np.quantile(v, (0.1, 0.9), axis=1), equal_nan=True)
    assert np.isnan(mean[1]) and np.isinf(mean[4]) and np.isfinite(mean[[0, 2, 3, 5]]).all()


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 60)), elements=st.floats(-1e6, 1e6)),
    st.lists(st.floats(0.001, 0.999), min_size=1, max_size=5),
)
def test_any_table_and_levels(v, qs):
    _, q = row_mean_quantiles(v, qs)
    np.testing.assert_allclose(q, np.quantile(v, qs, axis=1), rtol=1e-12, atol=1e-9)


def test_overwrite_input_gives_the_same_numbers_and_rearranges_only_rows():
    v = np.random.default_rng(3).random((600, 500))
    ref_mean, ref_q = row_mean_quantiles(v, (0.05, 0.5, 0.95))
    w = v.copy()
    mean, q = row_mean_quantiles(w, (0.05, 0.5, 0.95), overwrite_input=True)
    np.testing.assert_array_equal(q, ref_q)
    np.testing.assert_allclose(mean, ref_mean)
    np.testing.assert_array_equal(np.sort(w, axis=1), np.sort(v, axis=1))  # each row keeps its values
