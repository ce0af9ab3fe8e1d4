"""A small, safe expression grammar for coefficient and k formulas.

The official coefficient tables write fuel-dependent coefficients as
expressions over what the enterprise reports (``17*S`` with S the sulfur
content in %, ``9.5*A`` with A the ash content in %), and the operating rate k
as a formula (``run_hours / production_hours``). These are parsed here by a
recursive-descent parser — never by Python's ``eval`` — into a tree that can be
evaluated on NumPy arrays or compiled into an Ibis expression, so the same
formula runs inside DuckDB, PySpark or PostgreSQL.

Grammar::

    expr   := term (('+' | '-') term)*
    term   := unary (('*' | '/' | '×' | '÷') unary)*
    unary  := ('-' | '+') unary | power
    power  := atom (('^' | '**') unary)?
    atom   := NUMBER | NAME | NAME '(' expr (',' expr)* ')' | '(' expr ')'

NAME is a letter (Latin or Chinese) or '_' followed by letters, digits or '_'.
Functions: ``min``, ``max``, ``abs``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from sourcegrid.errors import ExpressionError

__all__ = ["Expression", "parse", "FUNCTIONS"]

FUNCTIONS = ("min", "max", "abs")

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<name>[A-Za-z_\u4e00-\u9fff][A-Za-z0-9_\u4e00-\u9fff]*)"
    r"|(?P<op>\*\*|[-+*/^(),×÷]))"
)


@dataclass(frozen=True)
class _Node:
    kind: str  # 'num', 'var', 'neg', 'bin', 'call'
    value: Any = None
    children: tuple[_Node, ...] = ()


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, position = [], 0
    text = text.replace("（", "(").replace("）", ")").replace("，", ",")
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            bad = text[position:].lstrip()[:1]
            raise ExpressionError(
                f"unexpected character {bad!r} at position {position + 1} in {text!r}; "
                "expected numbers, variable names, + - * / ^ ( ) or min/max/abs"
            )
        kind = match.lastgroup
        token = match.group(kind)
        tokens.append((kind, {"×": "*", "÷": "/", "**": "^"}.get(token, token)))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise ExpressionError(f"{self.text!r} ends early; expected "
                                  f"{expected or 'a number, a name or ('}")
        if expected is not None and token[1] != expected:
            raise ExpressionError(f"expected {expected!r} but found {token[1]!r} in {self.text!r}")
        self.index += 1
        return token

    def parse(self) -> _Node:
        if not self.tokens:
            raise ExpressionError("empty expression")
        node = self.expr()
        if self.peek() is not None:
            raise ExpressionError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return node

    def expr(self) -> _Node:
        node = self.term()
        while (token := self.peek()) is not None and token[1] in "+-" and token[0] == "op":
            self.take()
            node = _Node("bin", token[1], (node, self.term()))
        return node

    def term(self) -> _Node:
        node = self.unary()
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in "*/":
            self.take()
            node = _Node("bin", token[1], (node, self.unary()))
        return node

    def power(self) -> _Node:
        node = self.atom()
        token = self.peek()
        if token is not None and token == ("op", "^"):
            self.take()
            node = _Node("bin", "^", (node, self.unary()))
        return node

    def unary(self) -> _Node:
        token = self.peek()
        if token is not None and token[0] == "op" and token[1] in "+-":
            self.take()
            inner = self.unary()
            return _Node("neg", None, (inner,)) if token[1] == "-" else inner
        return self.power()

    def atom(self) -> _Node:
        kind, token = self.take()
        if kind == "number":
            return _Node("num", float(token))
        if kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt[1] == "(":
                if token.lower() not in FUNCTIONS:
                    raise ExpressionError(f"unknown function {token!r} in {self.text!r}; "
                                          f"valid: {', '.join(FUNCTIONS)}")
                self.take("(")
                args = [self.expr()]
                while self.peek() is not None and self.peek()[1] == ",":
                    self.take(",")
                    args.append(self.expr())
                self.take(")")
                if token.lower() == "abs" and len(args) != 1:
                    raise ExpressionError(f"abs takes one argument in {self.text!r}")
                return _Node("call", token.lower(), tuple(args))
            return _Node("var", token)
        if token == "(":
            node = self.expr()
            self.take(")")
            return node
        raise ExpressionError(f"unexpected {token!r} in {self.text!r}")


class Expression:
    """A parsed formula: its variables, and evaluation on arrays or Ibis columns.

    Examples
    --------
    >>> e = parse("17*S")
    >>> sorted(e.variables)
    ['S']
    >>> float(e.evaluate({"S": 0.8}))
    13.6
    """

    def __init__(self, text: str, tree: _Node) -> None:
        self.text = text
        self._tree = tree
        self.variables = frozenset(self._names(tree))

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    @property
    def is_constant(self) -> bool:
        return not self.variables

    @staticmethod
    def _names(node: _Node):
        if node.kind == "var":
            yield node.value
        for child in node.children:
            yield from Expression._names(child)

    def evaluate(self, variables: Mapping[str, Any]) -> Any:
        """Evaluate on scalars or NumPy arrays (vectorized); missing names raise."""
        missing = sorted(self.variables - set(variables))
        if missing:
            raise ExpressionError(f"{self.text!r} needs {', '.join(missing)}, which were not given")

        def run(node: _Node):
            if node.kind == "num":
                return node.value
            if node.kind == "var":
                return np.asarray(variables[node.value], dtype=float)
            if node.kind == "neg":
                return -run(node.children[0])
            if node.kind == "call":
                args = [run(c) for c in node.children]
                if node.value == "abs":
                    return np.abs(args[0])
                reduce = np.minimum if node.value == "min" else np.maximum
                out = args[0]
                for arg in args[1:]:
                    out = reduce(out, arg)
                return out
            left, right = (run(c) for c in node.children)
            with np.errstate(divide="ignore", invalid="ignore"):
                return _NUMPY_OPS[node.value](left, right)

        return run(self._tree)

    def to_ibis(self, resolve: Callable[[str], Any]) -> Any:
        """Compile into an Ibis expression; ``resolve(name)`` gives the column of a variable.

        Division by zero yields NULL on every backend (the divisor is
        ``NULLIF(x, 0)``), so it can be reported rather than raise mid-query.
        """
        import ibis

        def run(node: _Node):
            if node.kind == "num":
                return ibis.literal(node.value, type="float64")
            if node.kind == "var":
                return resolve(node.value).cast("float64")
            if node.kind == "neg":
                return -run(node.children[0])
            if node.kind == "call":
                args = [run(c) for c in node.children]
                if node.value == "abs":
                    return args[0].abs()
                return (ibis.least if node.value == "min" else ibis.greatest)(*args)
            left, right = (run(c) for c in node.children)
            if node.value == "/":
                return left / right.nullif(0)
            if node.value == "^":
                return left.pow(right)
            return _NUMPY_OPS[node.value](left, right)

        return run(self._tree)


_NUMPY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "^": lambda a, b: np.power(a, b),
}


@lru_cache(maxsize=8192)
def parse(text: str) -> Expression:
    """Parse a formula; raises :class:`ExpressionError` saying what is wrong and where."""
    if text is None or not str(text).strip():
        raise ExpressionError("empty expression")
    text = str(text).strip()
    tree = _Parser(text).parse()
    if tree.kind == "num" and not math.isfinite(tree.value):
        raise ExpressionError(f"{text!r} is not a finite number")
    return Expression(text, tree)
