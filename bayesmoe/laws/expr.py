"""Safe formula expressions: parse once, evaluate with NumPy, xarray, PyTensor or JAX.

A law's formula is user text, so it is never given to ``eval``. It is parsed with
:mod:`ast` and only an allow-list of node types survives: numbers, names, ``+ - * / **``,
unary minus and calls of the functions in :data:`FUNCTIONS`. The tree is then evaluated
against a backend namespace, so the law used for sampling, surfaces and decisions is one
and the same expression.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bayesmoe.errors import LawError

#: Functions a formula may call, with their arity.
FUNCTIONS: dict[str, int] = {
    "exp": 1,
    "log": 1,
    "log10": 1,
    "sqrt": 1,
    "abs": 1,
    "minimum": 2,
    "maximum": 2,
}
MAX_FORMULA_CHARS = 4000
MAX_DEPTH = 60
#: Largest number a formula may write (a literal past it is almost surely a typo or an attack).
MAX_LITERAL = 1e30

_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Sym:
    name: str


@dataclass(frozen=True)
class Neg:
    arg: Node


@dataclass(frozen=True)
class Bin:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple[Node, ...]


Node = Num | Sym | Neg | Bin | Call


def parse(text: str, where: str = "formula") -> Node:
    """Parse ``text`` into an expression tree, refusing anything outside the allow-list."""
    if not isinstance(text, str) or not text.strip():
        raise LawError(f"{where}: empty formula")
    if len(text) > MAX_FORMULA_CHARS:
        raise LawError(f"{where}: formula longer than {MAX_FORMULA_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise LawError(f"{where}: cannot parse {text[:80]!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise LawError(f"{where}: formula nested deeper than {MAX_DEPTH} levels") from None
    return _convert(tree.body, where, 0)


def _convert(node: ast.AST, where: str, depth: int) -> Node:
    if depth > MAX_DEPTH:
        raise LawError(f"{where}: formula nested deeper than {MAX_DEPTH} levels")
    d = depth + 1
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        if (isinstance(node.value, int) and node.value.bit_length() > 110) or not abs(node.value) <= MAX_LITERAL:
            raise LawError(
                f"{where}: number {str(node.value)[:20]}... exceeds the limit of {MAX_LITERAL:g} on literals"
            )
        return Num(float(node.value))
    if isinstance(node, ast.Name):
        if not node.id.isascii():
            odd = next(c for c in node.id if not c.isascii())
            raise LawError(
                f"{where}: name {node.id!r} has the non-ASCII character {odd!r} (U+{ord(odd):04X}); names must be ASCII"
            )
        if node.id.startswith("_"):
            raise LawError(f"{where}: name {node.id!r} is not allowed (leading underscore)")
        return Sym(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        arg = _convert(node.operand, where, d)
        return Neg(arg) if isinstance(node.op, ast.USub) else arg
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return Bin(_BINOPS[type(node.op)], _convert(node.left, where, d), _convert(node.right, where, d))
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            name = getattr(node.func, "id", ast.unparse(node.func))
            raise LawError(f"{where}: function {name!r} is not allowed; allowed: {', '.join(sorted(FUNCTIONS))}")
        if node.keywords or len(node.args) != FUNCTIONS[node.func.id]:
            raise LawError(f"{where}: {node.func.id} takes {FUNCTIONS[node.func.id]} argument(s)")
        return Call(node.func.id, tuple(_convert(a, where, d) for a in node.args))
    raise LawError(f"{where}: {type(node).__name__} is not allowed in a formula ({ast.unparse(node)!r})")


def symbols(node: Node) -> set[str]:
    """Every name the expression refers to."""
    if isinstance(node, Sym):
        return {node.name}
    if isinstance(node, Neg):
        return symbols(node.arg)
    if isinstance(node, Bin):
        return symbols(node.left) | symbols(node.right)
    if isinstance(node, Call):
        return set().union(*(symbols(a) for a in node.args))
    return set()


def _rebuild(node: Node, fn: Callable[[Node], Node]) -> Node:
    """``node`` with ``fn`` applied to each of its children (leaves come back as they are)."""
    if isinstance(node, Neg):
        return Neg(fn(node.arg))
    if isinstance(node, Bin):
        return Bin(node.op, fn(node.left), fn(node.right))
    if isinstance(node, Call):
        return Call(node.func, tuple(fn(a) for a in node.args))
    return node


def substitute(node: Node, mapping: Mapping[str, Node]) -> Node:
    """Replace names by sub-expressions (used to inline a law's ``define`` entries)."""
    if isinstance(node, Sym):
        return mapping.get(node.name, node)
    return _rebuild(node, lambda n: substitute(n, mapping))


def count(node: Node, name: str) -> int:
    """How many times ``name`` occurs in the expression."""
    if isinstance(node, Sym):
        return int(node.name == name)
    if isinstance(node, Neg):
        return count(node.arg, name)
    if isinstance(node, Bin):
        return count(node.left, name) + count(node.right, name)
    if isinstance(node, Call):
        return sum(count(a, name) for a in node.args)
    return 0


def sum_terms(node: Node) -> list[tuple[int, Node]]:
    """Split a top-level sum into (sign, term) pairs."""
    if isinstance(node, Bin) and node.op in "+-" and len(node.op) == 1:
        right = sum_terms(node.right)
        if node.op == "-":
            right = [(-s, t) for s, t in right]
        return sum_terms(node.left) + right
    if isinstance(node, Neg):
        return [(-s, t) for s, t in sum_terms(node.arg)]
    return [(1, node)]


def product_factors(node: Node) -> list[tuple[int, Node]]:
    """Split a product/quotient into (power sign, factor) pairs."""
    if isinstance(node, Bin) and node.op == "*":
        return product_factors(node.left) + product_factors(node.right)
    if isinstance(node, Bin) and node.op == "/":
        return product_factors(node.left) + [(-s, f) for s, f in product_factors(node.right)]
    return [(1, node)]


# --------------------------------------------------------------------------- backends
Namespace = Mapping[str, Callable[..., Any]]


def numpy_ns() -> Namespace:
    import numpy as np

    return {
        "exp": np.exp,
        "log": np.log,
        "log10": np.log10,
        "sqrt": np.sqrt,
        "abs": np.abs,
        "minimum": np.minimum,
        "maximum": np.maximum,
    }


def pytensor_ns() -> Namespace:
    import pytensor.tensor as pt

    return {
        "exp": pt.exp,
        "log": pt.log,
        "log10": pt.log10,
        "sqrt": pt.sqrt,
        "abs": pt.abs,
        "minimum": pt.minimum,
        "maximum": pt.maximum,
    }


def jax_ns() -> Namespace:
    import jax.numpy as jnp

    return {
        "exp": jnp.exp,
        "log": jnp.log,
        "log10": jnp.log10,
        "sqrt": jnp.sqrt,
        "abs": jnp.abs,
        "minimum": jnp.minimum,
        "maximum": jnp.maximum,
    }


def evaluate(node: Node, env: Mapping[str, Any], ns: Namespace | None = None) -> Any:
    """Evaluate the tree with values from ``env`` and functions from ``ns`` (NumPy by default).

    Works unchanged on NumPy arrays, xarray objects (broadcast by dimension name),
    PyTensor variables and JAX arrays.
    """
    ns = numpy_ns() if ns is None else ns
    return _eval(node, env, ns)


def _eval(node: Node, env: Mapping[str, Any], ns: Namespace) -> Any:
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Sym):
        try:
            return env[node.name]
        except KeyError:
            raise LawError(f"no value for {node.name!r} in the expression") from None
    if isinstance(node, Neg):
        return -_eval(node.arg, env, ns)
    if isinstance(node, Bin):
        a, b = _eval(node.left, env, ns), _eval(node.right, env, ns)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if node.op == "/":
            return a / b
        return a**b
    return ns[node.func](*(_eval(a, env, ns) for a in node.args))


def hoist(node: Node, varying: set[str]) -> tuple[Node, dict[str, Node]]:
    """Split ``node`` into a tree over ``varying`` names and the largest subtrees free of them.

    Returns the rewritten tree, in which each such subtree is replaced by a symbol ``_hoisted<i>``,
    and those subtrees by symbol: evaluate them once and pass their values in the environment
    of every evaluation over the varying names (e.g. a surface evaluated block by block).
    """
    bindings: dict[str, Node] = {}

    def walk(n: Node) -> Node:
        if not (symbols(n) & varying):
            if isinstance(n, Num | Sym):
                return n
            name = f"_hoisted{len(bindings)}"
            bindings[name] = n
            return Sym(name)
        return _rebuild(n, walk)

    return walk(node), bindings


def log_powers(node: Node, positive: set[str]) -> tuple[Node, set[str]]:
    """Rewrite ``x ** e`` as ``exp(e * _log_x)`` for each ``x`` in ``positive`` whose exponent is
    not a number, and return the names rewritten.

    Exact for ``x > 0``; with ``_log_x`` precomputed from data, a fit evaluates one ``exp``
    per power and its gradient reuses it, where ``x ** e`` and its derivative in ``e`` cost a
    power and a log per run and evaluation.
    """
    used: set[str] = set()

    def walk(n: Node) -> Node:
        n = _rebuild(n, walk)
        fitted = isinstance(n, Bin) and n.op == "**" and not isinstance(n.right, Num)
        if fitted and isinstance(n.left, Sym) and n.left.name in positive:
            used.add(n.left.name)
            return Call("exp", (Bin("*", n.right, Sym(f"_log_{n.left.name}")),))
        return n

    return walk(node), used


def to_text(node: Node) -> str:
    """Render the tree back to formula text (fully parenthesised where needed)."""
    if isinstance(node, Num):
        return repr(node.value) if node.value != int(node.value) else str(int(node.value))
    if isinstance(node, Sym):
        return node.name
    if isinstance(node, Neg):
        return f"-({to_text(node.arg)})"
    if isinstance(node, Bin):
        return f"({to_text(node.left)} {node.op} {to_text(node.right)})"
    return f"{node.func}({', '.join(to_text(a) for a in node.args)})"


def to_sympy(node: Node, pretty: bool = False) -> Any:
    """The tree as a SymPy expression (for derivatives; ``pretty`` keeps ``log10`` as a name for LaTeX)."""
    import sympy

    if isinstance(node, Num):
        return sympy.Float(node.value) if node.value != int(node.value) else sympy.Integer(int(node.value))
    if isinstance(node, Sym):
        return sympy.Symbol(node.name)
    if isinstance(node, Neg):
        return -to_sympy(node.arg, pretty)
    if isinstance(node, Bin):
        a, b = to_sympy(node.left, pretty), to_sympy(node.right, pretty)
        return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a**b}[node.op]
    args = [to_sympy(a, pretty) for a in node.args]
    funcs = {
        "exp": sympy.exp,
        "log": sympy.log,
        "sqrt": sympy.sqrt,
        "abs": sympy.Abs,
        "minimum": sympy.Min,
        "maximum": sympy.Max,
        "log10": sympy.Function("log_{10}") if pretty else (lambda x: sympy.log(x, 10)),
    }
    return funcs[node.func](*args)


def from_sympy(e: Any) -> Node:
    """A SymPy expression built from this module's operators, back as a tree."""
    import sympy

    if e.is_Symbol:
        return Sym(e.name)
    if e.is_Number:
        return Num(float(e))
    if isinstance(e, sympy.Add | sympy.Mul):
        op = "+" if isinstance(e, sympy.Add) else "*"
        out = from_sympy(e.args[0])
        for a in e.args[1:]:
            out = Bin(op, out, from_sympy(a))
        return out
    if isinstance(e, sympy.Pow):
        return Bin("**", from_sympy(e.base), from_sympy(e.exp))
    names = {sympy.exp: "exp", sympy.log: "log", sympy.Abs: "abs", sympy.Min: "minimum", sympy.Max: "maximum"}
    if e.func in names and (e.func is not sympy.log or len(e.args) == 1):
        return Call(names[e.func], tuple(from_sympy(a) for a in e.args))
    raise LawError(f"cannot convert {e} back to a formula")


def is_positive(node: Node, positive: set[str]) -> bool:
    """True when the tree is positive whatever the values of its symbols, given that the
    symbols in ``positive`` are (conservative: ``False`` when unsure)."""
    if isinstance(node, Num):
        return node.value > 0
    if isinstance(node, Sym):
        return node.name in positive
    if isinstance(node, Bin):
        if node.op == "**":
            return is_positive(node.left, positive)
        if node.op in "+*/":
            return is_positive(node.left, positive) and is_positive(node.right, positive)
        return False
    if isinstance(node, Call):
        if node.func == "exp":
            return True
        if node.func == "sqrt":
            return is_positive(node.args[0], positive)
    return False


def to_latex(node: Node) -> str:
    """LaTeX for the formula, through SymPy's printer."""
    import sympy

    return sympy.latex(to_sympy(node, pretty=True))
