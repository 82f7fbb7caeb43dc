"""Limits on a law's expressions, checked at load: constant parts, and size and depth once
``define`` entries are inlined. A law file is user text; these keep a hostile or mistaken one
from hanging or crashing every command that loads it (each limit is a :class:`LawError`
naming the file and the limit)."""

from __future__ import annotations

import math

from bayesmoe.errors import LawError
from bayesmoe.laws.expr import MAX_DEPTH, MAX_LITERAL, Bin, Call, Neg, Node, Num, Sym, numpy_ns

#: Largest formula after inlining ``define`` entries, in nodes (a definition used twice doubles it).
MAX_NODES = 5000
MAX_INLINED_DEPTH = 4 * MAX_DEPTH


def _fold(node: Node) -> float | None:
    """The value of a constant sub-expression (None where it has a name); raises on overflow."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Neg):
        v = _fold(node.arg)
        return None if v is None else -v
    if isinstance(node, Bin):
        a, b = _fold(node.left), _fold(node.right)
        if a is None or b is None:
            return None
        ops = {"+": float.__add__, "-": float.__sub__, "*": float.__mul__, "/": float.__truediv__, "**": float.__pow__}
        return ops[node.op](a, b)
    if isinstance(node, Call):
        args = [_fold(x) for x in node.args]
        if any(v is None for v in args):
            return None
        import numpy as np

        with np.errstate(all="raise"):
            return float(numpy_ns()[node.func](*args))
    return None


def check_constants(node: Node, where: str) -> None:
    """Refuse constant sub-expressions that are not finite real numbers (``1/0``, ``10**10**10``)."""
    if isinstance(node, Sym | Num):
        return
    try:
        value = _fold(node)
    except (ArithmeticError, ValueError, FloatingPointError) as exc:
        raise LawError(
            f"{where}: a constant part of the formula cannot be computed ({type(exc).__name__}: {exc})"
        ) from None
    if value is None:
        for child in (
            (node.arg,) if isinstance(node, Neg) else (node.left, node.right) if isinstance(node, Bin) else node.args
        ):  # type: ignore[union-attr]
            check_constants(child, where)
    elif isinstance(value, complex) or not math.isfinite(value):
        raise LawError(f"{where}: a constant part of the formula is not a finite real number ({value})")
    elif abs(value) > MAX_LITERAL:
        raise LawError(
            f"{where}: a constant part of the formula is {value:.3g}, which exceeds the limit of {MAX_LITERAL:g}"
        )


def size(node: Node, _memo: dict[int, int] | None = None) -> int:
    """Nodes in the expression as a tree (shared sub-expressions counted each time they occur),
    computed in time linear in the distinct nodes, so a definition doubled 40 times is cheap to measure."""
    memo = {} if _memo is None else _memo
    key = id(node)
    if key not in memo:
        if isinstance(node, Neg):
            memo[key] = 1 + size(node.arg, memo)
        elif isinstance(node, Bin):
            memo[key] = 1 + size(node.left, memo) + size(node.right, memo)
        elif isinstance(node, Call):
            memo[key] = 1 + sum(size(a, memo) for a in node.args)
        else:
            memo[key] = 1
    return memo[key]


def depth(node: Node, _memo: dict[int, int] | None = None) -> int:
    """Nesting depth of the expression (memoised like :func:`size`)."""
    memo = {} if _memo is None else _memo
    key = id(node)
    if key not in memo:
        kids = (node.arg,) if isinstance(node, Neg) else (node.left, node.right) if isinstance(node, Bin) else ()
        kids = node.args if isinstance(node, Call) else kids
        memo[key] = 1 + max((depth(k, memo) for k in kids), default=0)
    return memo[key]


def check_size(node: Node, where: str) -> Node:
    """Refuse an expression larger than :data:`MAX_NODES`, or nested deeper than
    ``MAX_INLINED_DEPTH``, once definitions are inlined."""
    n = size(node)
    if n > MAX_NODES:
        raise LawError(f"{where}: formula has {n:,} nodes once definitions are inlined; the limit is {MAX_NODES:,}")
    d = depth(node)
    if d > MAX_INLINED_DEPTH:
        raise LawError(
            f"{where}: formula nests {d} levels once definitions are inlined; the limit is {MAX_INLINED_DEPTH}"
        )
    return node
