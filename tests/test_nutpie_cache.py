"""Cacheable nutpie wrappers and rewritten functions: a later process loads them from disk,
draws what every other later process draws for a seed, and computes nutpie's own log density."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bayesmoe as bm
from bayesmoe.inference import nutpie_cache
from bayesmoe.inference.model import build_model, model_data

SCRIPT = """
import json, sys
import numpy as np, nutpie
import bayesmoe as bm
from bayesmoe.inference.model import build_model
from bayesmoe.inference.nutpie_cache import compile_model
runs = bm.simulate("chinchilla", bm.laws.generic_design("chinchilla", 30, seed=3),
                   {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 1500.0, "beta": 0.28}, seed=4)  # as _runs()
c = compile_model(build_model(bm.get_law("chinchilla"), runs), ("test_nutpie_cache", 1))
tr = nutpie.sample(c, draws=40, tune=60, chains=2, seed=11, progress_bar=False)
print(json.dumps({"hits": c.compiled_logp_func._cache_hits + c.compiled_expand_func._cache_hits,
                  "alpha": tr.posterior["alpha"].values.ravel().tolist()}))
"""


def _cache_without_wrappers(base_compiledir):
    """A copy of PyTensor's caches (the Numba one hard-linked: Numba replaces files, never
    rewrites them) without any bayesmoe wrapper, so only the wrappers start cold."""
    import shutil

    import pytensor

    src = pytensor.config.base_compiledir
    for d in src.glob("compiledir_*"):
        shutil.copytree(d, base_compiledir / d.name, symlinks=True)
    shutil.copytree(
        src / "numba",
        base_compiledir / "numba",
        copy_function=os.link,
        ignore=lambda _, names: [n for n in names if n.startswith("string.bayesmoe_")],
    )


def _in_fresh_process(base_compiledir):
    """Run SCRIPT in a new Python process on the caches in ``base_compiledir``."""
    env = os.environ | {"PYTENSOR_FLAGS": f"base_compiledir={base_compiledir}"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _runs():
    truth = {"E": 1.8, "A": 400.0, "alpha": 0.34, "B": 1500.0, "beta": 0.28}
    return bm.simulate("chinchilla", bm.laws.generic_design("chinchilla", 30, seed=3), truth, seed=4)


def _logp_and_grad(compiled, x):
    import ctypes

    out, logp = np.zeros_like(x), np.zeros(())
    as_ptr = ctypes.POINTER(ctypes.c_double)
    code = compiled.compiled_logp_func.ctypes(
        len(x),
        x.ctypes.data_as(as_ptr),
        out.ctypes.data_as(as_ptr),
        logp.ctypes.data_as(as_ptr),
        compiled.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    return code, float(logp), out


@pytest.mark.skipif(not nutpie_cache.supported(), reason="needs the nutpie version the wrappers were written for")
def test_later_processes_load_the_wrappers_and_draw_alike(tmp_path):
    _cache_without_wrappers(tmp_path)
    first, second, third = (_in_fresh_process(tmp_path) for _ in range(3))
    assert (first["hits"], second["hits"], third["hits"]) == (0, 2, 2)  # compiled once, then loaded
    assert len(list((tmp_path / "bayesmoe").glob("functions-*.pkl"))) == 1  # the rewritten graph too
    assert second["alpha"] == third["alpha"]  # a seed draws the same chains in every later session
    assert np.mean(first["alpha"]) == pytest.approx(np.mean(second["alpha"]), abs=0.03)


@pytest.mark.skipif(not nutpie_cache.supported(), reason="needs the nutpie version the wrappers were written for")
def test_the_wrapper_computes_what_nutpies_own_does():
    import nutpie

    model = build_model(bm.get_law("chinchilla"), _runs())
    ours, own = nutpie_cache.compile_model(model), nutpie.compile_pymc_model(model)
    rng = np.random.default_rng(0)
    for k in range(40):
        x = ours.initial_point_func(k) + 0.3 * rng.standard_normal(ours.n_dim)
        (c1, lp1, g1), (c2, lp2, g2) = _logp_and_grad(ours, x), _logp_and_grad(own, x)
        assert c1 == c2 and lp1 == pytest.approx(lp2, rel=1e-12)
        np.testing.assert_allclose(g1, g2, rtol=1e-10, atol=1e-12)
    # other runs, swapped in as fits do (nutpie's with_data), reach the wrapper through its pointers
    data = model_data(bm.get_law("chinchilla"), bm.load_runs(_runs().df.iloc[:12]), None)
    ours2 = ours.with_data(**{k: v for k, v in data.items() if k in ours.shared_data})
    own2 = own.with_data(**{k: v for k, v in data.items() if k in own.shared_data})
    x = ours.initial_point_func(1)
    assert _logp_and_grad(ours2, x)[1] == pytest.approx(_logp_and_grad(own2, x)[1], rel=1e-12)
    assert _logp_and_grad(ours2, x)[1] != pytest.approx(_logp_and_grad(ours, x)[1], rel=1e-6)


def test_another_nutpie_falls_back_to_its_own_compilation(monkeypatch):
    import nutpie

    monkeypatch.setattr(nutpie, "__version__", "9.0.0")
    calls = []
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda model: calls.append(model) or "own")
    assert not nutpie_cache.supported()
    assert nutpie_cache.compile_model("model") == "own" and calls == ["model"]


def test_numba_cache_turned_off_falls_back_to_nutpies_own(monkeypatch):
    import nutpie
    import pytensor

    calls = []
    monkeypatch.setattr(nutpie, "compile_pymc_model", lambda model: calls.append(model) or "own")
    model = build_model(bm.get_law("chinchilla"), _runs())
    with pytensor.config.change_flags(numba__cache=False):
        assert nutpie_cache.compile_model(model) == "own" and calls == [model]


@pytest.mark.skipif(not nutpie_cache.supported(), reason="needs the nutpie version the wrappers were written for")
def test_rewritten_functions_from_disk_take_the_new_models_runs(tmp_path, monkeypatch):
    """A model built on other runs loads the pickled functions and computes its own log density;
    a damaged entry is rebuilt."""
    import nutpie

    path = tmp_path / "functions.pkl"
    monkeypatch.setattr(nutpie_cache, "_functions_path", lambda key: path)
    law = bm.get_law("chinchilla")
    nutpie_cache.compile_model(build_model(law, _runs()), ("k",))
    assert path.exists()
    other = build_model(law, bm.load_runs(_runs().df.iloc[:17]))
    loaded, own = nutpie_cache.compile_model(other, ("k",)), nutpie.compile_pymc_model(other)
    assert loaded.n_dim == own.n_dim
    for k in range(5):
        x = own.initial_point_func(k)
        assert np.array_equal(loaded.initial_point_func(k), x)
        assert _logp_and_grad(loaded, x)[1] == pytest.approx(_logp_and_grad(own, x)[1], rel=1e-12)
    path.write_bytes(b"not a pickle")
    rebuilt = nutpie_cache.compile_model(other, ("k",))
    x = own.initial_point_func(0)
    assert _logp_and_grad(rebuilt, x)[1] == pytest.approx(_logp_and_grad(own, x)[1], rel=1e-12)
    assert path.read_bytes()[:1] == b"\x80"  # a pickle again


def test_a_reused_compiled_model_starts_from_the_new_models_point_in_its_own_layout(monkeypatch):
    """The same law with its parameters in another order (read back from JSON, which sorts them)
    shares the compiled graph, whose free variables lie in the first model's order: the reused
    model's initial point must be laid out in that order, not the new model's."""
    import json

    from bayesmoe.inference import sampling
    from bayesmoe.inference.model import compiled_key
    from bayesmoe.inference.nutpie_cache import support_point_fn
    from bayesmoe.laws.law import Law

    monkeypatch.setattr(sampling, "_COMPILED", {})
    law = bm.get_law("kaplan2020")
    again = Law.from_dict(json.loads(law.to_json()))
    runs = bm.simulate(law, bm.laws.generic_design(law, 30, seed=1), seed=2)
    first, second = build_model(law, runs), build_model(again, runs)
    order = [[m.rvs_to_values[v].name for v in m.free_RVs] for m in (first, second)]
    assert order[0] != order[1]  # else this test checks nothing
    key = compiled_key(law, first, {}, "studentt")
    assert compiled_key(again, second, {}, "studentt") == key
    sampling._compiled_nutpie(key, first)
    reused = sampling._compiled_nutpie(key, second)
    reused = reused.with_data(**{k: v for k, v in model_data(again, runs, None).items() if k in reused.shared_data})
    logp = second.compile_logp()
    for seed in range(3):
        x = reused.initial_point_func(seed)
        assert _logp_and_grad(reused, x)[1] == pytest.approx(float(logp(support_point_fn(second)(seed))), rel=1e-9)


def test_the_cacheable_digamma_is_scipys():
    """Student-t's gradient in nu needs digamma; ours (cacheable by Numba) matches SciPy's."""
    from scipy import special

    from bayesmoe.inference.digamma import digamma

    xs = np.geomspace(1e-8, 1e8, 4001)
    ours, ref = np.array([digamma(float(x)) for x in xs]), special.psi(xs)
    away = np.abs(xs - 1.4616) > 0.01  # digamma's root: relative error means nothing there
    np.testing.assert_allclose(ours[away], ref[away], rtol=1e-13)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)
    odd = np.array([0.0, -0.0, -1.0, -3.0, np.inf, -np.inf, np.nan, -2.5])
    np.testing.assert_array_equal(np.array([digamma(float(x)) for x in odd])[:-1], special.psi(odd)[:-1])
    assert digamma(-2.5) == pytest.approx(special.psi(-2.5), rel=1e-12)
