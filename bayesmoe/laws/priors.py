"""Prior specifications such as ``"LogNormal(3, 2)"``, parsed safely.

A prior is written in the paper's own terms (on the parameter itself). The fitter chooses
how to sample it; for that it needs each prior's support and, for prefactors, the prior of
the logarithm (so that a reference-scale shear keeps the prior exact, see ``bayesmoe.inference.fitting``).
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayesmoe.errors import PriorError

#: family -> (argument names, support: "real" | "positive" | "interval" | "point")
#: ``Fixed(value)`` holds a parameter at a known value (e.g. one the runs cannot identify).
FAMILIES: dict[str, tuple[tuple[str, ...], str]] = {
    "Fixed": (("value",), "point"),
    "Normal": (("mu", "sigma"), "real"),
    "StudentT": (("nu", "mu", "sigma"), "real"),
    "HalfNormal": (("sigma",), "positive"),
    "Exponential": (("lam",), "positive"),
    "Gamma": (("alpha", "beta"), "positive"),
    "LogNormal": (("mu", "sigma"), "positive"),
    "LogUniform": (("lower", "upper"), "positive"),
    "Uniform": (("lower", "upper"), "interval"),
    "TruncatedNormal": (("mu", "sigma", "lower", "upper"), "interval"),
}


@dataclass(frozen=True)
class Prior:
    """One prior: a family from :data:`FAMILIES` and its numeric arguments."""

    family: str
    args: tuple[float, ...]

    @classmethod
    def parse(cls, text: str, where: str = "prior") -> Prior:
        """Parse ``"Family(a, b, ...)"``; only numbers are accepted as arguments."""
        if not isinstance(text, str):
            raise PriorError(f"{where}: prior must be a string like 'Normal(0, 1)', got {text!r}")
        try:
            node = ast.parse(text.strip(), mode="eval").body
        except SyntaxError:
            raise PriorError(f"{where}: cannot parse prior {text!r}") from None
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)) or node.keywords:
            raise PriorError(f"{where}: prior must look like 'Normal(0, 1)', got {text!r}")
        family = node.func.id
        if family not in FAMILIES:
            raise PriorError(f"{where}: unknown prior family {family!r}; known: {', '.join(FAMILIES)}")
        args = []
        for a in node.args:
            try:
                value = ast.literal_eval(a)
            except ValueError:
                raise PriorError(f"{where}: prior arguments must be numbers in {text!r}") from None
            if type(value) not in (int, float) or not math.isfinite(value):
                raise PriorError(f"{where}: prior arguments must be finite numbers in {text!r}")
            args.append(float(value))
        prior = cls(family, tuple(args))
        prior._check(where)
        return prior

    def _check(self, where: str) -> None:
        names, _ = FAMILIES[self.family]
        if len(self.args) != len(names):
            raise PriorError(f"{where}: {self.family} takes ({', '.join(names)}), got {self}")
        kw = dict(zip(names, self.args, strict=True))
        for scale in ("sigma", "lam", "alpha", "beta", "nu"):
            if scale in kw and kw[scale] <= 0:
                raise PriorError(f"{where}: {self.family} needs {scale} > 0, got {self}")
        if "lower" in kw and not kw["lower"] < kw["upper"]:
            raise PriorError(f"{where}: {self.family} needs lower < upper, got {self}")
        if self.family == "LogUniform" and kw["lower"] <= 0:
            raise PriorError(f"{where}: LogUniform needs lower > 0, got {self}")

    def __str__(self) -> str:
        return f"{self.family}({', '.join(f'{a:g}' for a in self.args)})"

    @property
    def kw(self) -> dict[str, float]:
        return dict(zip(FAMILIES[self.family][0], self.args, strict=True))

    @property
    def support(self) -> str:
        return FAMILIES[self.family][1]

    @property
    def fixed(self) -> bool:
        """True for ``Fixed(value)``: the parameter is held, not sampled or optimised."""
        return self.support == "point"

    @property
    def bounds(self) -> tuple[float, float]:
        if self.support == "point":
            return self.args[0], self.args[0]
        if self.support == "interval":
            return self.kw["lower"], self.kw["upper"]
        if self.support == "positive":
            return 0.0, math.inf
        return -math.inf, math.inf

    # ---------------------------------------------------------------- PyMC
    def pymc(self, name: str, *, shift: Any = 0.0, dims: Any = None) -> Any:
        """Create the random variable in the current PyMC model.

        Log-family priors are sampled as ``log_<name>`` and exponentiated; ``shift`` moves
        the sampled variable (``log_<name> + shift``), which is how the fitter samples a
        prefactor at a reference scale without changing its prior (unit Jacobian). A Normal
        prior is sampled as ``<name> * exp(shift)``, again exactly normal.
        """
        import pymc as pm

        kw = self.kw
        if self.family == "Fixed":
            return pm.Deterministic(name, pm.math.constant(kw["value"], dtype="float64"), dims=dims)
        if self.family == "LogNormal":
            u = pm.Normal(f"log_{name}_ref", mu=kw["mu"] + shift, sigma=kw["sigma"], dims=dims)
            return pm.Deterministic(name, pm.math.exp(u - shift), dims=dims)
        if self.family == "LogUniform":
            # z = logit of the position in [log lower, log upper] is Logistic(0, 1); shift it by
            # the slope of z at the centre so that the sampled coordinate moves as log_<name> + shift
            lo, hi = math.log(kw["lower"]), math.log(kw["upper"])
            g = shift * 4.0 / (hi - lo)
            w = pm.Logistic(f"log_{name}_ref", mu=g, s=1.0, dims=dims)
            return pm.Deterministic(name, pm.math.exp(lo + (hi - lo) * pm.math.sigmoid(w - g)), dims=dims)
        if self.family == "Normal" and not (isinstance(shift, float) and shift == 0.0):
            # location-scale: p * exp(shift) ~ Normal(mu * exp(shift), sigma * exp(shift)) exactly
            c = pm.math.exp(shift)
            u = pm.Normal(f"{name}_ref", mu=kw["mu"] * c, sigma=kw["sigma"] * c, dims=dims)
            return pm.Deterministic(name, u / c, dims=dims)
        if self.family == "Normal":
            # standardised: samplers start chains at the prior centre plus U(-1, 1) in the sampled
            # coordinate, which for Normal(0, 0.05) would be 20 prior sds out
            z = pm.Normal(f"{name}_std", mu=0.0, sigma=1.0, dims=dims)
            return pm.Deterministic(name, kw["mu"] + kw["sigma"] * z, dims=dims)
        dist = getattr(pm, self.family)
        return dist(name, **kw, dims=dims)

    def pymc_level(self, name: str, offset: Any, *, dims: Any = None) -> Any:
        """Create an additive parameter (an irreducible loss) sampled as ``<name> + offset``.

        With ``offset`` the rest of the loss at the reference point, the sampled coordinate is
        (to first order) the loss there, which the runs pin down, instead of a value that
        trades off against the slowest power-law term. Exact for every family handled: the
        map is a shift in the prior's unconstrained coordinate (unit Jacobian); other
        families are sampled plainly.
        """
        import pymc as pm

        kw = self.kw
        if self.family == "Normal":
            u = pm.Normal(f"{name}_level", mu=kw["mu"] + offset, sigma=kw["sigma"], dims=dims)
            return pm.Deterministic(name, u - offset, dims=dims)
        if self.family == "LogNormal":
            g = offset / math.exp(kw["mu"])  # d log(p) / dp at the prior median
            w = pm.Normal(f"log_{name}_level", mu=kw["mu"] + g, sigma=kw["sigma"], dims=dims)
            return pm.Deterministic(name, pm.math.exp(w - g), dims=dims)
        if self.family == "Uniform":
            lo, hi = kw["lower"], kw["upper"]
            # d logit / dp at the centre (the logit is Logistic(0, 1)), at most 1 per unit of loss:
            # a narrow prior leaves eps prior-dominated, and a steep shift would saturate the logit
            g = offset * min(4.0 / (hi - lo), 1.0)
            w = pm.Logistic(f"{name}_level", mu=g, s=1.0, dims=dims)
            return pm.Deterministic(name, lo + (hi - lo) * pm.math.sigmoid(w - g), dims=dims)
        return self.pymc(name, dims=dims)

    # ---------------------------------------------------------------- NumPy
    def sample(self, rng: np.random.Generator, size: Any = None) -> np.ndarray:
        """Draw from the prior with NumPy (simulation, calibration)."""
        kw = self.kw
        f = self.family
        if f == "Fixed":
            return np.full(size, kw["value"]) if size is not None else kw["value"]
        if f == "Normal":
            return rng.normal(kw["mu"], kw["sigma"], size)
        if f == "StudentT":
            return kw["mu"] + kw["sigma"] * rng.standard_t(kw["nu"], size)
        if f == "HalfNormal":
            return np.abs(rng.normal(0.0, kw["sigma"], size))
        if f == "Exponential":
            return rng.exponential(1.0 / kw["lam"], size)
        if f == "Gamma":
            return rng.gamma(kw["alpha"], 1.0 / kw["beta"], size)
        if f == "LogNormal":
            return np.exp(rng.normal(kw["mu"], kw["sigma"], size))
        if f == "LogUniform":
            return np.exp(rng.uniform(math.log(kw["lower"]), math.log(kw["upper"]), size))
        if f == "Uniform":
            return rng.uniform(kw["lower"], kw["upper"], size)
        # TruncatedNormal by rejection: fine for the moderate truncations priors use
        out = np.empty(np.broadcast_shapes(() if size is None else np.atleast_1d(size)), float)
        flat = out.reshape(-1)
        filled = 0
        while filled < flat.size:
            x = rng.normal(kw["mu"], kw["sigma"], 4 * (flat.size - filled) + 16)
            x = x[(x > kw["lower"]) & (x < kw["upper"])][: flat.size - filled]
            flat[filled : filled + x.size] = x
            filled += x.size
        return out if size is not None else out.reshape(()).item()

    def typical(self) -> float:
        """A central value (the median), used as a default where no published value exists."""
        return float(np.median(self.sample(np.random.default_rng(0), 4001)))

    def contains(self, value: float) -> bool:
        lo, hi = self.bounds
        if self.support == "point":
            return math.isclose(value, lo, rel_tol=1e-12, abs_tol=0.0)
        return lo < value < hi if self.support != "real" else math.isfinite(value)

    # ------------------------------------------------- unconstrained space (group offsets)
    def to_free(self, x: Any, lib: Any = np) -> Any:
        """Map a value to the unconstrained line (identity, log or logit by support)."""
        if self.support == "positive":
            return lib.log(x)
        if self.support == "interval":
            lo, hi = self.bounds
            return lib.log(x - lo) - lib.log(hi - x)
        return x

    def from_free(self, z: Any, lib: Any = np) -> Any:
        """Inverse of :meth:`to_free`."""
        if self.support == "positive":
            return lib.exp(z)
        if self.support == "interval":
            lo, hi = self.bounds
            return lo + (hi - lo) / (1 + lib.exp(-z))
        return z
