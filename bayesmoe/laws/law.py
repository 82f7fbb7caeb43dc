"""Law forms as data: one TOML file per law in ``models/``, loaded into a :class:`Law`.

A law file states the formula, its inputs, the parameters with default priors and
published values, which parameters may vary by group, derived quantities and the
citation. Adding a file to ``models/`` (or passing the same dict to :meth:`Law.from_dict`)
is all it takes to add a law.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
import os
import tomllib
import unicodedata
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bayesmoe.errors import LawError
from bayesmoe.laws import expr, limits
from bayesmoe.laws.priors import Prior
from bayesmoe.runs.columns import CANONICAL
from bayesmoe.runs.compute import compute_of_inputs

#: Names the fitter uses for its own variables; a law may not use them.
RESERVED = {"sigma", "nu", "loss", "log_loss", "group", "run", "chain", "draw"}


class ParamSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prior: str
    published: float | dict[str, float] | None = None
    description: str = ""


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str
    minimum: float = 0.0
    maximum: float | None = None
    #: log-uniform range that simulated designs draw it from (default 1-8)
    design: tuple[float, float] | None = None


class DerivedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    formula: str
    description: str = ""


class SamplingSpec(BaseModel):
    """Sampler settings a law's posterior is known to need (used where the caller gives none)."""

    model_config = ConfigDict(extra="forbid")
    target_accept: float | None = Field(None, gt=0.5, lt=1.0)
    tune: int | None = Field(None, ge=100, le=100_000)
    #: draws per chain where 1000 leave too few effective draws for the diagnostics' bar
    draws: int | None = Field(None, ge=100, le=100_000)


class PriorSetSpec(BaseModel):
    """A named set of priors that replaces some defaults (e.g. derived from a pool of sweeps)."""

    model_config = ConfigDict(extra="forbid")
    description: str = Field(min_length=1)
    #: how the numbers were obtained (benchmark, data, date), so a user can judge and redo them
    source: str = Field(min_length=1)
    priors: dict[str, str] = Field(min_length=1)


class LawSpec(BaseModel):
    """The schema of a law file."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)
    title: str = ""
    citation: str
    description: str = ""
    inputs: list[str] = Field(min_length=1)
    loss: str
    #: N_a as a formula of the inputs, for a law written in total parameters N (e.g. "N * G / E"):
    #: what a plan counts training FLOPs from. Unset: N_a is an input, or the model is dense.
    active: str = ""
    define: dict[str, str] = {}
    constants: dict[str, float] = {}
    params: dict[str, ParamSpec] = Field(min_length=1)
    pooled: list[str] = []
    extra_inputs: dict[str, InputSpec] = {}
    derived: dict[str, DerivedSpec] = {}
    sampling: SamplingSpec = SamplingSpec()
    prior_sets: dict[str, PriorSetSpec] = {}

    @field_validator("inputs")
    @classmethod
    def _unique_inputs(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("inputs are listed twice")
        return v


def _checked(text: str, defs: Mapping[str, expr.Node], where: str) -> expr.Node:
    """Parse a formula, check its constant parts, inline the definitions and check the size."""
    tree = expr.parse(text, where)
    limits.check_constants(tree, where)
    return limits.check_size(expr.substitute(tree, defs), where)


class Law:
    """A scaling-law form: formula, inputs, parameters with priors, derived quantities."""

    def __init__(self, spec: LawSpec, source: str | None = None, origin: str | None = None):
        self.spec = spec
        self.source = source
        self.name = spec.name
        where = f"law {spec.name!r}" + (f" ({origin})" if origin else "")
        names: dict[str, str] = {}
        for kind, keys in (
            ("input", spec.inputs),
            ("parameter", spec.params),
            ("constant", spec.constants),
            ("definition", spec.define),
        ):
            for key in keys:
                plain = unicodedata.normalize("NFKC", key)
                if not plain.isascii():
                    odd = next(c for c in plain if not c.isascii())
                    raise LawError(
                        f"{where}: {kind} name {key!r} has the non-ASCII character {odd!r} "
                        f"(U+{ord(odd):04X} {unicodedata.name(odd, '?')}); names must be ASCII so that "
                        "look-alike letters cannot stand for one another"
                    )
                if plain != key and plain in names:
                    raise LawError(f"{where}: {kind} name {key!r} is a look-alike of the {names[plain]} {plain!r}")
                if plain != key:
                    raise LawError(
                        f"{where}: {kind} name {key!r} is written with look-alike characters; write {plain!r}"
                    )
                if not key.isidentifier() or key.startswith("_"):
                    raise LawError(f"{where}: {kind} name {key!r} is not a valid identifier")
                if key in RESERVED:
                    raise LawError(f"{where}: {kind} name {key!r} is reserved by bayesmoe")
                if key in names:
                    raise LawError(f"{where}: {key!r} is both a {names[key]} and a {kind}")
                names[key] = kind
        for name in spec.inputs:
            if name not in CANONICAL and name not in spec.extra_inputs:
                raise LawError(
                    f"{where}: input {name!r} is not a standard column "
                    f"({', '.join(CANONICAL)}); describe it under [extra_inputs.{name}]"
                )
        for key, value in spec.constants.items():
            if not math.isfinite(value):
                raise LawError(f"{where}: constant {key!r} is {value}; constants must be finite numbers")
        self.priors = {k: Prior.parse(p.prior, f"{where}, parameter {k!r}") for k, p in spec.params.items()}
        # inline definitions (in order; later ones may use earlier ones)
        defs: dict[str, expr.Node] = {}
        for key, text in spec.define.items():
            tree = _checked(text, defs, f"{where}, define {key!r}")
            defs[key] = tree
        self.loss_tree = _checked(spec.loss, defs, f"{where}, loss")
        known = set(spec.inputs) | set(spec.params) | set(spec.constants)
        unknown = expr.symbols(self.loss_tree) - known
        if unknown:
            raise LawError(f"{where}: loss uses unknown name(s) {sorted(unknown)}")
        unused = (set(spec.params) | set(spec.inputs)) - expr.symbols(self.loss_tree)
        if unused:
            raise LawError(f"{where}: declared but not used in the loss: {sorted(unused)}")
        self.active_tree: expr.Node | None = None
        if spec.active:
            if "N_a" in spec.inputs or "N" not in spec.inputs:
                raise LawError(f"{where}: 'active' gives N_a for a law in total parameters N without an N_a input")
            self.active_tree = _checked(spec.active, defs, f"{where}, active")
            stray = expr.symbols(self.active_tree) - set(spec.inputs) - set(spec.constants)
            if stray:
                raise LawError(f"{where}: 'active' may use only inputs and constants, not {sorted(stray)}")
        self._prior_sets: dict[str, dict[str, Prior]] = {}
        for set_name, ps in spec.prior_sets.items():
            bad = sorted(set(ps.priors) - set(spec.params))
            if bad:
                raise LawError(f"{where}: prior set {set_name!r} names {bad}, which are not parameters")
            self._prior_sets[set_name] = {
                k: Prior.parse(v, f"{where}, prior set {set_name!r}, parameter {k!r}") for k, v in ps.priors.items()
            }
        bad_pooled = set(spec.pooled) - set(spec.params)
        if bad_pooled:
            raise LawError(f"{where}: pooled names are not parameters: {sorted(bad_pooled)}")
        self.derived_trees: dict[str, expr.Node] = {}
        for key, d in spec.derived.items():
            if key in names:
                raise LawError(f"{where}: derived name {key!r} clashes with a {names[key]}")
            tree = _checked(d.formula, defs, f"{where}, derived {key!r}")
            extra = expr.symbols(tree) - known
            if extra:
                raise LawError(f"{where}: derived {key!r} uses unknown name(s) {sorted(extra)}")
            self.derived_trees[key] = tree
        for key, p in spec.params.items():
            pub = p.published
            values = pub.values() if isinstance(pub, dict) else ([] if pub is None else [pub])
            for v in values:
                if not math.isfinite(v):
                    raise LawError(f"{where}: published {key}={v} is not a finite number")
                if not self.priors[key].contains(v) and self.priors[key].support != "real":
                    raise LawError(f"{where}: published {key}={v} lies outside its prior support")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "law") -> Law:
        try:
            spec = LawSpec.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise LawError(f"{where}: invalid law spec at {loc}: {first['msg']}") from None
        return cls(spec, origin=None if where == "law" else where)

    @classmethod
    def from_toml(cls, text: str, where: str = "law file") -> Law:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise LawError(f"{where}: not valid TOML: {exc}") from None
        law = cls.from_dict(data, where)
        law.source = text
        return law

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> Law:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LawError(f"cannot read law file {path}: {exc}") from None
        return cls.from_toml(text, where=f"law file {path}")

    def to_dict(self) -> dict[str, Any]:
        return self.spec.model_dump(exclude_defaults=True)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @cached_property
    def spec_hash(self) -> str:
        """Hash of the law's full spec: a saved fit is tied to exactly this law."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    # ------------------------------------------------------------------ properties
    @property
    def inputs(self) -> list[str]:
        return list(self.spec.inputs)

    @property
    def size_input(self) -> str:
        """The parameter count that sets FLOPs per token: ``N_a`` where the law has it, else ``N``."""
        return "N_a" if "N_a" in self.spec.inputs else "N"

    def activated(self, inputs: Mapping[str, Any]) -> Any:
        """N_a at ``inputs``: the input itself, the law's ``active`` formula, or N for a dense law."""
        if "N_a" in self.spec.inputs:
            return inputs["N_a"]
        if self.active_tree is not None:
            return expr.evaluate(self.active_tree, {**self.constants, **inputs})
        return inputs["N"]

    def compute(self, inputs: Mapping[str, Any]) -> Any | None:
        """Training FLOPs at ``inputs`` as this law counts them: the FLOPs formula
        (:func:`~bayesmoe.runs.compute.compute_of_inputs`) on the law's own inputs, with N_a
        from :meth:`activated`; None for a law without D."""
        x = {k: inputs[k] for k in self.spec.inputs}
        if "N" in x or "N_a" in x:
            x["N_a"] = self.activated(inputs)
        return compute_of_inputs(x)

    @property
    def params(self) -> list[str]:
        return list(self.spec.params)

    @property
    def pooled(self) -> list[str]:
        return list(self.spec.pooled)

    @property
    def prior_sets(self) -> list[str]:
        """Names of the law file's alternative prior sets (``[prior_sets.<name>]``)."""
        return list(self._prior_sets)

    def prior_set(self, name: str) -> dict[str, Prior]:
        """The priors set ``name`` replaces (the others keep their defaults)."""
        if name not in self._prior_sets:
            have = ", ".join(repr(k) for k in self._prior_sets) or "none"
            raise LawError(f"law {self.name!r} has no prior set {name!r} (it has: {have})")
        return dict(self._prior_sets[name])

    @property
    def constants(self) -> dict[str, float]:
        return dict(self.spec.constants)

    def published(self, variant: str | None = None) -> dict[str, float]:
        """Published coefficients (one variant, e.g. a router type, where there are several)."""
        out = {}
        for k, p in self.spec.params.items():
            v = p.published
            if isinstance(v, dict):
                if variant is None:
                    raise LawError(f"law {self.name!r}: published values come per variant {sorted(v)}")
                if variant not in v:
                    raise LawError(f"law {self.name!r}: no published {k} for {variant!r}; has {sorted(v)}")
                v = v[variant]
            if v is not None:
                out[k] = float(v)
        return out

    def input_bounds(self, name: str) -> tuple[float, float | None]:
        if name in self.spec.extra_inputs:
            s = self.spec.extra_inputs[name]
            return s.minimum, s.maximum
        return CANONICAL[name].minimum, CANONICAL[name].maximum

    # ------------------------------------------------------------------ evaluation
    def loss_fn(self, params: Mapping[str, Any], inputs: Mapping[str, Any], ns: expr.Namespace | None = None) -> Any:
        """Expected loss for the given parameter and input values on any backend."""
        missing = [k for k in self.inputs if k not in inputs]
        if missing:
            raise LawError(f"law {self.name!r} needs input(s) {missing}")
        env = {**self.constants, **params, **inputs}
        return expr.evaluate(self.loss_tree, env, ns)

    def derived(
        self,
        name: str,
        params: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        ns: expr.Namespace | None = None,
    ) -> Any:
        if name not in self.derived_trees:
            raise LawError(f"law {self.name!r} has no derived quantity {name!r}; has {sorted(self.derived_trees)}")
        env = {**self.constants, **params, **(inputs or {})}
        return expr.evaluate(self.derived_trees[name], env, ns)

    def derived_inputs(self, name: str) -> list[str]:
        """The inputs a derived quantity depends on (empty for a pure function of parameters)."""
        return [k for k in self.inputs if k in expr.symbols(self.derived_trees[name])]

    # ------------------------------------------------------------------ display
    def latex(self) -> str:
        return "L = " + expr.to_latex(expr.parse(self.spec.loss))

    def __repr__(self) -> str:
        return f"Law({self.name!r}: L = {self.spec.loss}; inputs {self.inputs}; params {self.params})"

    def _repr_latex_(self) -> str:
        return f"$${self.latex()}$$"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(str(self.priors[k]))}</td>"
            f"<td>{html.escape(str(p.published) if p.published is not None else '')}</td>"
            f"<td>{'yes' if k in self.spec.pooled else ''}</td>"
            f"<td>{html.escape(p.description)}</td></tr>"
            for k, p in self.spec.params.items()
        )
        defs = "".join(
            f"<li><code>{html.escape(k)} = {html.escape(v)}</code></li>" for k, v in self.spec.define.items()
        )
        return (
            f"<div><b>{html.escape(self.spec.title or self.name)}</b> "
            f"(<code>{html.escape(self.name)}</code>)<br>"
            f"$$ {html.escape(self.latex())} $$"
            + (f"<ul>{defs}</ul>" if defs else "")
            + f"<p>Inputs: {', '.join(self.inputs)}. {html.escape(self.spec.citation)}</p>"
            "<table><tr><th>parameter</th><th>default prior</th><th>published</th>"
            f"<th>varies by group</th><th></th></tr>{rows}</table>"
            + "".join(
                f"<p>Prior set <code>{html.escape(k)}</code> ({html.escape(ps.description)}): "
                + ", ".join(f"<code>{html.escape(n)} ~ {html.escape(v)}</code>" for n, v in ps.priors.items())
                + "</p>"
                for k, ps in self.spec.prior_sets.items()
            )
            + "</div>"
        )
