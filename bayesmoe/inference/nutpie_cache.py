"""nutpie's compiled model, with wrappers and rewritten functions kept on disk across sessions.

``nutpie.compile_pymc_model`` wraps the log density PyTensor compiled into two Numba C
callbacks. Those read the runs through a tuple of arrays frozen into their code, which Numba
refuses to cache ("dynamic globals"), so every new process compiled them again: 8-12 s on
zhao2025, although PyTensor's own cache already held the log density. The wrappers here read
every data array through the pointers in nutpie's user data instead. They are generated as
source, keyed by a hash of that source, of PyTensor's cache key for the function they call and
of the library versions, and cached by PyTensor's Numba cache locator, so a later process
loads them in milliseconds. A loaded wrapper computes the log density and gradient nutpie's own
does, equal to about 1e-14 (LLVM optimises code it links afresh in another order), and every
session that loads it draws the same chains for a seed (``tests/test_nutpie_cache.py``). As with
PyTensor's own cache before, the session that compiles a law may draw other chains for that seed
than later sessions (measured on zhao2025: a sum over 600 draws of alpha 151.06 when everything
was compiled, 155.98 with nutpie's wrappers once PyTensor's cache was filled, 155.33 with these
loaded): the same posterior, not the same bits.

Before the wrappers, nutpie builds the log density and its gradient and PyTensor rewrites the
graph (4.6 s of zhao2025's compilation). Given the key of the compiled-model cache (law, priors,
structure), the rewritten functions are pickled beside PyTensor's cache and a later process
unpickles them (0.8 s), then puts its own runs into them. That key also holds a hash of
bayesmoe's source and the library versions, so a changed model builder never meets a stale graph.

A Student-t fit's gradient calls digamma, which PyTensor compiles to a call into SciPy that
Numba cannot cache; ``bayesmoe.inference.digamma`` registers a cacheable one first.

The wrappers follow nutpie's own (``nutpie/compile_pymc.py``, 0.16). For another nutpie
version, a log density PyTensor cannot cache, or PyTensor's Numba cache turned off
(``numba__cache=False``), nutpie's own compilation is used.
"""

from __future__ import annotations

import hashlib
import pickle
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from bayesmoe.errors import FitFileError
from bayesmoe.files import atomic_path

#: Bumped whenever the generated source changes meaning without changing its text.
WRAPPER_VERSION = "1"

_LOGP = """
def {name}(dim, x_, out_, logp_, user_data_):
    if dim != {n_dim}:
        return -1
    try:
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_dim},))
        logp = numba.carray(logp_, ())
        a = EXTRACT(user_data_)
        logp_val, grad = INNER({call})
        logp[()] = logp_val
        out[...] = grad
        if not np.all(np.isfinite(out)):
            return 3
        if not np.isfinite(logp_val):
            return 4
    except Exception:  # noqa: BLE001
        return 1
    return 0
"""

_EXPAND = """
def {name}(dim, expanded, x_, out_, user_data_):
    if dim != {n_dim}:
        return -1
    if expanded != {n_expanded}:
        return -1
    try:
        x = numba.carray(x_, ({n_dim},))
        out = numba.carray(out_, ({n_expanded},))
        a = EXTRACT(user_data_)
        (values,) = INNER({call})
        out[...] = values
    except Exception:  # noqa: BLE001
        return -2
    return 0
"""


def supported() -> bool:
    """Whether this nutpie is the one the wrappers were written against."""
    import nutpie
    from nutpie import compile_pymc as cp

    needed = (
        "_make_functions",
        "make_user_data",
        "address_as_void_pointer",
        "_prepare_dims_and_coords",
        "_rv_dict_to_flat_array_wrapper",
        "_wrap_with_lock",
    )
    return nutpie.__version__.startswith("0.16.") and all(hasattr(cp, n) for n in needed)


def support_point_fn(model: Any) -> Any:
    """seed -> initial point of ``model`` as nutpie starts chains: the support point with
    jitter, in the transformed (sampled) coordinates, as a dict by value-variable name."""
    from pymc.initial_point import make_initial_point_fn

    return make_initial_point_fn(
        model=model, default_strategy="support_point", jitter_rvs=set(model.free_RVs), return_transformed=True
    )


def locked_point_fn(model: Any) -> Any:
    """:func:`support_point_fn` behind a lock: chains ask for their starts from several threads."""
    from nutpie import compile_pymc as cp

    return cp._wrap_with_lock(support_point_fn(model))


def flat_initial_point(point_fn: Any, shape_info: tuple, n_dim: int) -> Any:
    """seed -> a model's initial point (``point_fn``, :func:`locked_point_fn`) as the flat vector a compiled
    model samples, laid out by that compiled model's own ``shape_info``, not by ``model.free_RVs``:
    the same law with its parameters listed in another order (e.g. read back from JSON, which
    sorts them) builds the same graph with its free variables in another order and reuses it."""
    from nutpie import compile_pymc as cp

    # the sampled (unconstrained) variables come first in shape_info, filling [0, n_dim)
    joined = [(n, sh) for n, sl, sh in zip(*shape_info, strict=True) if sl.stop <= n_dim]
    return cp._rv_dict_to_flat_array_wrapper(point_fn, names=[n for n, _ in joined], shapes=[sh for _, sh in joined])


def compile_model(model: Any, key: tuple | None = None) -> Any:
    """``nutpie.compile_pymc_model(model)`` (Numba backend), with cacheable wrappers; with
    ``key`` (what identifies the model's graph: law, priors, structure, noise model; see
    :func:`bayesmoe.inference.model.compiled_key`) the rewritten PyTensor functions are kept
    on disk too."""
    import nutpie
    import pytensor

    if not supported() or not pytensor.config.numba__cache:  # nothing would be kept: nutpie's own
        return nutpie.compile_pymc_model(model)
    from bayesmoe.inference import digamma

    digamma.register()  # Student-t's gradient calls digamma: a cacheable one keeps the log density cacheable
    from nutpie import compile_pymc as cp

    point_fn = locked_point_fn(model)
    n_dim, n_expanded, logp_pt, expand_pt, initial_point_fn, shape_info = _functions(model, point_fn, key)
    shared_vars = {v.name: v for v in [*logp_pt.get_shared(), *expand_pt.get_shared()]}
    shared_data = {k: np.array(v.get_value(), order="C", copy=True) for k, v in shared_vars.items()}
    for value in shared_data.values():
        value.flags.writeable = False
    user_data = cp.make_user_data(shared_vars, shared_data)
    sizes = {"n_dim": n_dim, "n_expanded": n_expanded}
    logp = _cfunc("logp", logp_pt, shared_data, user_data.dtype, sizes)
    expand = _cfunc("expand", expand_pt, shared_data, user_data.dtype, sizes)
    if logp is None or expand is None:  # PyTensor could not cache the log density: nothing to gain
        return nutpie.compile_pymc_model(model)
    dims, coords = cp._prepare_dims_and_coords(model, shape_info)
    return cp.CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp,
        compiled_expand_func=expand,
        initial_point_func=initial_point_fn,
        shared_data=shared_data,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_pt,
        expand_func=expand_pt,
    )


def _functions(model: Any, point_fn: Any, key: tuple | None) -> tuple:
    """nutpie's ``_make_functions``, its rewritten functions pickled under ``key``."""
    from nutpie import compile_pymc as cp

    path = _functions_path(key) if key is not None else None
    if path is not None and path.exists():
        try:
            n_dim, n_expanded, logp_pt, expand_pt, shape_info = pickle.loads(path.read_bytes())
        except Exception:  # a damaged or foreign cache entry is rebuilt below
            path.unlink(missing_ok=True)
        else:
            if _put_model_data(model, (logp_pt, expand_pt)):
                init = flat_initial_point(point_fn, shape_info, n_dim)
                return n_dim, n_expanded, logp_pt, expand_pt, init, shape_info
    made = cp._make_functions(
        model, mode="NUMBA", compute_grad=True, join_expanded=True, pymc_initial_point_fn=point_fn, var_names=None
    )
    if path is not None:
        n_dim, n_expanded, logp_pt, expand_pt, _, shape_info = made
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:  # a reader sees the whole entry or none
                tmp.write_bytes(pickle.dumps((n_dim, n_expanded, logp_pt, expand_pt, shape_info)))
        except (OSError, FitFileError):  # a cache that cannot be written only costs the next process time
            pass
    return made


def _functions_path(key: tuple) -> Path:
    import pytensor

    digest = hashlib.sha256(f"{WRAPPER_VERSION}|{_code_and_versions()}|{key!r}".encode()).hexdigest()
    return Path(pytensor.config.base_compiledir) / "bayesmoe" / f"functions-{digest[:32]}.pkl"


@cache
def _code_and_versions() -> str:
    """bayesmoe's source and the versions of what builds and rewrites the graph."""
    import numba
    import nutpie
    import pymc
    import pytensor

    root = Path(__file__).resolve().parents[1]
    code = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        code.update(f.relative_to(root).as_posix().encode() + f.read_bytes())
    return f"{code.hexdigest()}|{pymc.__version__}|{pytensor.__version__}|{nutpie.__version__}|{numba.__version__}"


def _put_model_data(model: Any, functions: tuple) -> bool:
    """Give loaded functions this model's data; False where a data name is not the model's."""
    for fn in functions:
        for var in fn.get_shared():
            mine = model.named_vars.get(var.name)
            if mine is None or not hasattr(mine, "get_value"):
                return False
            var.set_value(mine.get_value())
    return True


def _extract_source(names: list[str], shared_data: dict[str, np.ndarray]) -> str:
    """Source of a function returning the data arrays, read through nutpie's user-data pointers."""
    lines = ["def {name}(user_data_):", '    ud = numba.carray(user_data_, (), RECORD)["shared"]']
    for i, n in enumerate(names):
        arr = shared_data[n]
        lines.append(f"    p{i} = address_as_void_pointer(ud['data'][{n!r}][()])")
        lines.append(f"    a{i} = numba.carray(p{i}, int(ud['size'][{n!r}][()]), np.{arr.dtype.name})")
        shape = "".join(f"int(ud['shape'][{n!r}][{k}]), " for k in range(arr.ndim))
        lines.append(f"    a{i} = a{i}.reshape(({shape}))")
    lines.append("    return (" + "".join(f"a{i}, " for i in range(len(names))) + ")")
    return "\n".join(lines) + "\n"


def _cfunc(kind: str, fn_pt: Any, shared_data: dict[str, np.ndarray], record: Any, sizes: dict[str, int]) -> Any:
    """The C callback of ``kind`` (``logp`` or ``expand``) around PyTensor function ``fn_pt``,
    or None where PyTensor holds no cache key for it."""
    import numba
    import nutpie
    import pytensor
    from nutpie import compile_pymc as cp
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, compile_numba_function_src

    inner = fn_pt.vm.jit_fn
    inner_key = CACHED_SRC_FUNCTIONS.get(inner.py_func)
    if inner_key is None:
        return None
    names = [v.name for v in fn_pt.get_shared()]
    call = ", ".join(["x", *(f"a[{i}]" for i in range(len(names)))])
    extract_src = _extract_source(names, shared_data)
    body = (_LOGP if kind == "logp" else _EXPAND).replace("{call}", call)
    body = body.replace("{n_dim}", str(sizes["n_dim"])).replace("{n_expanded}", str(sizes["n_expanded"]))
    versions = f"{WRAPPER_VERSION}|{nutpie.__version__}|{pytensor.__version__}|{numba.__version__}"
    key = hashlib.sha256(f"{versions}|{inner_key}|{record.descr}|{extract_src}|{body}".encode()).hexdigest()
    env = {
        "__name__": __name__,  # Numba rebuilds a cached function's environment from this module
        "numba": numba,
        "np": np,
        "RECORD": record,
        "address_as_void_pointer": cp.address_as_void_pointer,
    }
    extract_name = f"bayesmoe_extract_{key[:24]}"
    extract = compile_numba_function_src(
        extract_src.replace("{name}", extract_name), extract_name, dict(env), cache_key=f"{key}-extract"
    )
    name = f"bayesmoe_{kind}_{key[:24]}"
    env |= {"EXTRACT": numba.njit(cache=True)(extract), "INNER": inner}
    wrapper = compile_numba_function_src(body.replace("{name}", name), name, env, cache_key=key)
    ptr = numba.types.CPointer(numba.types.double)
    if kind == "logp":
        sig = numba.types.int64(numba.types.uint64, ptr, ptr, ptr, numba.types.voidptr)
    else:
        sig = numba.types.int64(numba.types.uint64, numba.types.uint64, ptr, ptr, numba.types.voidptr)
    return numba.cfunc(sig, cache=True)(wrapper)
