"""The condition language of flows, compiled and type-checked when flows load.

Grammar (a safe subset of Python expression syntax, parsed by `ast`, never evaluated by Python):
    literals       "text"  12  1.5  true  false  null  ["a", "b"]
    names          order.<fact>  vars.<name>  buyer.lang
    comparisons    ==  !=  <  <=  >  >=  in  not in
    logic          and  or  not  ( ... )

Example: `order.status in ["delivering", "driver_pickup"] and not order.delivery_late`.
Unknown names, type mismatches and unknown status values are load errors with a hint.
"""

from __future__ import annotations

import ast
import difflib
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from bot.orders.facts import CANCEL_CATEGORIES, fact_types
from bot.orders.model import KNOWN_STATUSES, KNOWN_SUBSTATUSES, Initiator, Money, Scheme

ANY = object  # a type we cannot know at load time (vars)

# Which literal values an `order.<field>` may be compared with.
_ENUMS: dict[str, frozenset[str]] = {
    "status": KNOWN_STATUSES,
    "substatus": KNOWN_SUBSTATUSES | {""},
    "cancelled_by": frozenset(i.value for i in Initiator),
    "scheme": frozenset(s.value for s in Scheme),
    "cancel_category": frozenset(CANCEL_CATEGORIES),
}
BUYER_FIELDS: dict[str, type] = {"lang": str, "id": str}

_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
_CONSTANTS = {"true": True, "false": False, "null": None}


class ConditionError(ValueError):
    """A condition that does not compile. `column` is 0-based within the expression."""

    def __init__(self, message: str, hint: str = "", column: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.column = column


class MissingOrder(RuntimeError):
    """A condition read `order.*` while no order has been looked up in this conversation."""


@dataclass(frozen=True, slots=True)
class Env:
    """What a condition can read at run time."""

    order: Any  # OrderFacts, or NO_ORDER before a lookup
    vars: dict[str, Any]
    buyer: dict[str, Any]


Compiled = Callable[[Env], Any]


@dataclass(frozen=True, slots=True)
class Expression:
    source: str
    type: type
    fn: Compiled
    enum_field: str | None = None  # set when the expression is `order.<enum field>`
    literal: bool = False  # a constant, which can be read at load time


    def __call__(self, env: Env) -> Any:
        return self.fn(env)


class _NoOrder:
    """`env.order` before any lookup: reading a fact raises MissingOrder (the engine reports it)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        raise MissingOrder(name)


NO_ORDER: Any = _NoOrder()
# What a literal is evaluated with at load time: it reads nothing, and nothing is there to read.
_LOAD_TIME = Env(NO_ORDER, {}, {})


_FACTS = fact_types()


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"did you mean '{close[0]}'?" if close else ""


def compile_expression(source: str, var_names: frozenset[str] | set[str] = frozenset()) -> Expression:
    """Compile one expression; raise `ConditionError` with a hint when it is not valid."""
    text = str(source).strip()
    if not text:
        raise ConditionError("empty expression", "write a condition such as order.status == \"delivered\"")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ConditionError(f"syntax error: {exc.msg}", "check quotes, brackets and operators",
                             max(0, (exc.offset or 1) - 1)) from None
    return _Compiler(text, frozenset(var_names)).expr(tree.body)


def compile_condition(source: str, var_names: frozenset[str] | set[str] = frozenset()) -> Expression:
    """Compile an expression that must be true or false."""
    expr = compile_expression(source, var_names)
    if expr.type not in (bool, ANY):
        raise ConditionError(
            f"condition is a {expr.type.__name__}, not true/false",
            "compare it with something, e.g. order.days_in_status > 3",
        )
    return expr


class _Compiler:
    def __init__(self, source: str, var_names: frozenset[str]) -> None:
        self.source = source
        self.var_names = var_names

    def fail(self, node: ast.AST, message: str, hint: str = "") -> ConditionError:
        return ConditionError(message, hint, getattr(node, "col_offset", 0))

    def expr(self, node: ast.AST) -> Expression:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"'{ast.unparse(node)}' is not allowed in a condition",
                            "use names like order.status, literals, comparisons, and/or/not")
        return method(node)

    def _Constant(self, node: ast.Constant) -> Expression:
        value = node.value
        if not isinstance(value, (str, int, float, bool)) and value is not None:
            raise self.fail(node, f"unsupported literal {value!r}")
        typ = type(value) if value is not None else ANY
        return Expression(repr(value), typ, lambda env: value, literal=True)

    def _List(self, node: ast.List) -> Expression:
        items = [self.expr(e) for e in node.elts]
        types = {i.type for i in items}
        if len(types) > 1 and not types <= {int, float}:
            raise self.fail(node, "a list mixes types", "keep every item of one type")
        fns = [i.fn for i in items]
        literals = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(literals) == len(fns):
            frozen = tuple(literals)

            def fn(env: Env) -> tuple[Any, ...]:
                return frozen
        else:
            def fn(env: Env) -> tuple[Any, ...]:
                return tuple(f(env) for f in fns)
        elem = next(iter(types)) if types else ANY
        return _ListExpression(ast.unparse(node), list, fn, literal=len(literals) == len(fns), elem=elem,
                               literals=literals)

    _Tuple = _List

    def _Name(self, node: ast.Name) -> Expression:
        if node.id in _CONSTANTS:
            value = _CONSTANTS[node.id]
            return Expression(node.id, bool if isinstance(value, bool) else ANY, lambda env: value, literal=True)
        raise self.fail(node, f"unknown name '{node.id}'",
                        "names start with order., vars. or buyer. (strings need quotes)")

    def _Attribute(self, node: ast.Attribute) -> Expression:
        if not isinstance(node.value, ast.Name):
            raise self.fail(node, f"'{ast.unparse(node)}' is not a known name", "use order.<fact> or vars.<name>")
        space, attr = node.value.id, node.attr
        if space == "order":
            if attr not in _FACTS:
                raise self.fail(node, f"unknown order fact '{attr}'", _suggest(attr, _FACTS) or
                                "see bot/orders/facts.py for the list")
            typ = _FACTS[attr]

            # C-level read; before any lookup env.order is NO_ORDER, whose reads raise MissingOrder.
            return Expression(f"order.{attr}", typ, attrgetter(f"order.{attr}"),
                              enum_field=attr if attr in _ENUMS else None)
        if space == "vars":
            if attr not in self.var_names:
                raise self.fail(node, f"unknown variable '{attr}'",
                                _suggest(attr, self.var_names) or "set it with an ask node's var or an option's set")
            return Expression(f"vars.{attr}", ANY, lambda env: env.vars.get(attr))
        if space == "buyer":
            if attr not in BUYER_FIELDS:
                raise self.fail(node, f"unknown buyer field '{attr}'", _suggest(attr, BUYER_FIELDS) or "use buyer.lang")
            return Expression(f"buyer.{attr}", BUYER_FIELDS[attr], lambda env: env.buyer.get(attr))
        raise self.fail(node, f"unknown name '{space}'", "names start with order., vars. or buyer.")

    def _BoolOp(self, node: ast.BoolOp) -> Expression:
        parts = [self._boolean(v) for v in node.values]
        fns = [p.fn for p in parts]
        fn = _all_fns(fns) if isinstance(node.op, ast.And) else _any_fns(fns)
        return Expression(ast.unparse(node), bool, fn)

    def _UnaryOp(self, node: ast.UnaryOp) -> Expression:
        if isinstance(node.op, ast.Not):
            inner = self._boolean(node.operand).fn
            return Expression(ast.unparse(node), bool, lambda env: not inner(env))
        operand = node.operand
        if (isinstance(node.op, ast.USub) and isinstance(operand, ast.Constant)
                and isinstance(operand.value, (int, float))):
            value = -operand.value
            return Expression(repr(value), type(value), lambda env: value, literal=True)
        raise self.fail(node, f"operator in '{ast.unparse(node)}' is not allowed", "use not, and, or")

    def _boolean(self, node: ast.AST) -> Expression:
        e = self.expr(node)
        if e.type not in (bool, ANY):
            raise self.fail(node, f"'{e.source}' is a {e.type.__name__}, not true/false",
                            "compare it, e.g. order.days_in_status > 3")
        return e

    def _Compare(self, node: ast.Compare) -> Expression:
        left = self.expr(node.left)
        checks = []
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.expr(right_node)
            self._check_types(node, op, left, right)
            checks.append(_compare(type(op), left, right))
            left = right
        fn = checks[0] if len(checks) == 1 else _all_fns(checks)
        return Expression(ast.unparse(node), bool, fn)

    def _check_types(self, node: ast.Compare, op: ast.cmpop, left: Expression, right: Expression) -> None:
        if type(op) not in _COMPARE:
            raise self.fail(node, "unsupported comparison")
        if isinstance(op, (ast.In, ast.NotIn)):
            if isinstance(right, _ListExpression):
                self._compatible(node, left.type, right.elem)
                self._check_enum(node, left, right.literals)
            elif right.type not in (str, ANY):
                raise self.fail(node, f"'{right.source}' is not a list", 'write a list: ["a", "b"]')
            return
        self._compatible(node, left.type, right.type)
        if isinstance(op, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) and left.type in (bool, str, Money):
            raise self.fail(node, f"cannot order values of type {left.type.__name__}", "use == or != instead")
        if left.enum_field and right.literal:
            self._check_enum(node, left, [right.fn(_LOAD_TIME)])
        if right.enum_field and left.literal:
            self._check_enum(node, right, [left.fn(_LOAD_TIME)])

    def _compatible(self, node: ast.AST, a: type, b: type) -> None:
        if a is ANY or b is ANY or a == b:
            return
        if {a, b} <= {int, float}:
            return
        if {a, b} <= {datetime}:
            return
        raise self.fail(node, f"cannot compare {a.__name__} with {b.__name__}",
                        "compare values of the same type (numbers with numbers, text with text)")

    def _check_enum(self, node: ast.AST, field_expr: Expression, literals: list[Any]) -> None:
        allowed = _ENUMS.get(field_expr.enum_field or "")
        if not allowed:
            return
        for value in literals:
            if isinstance(value, str) and value not in allowed:
                hint = _suggest(value, allowed) or f"known values: {', '.join(sorted(allowed))}"
                raise self.fail(node, f"'{value}' is not a known value of {field_expr.source}", hint)


@dataclass(frozen=True, slots=True)
class _ListExpression(Expression):
    elem: type = ANY
    literals: list[Any] = field(default_factory=list)


# ---- building blocks of compiled expressions --------------------------------------------------
# Closures specialised by shape: a switch evaluates a dozen conditions a turn, and each layer of
# calls avoided here is measurable in bench/engine.py.

def _compare(op: type, left: Expression, right: Expression) -> Compiled:
    lf, rf = left.fn, right.fn
    if right.literal:
        value = right.fn(_LOAD_TIME)
        if op is ast.Eq:
            return lambda env: lf(env) == value
        if op is ast.NotEq:
            return lambda env: lf(env) != value
        if op is ast.In:
            return lambda env: lf(env) in value
        if op is ast.NotIn:
            return lambda env: lf(env) not in value
        cmp = _COMPARE[op]
        return lambda env: cmp(lf(env), value)
    cmp = _COMPARE[op]
    return lambda env: cmp(lf(env), rf(env))


def _all_fns(fns: list[Compiled]) -> Compiled:
    if len(fns) == 2:
        a, b = fns
        return lambda env: bool(a(env) and b(env))

    def every(env: Env) -> bool:
        for f in fns:  # noqa: SIM110 - a plain loop; all() over a generator costs more per call
            if not f(env):
                return False
        return True

    return every


def _any_fns(fns: list[Compiled]) -> Compiled:
    if len(fns) == 2:
        a, b = fns
        return lambda env: bool(a(env) or b(env))

    def some(env: Env) -> bool:
        for f in fns:  # noqa: SIM110 - a plain loop; any() over a generator costs more per call
            if f(env):
                return True
        return False

    return some
