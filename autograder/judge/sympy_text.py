"""Read a sympy expression from its ``srepr`` text without evaluating the text.

The text comes from a student's kernel, so it is untrusted: it is parsed with Python's ``ast`` (which only
parses) and rebuilt node by node from an allow-list of sympy classes and literal arguments. Anything else (an
attribute, a name outside the list, a lambda, a comprehension, keyword arguments other than assumptions, a huge
number, power or derivative order, too many nodes) is refused with a ``SympyTextError`` that says what was found.
Derivatives come in sympy's own forms: ``Derivative(sigma(z), Tuple(z, 1))`` and, for a compound argument,
``Subs(Derivative(sigma(xi), Tuple(xi, 1)), Tuple(xi), Tuple(2*z))`` with a ``Dummy`` xi.
"""

from __future__ import annotations

import ast

import sympy as sp

from ..text import QUOTE_LIMIT, cap

MAX_CHARS = 200_000
MAX_NODES = 20_000
MAX_INT = 10**12
MAX_DUMMY_INDEX = 2**64  # a label, not a number: sympy's chain rule numbers its Dummy xi with a 64-bit hash
MAX_EXPONENT = 64
MAX_DERIVATIVE_ORDER = 8  # sympy differentiates n times one by one: Derivative(f, (x, 10**12)).doit() never ends

CLASSES = {name: getattr(sp, name) for name in (
    "Symbol", "Dummy", "Integer", "Rational", "Float", "Add", "Mul", "Pow", "Indexed", "IndexedBase", "Idx",
    "Tuple", "Sum", "Product", "Heaviside", "Max", "Min", "Abs", "sign", "Piecewise",
    "StrictGreaterThan", "GreaterThan", "StrictLessThan", "LessThan", "Equality", "Unequality", "And", "Or", "Not",
    "Derivative", "Subs", "exp", "log", "KroneckerDelta", "DiracDelta", "tanh", "sinh", "cosh", "sin", "cos")}
CLASSES["ExprCondPair"] = sp.functions.elementary.piecewise.ExprCondPair
CONSTANTS = {"true": sp.true, "false": sp.false, "pi": sp.pi, "E": sp.E, "I": sp.I, "oo": sp.oo, "zoo": sp.zoo,
             "nan": sp.nan}
ASSUMPTIONS = {"real", "positive", "negative", "nonnegative", "nonpositive", "integer", "commutative", "finite",
               "nonzero", "zero", "extended_real", "complex"}
LITERAL_KEYWORDS = {"dummy_index", "precision"}


class SympyTextError(ValueError):
    pass


def parse_srepr(text: str) -> sp.Basic:
    """The sympy object ``text`` (an ``srepr``) describes, built only from allowed classes."""
    if not isinstance(text, str):
        raise SympyTextError(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise SympyTextError(f"the expression is {len(text)} characters long; the limit is {MAX_CHARS}")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise SympyTextError(f"not a sympy expression: {type(exc).__name__}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise SympyTextError(f"the expression has more than {MAX_NODES} parts")
    try:
        value = _build(tree.body)
    except RecursionError:
        raise SympyTextError("the expression is nested too deeply") from None
    if not isinstance(value, sp.Basic):
        raise SympyTextError(f"not a sympy expression but a {type(value).__name__}")
    return value


def _literal(node: ast.expr, max_int: int = MAX_INT):
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, int, float, bool)) or (
            isinstance(node, ast.Constant) and node.value is None):
        if isinstance(node.value, int) and not isinstance(node.value, bool) and abs(node.value) > max_int:
            raise SympyTextError("a number in the expression is too large")
        if isinstance(node.value, str) and len(node.value) > 200:
            raise SympyTextError("a name in the expression is too long")
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_literal(node.operand, max_int)
    raise SympyTextError(f"unexpected {type(node).__name__} where a literal was expected")


def _build(node: ast.expr):
    if isinstance(node, ast.Name):
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise SympyTextError(f"unknown name {cap(node.id, QUOTE_LIMIT)!r}")
    if isinstance(node, (ast.Constant, ast.UnaryOp)):
        return _literal(node)
    if not isinstance(node, ast.Call):
        raise SympyTextError(f"unexpected {type(node).__name__} in the expression")
    if isinstance(node.func, ast.Call):  # Function('sigma')(x): an undefined function applied to arguments
        inner = node.func
        if not (isinstance(inner.func, ast.Name) and inner.func.id == "Function" and len(inner.args) == 1
                and not inner.keywords):
            raise SympyTextError("only Function('name')(...) may be called on a call")
        name = _literal(inner.args[0])
        if not isinstance(name, str) or not name.isidentifier():
            raise SympyTextError("a function name must be an identifier")
        if node.keywords:
            raise SympyTextError("keyword arguments are not allowed here")
        return sp.Function(name)(*[_build(a) for a in node.args])
    if not isinstance(node.func, ast.Name) or node.func.id not in CLASSES:
        what = node.func.id if isinstance(node.func, ast.Name) else type(node.func).__name__
        raise SympyTextError(f"{cap(what, QUOTE_LIMIT)!r} is not an allowed part of an expression")
    name = node.func.id
    kwargs = {}
    for keyword in node.keywords:
        if keyword.arg in ASSUMPTIONS:
            value = _literal(keyword.value)
            if not isinstance(value, bool):
                raise SympyTextError(f"assumption {keyword.arg} must be True or False")
        elif keyword.arg in LITERAL_KEYWORDS:
            value = _literal(keyword.value, MAX_DUMMY_INDEX if keyword.arg == "dummy_index" else MAX_INT)
            if not isinstance(value, int) or isinstance(value, bool):
                raise SympyTextError(f"{keyword.arg} must be an integer")
        else:
            raise SympyTextError(f"keyword argument {cap(str(keyword.arg), QUOTE_LIMIT)!r} is not allowed")
        kwargs[keyword.arg] = value
    if name in ("Symbol", "Dummy", "Integer", "Rational", "Float"):
        args = [_literal(a) for a in node.args]
        if name in ("Symbol", "Dummy") and not (len(args) == 1 and isinstance(args[0], str)):
            raise SympyTextError(f"{name} takes one name")
        if name == "Float" and not (len(args) == 1 and isinstance(args[0], (str, int, float))):
            raise SympyTextError("Float takes one number")
        if name in ("Integer", "Rational") and not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            raise SympyTextError(f"{name} takes integers")
        if name == "Dummy":  # the same dummy_index must give the same Dummy object
            return _dummy(args[0], kwargs)
        return CLASSES[name](*args, **kwargs)
    args = [_build(a) for a in node.args]
    if kwargs:
        raise SympyTextError(f"{name} takes no keyword arguments")
    if name == "Pow" and len(args) == 2 and isinstance(args[1], sp.Integer) and abs(int(args[1])) > MAX_EXPONENT:
        raise SympyTextError(f"an exponent larger than {MAX_EXPONENT} is not allowed")
    if name == "Derivative":
        _check_derivative_order(args[1:])
    try:
        return CLASSES[name](*args)
    except RecursionError:
        raise
    except Exception:  # noqa: BLE001 - sympy refused these arguments; its own text is not for students
        raise SympyTextError(f"{name} cannot be built from the arguments given") from None


def _check_derivative_order(variables) -> None:
    """Derivative(expr, x, Tuple(y, 2), ...): the total order must be a small whole number."""
    order = 0
    for variable in variables:
        count = variable[1] if isinstance(variable, sp.Tuple) and len(variable) == 2 else sp.Integer(1)
        if not isinstance(count, sp.Integer) or count < 0:
            raise SympyTextError("the order of a derivative must be a whole number")
        order += int(count)
    if order > MAX_DERIVATIVE_ORDER:
        raise SympyTextError(f"a derivative of order higher than {MAX_DERIVATIVE_ORDER} is not allowed")


_DUMMIES: dict[tuple, sp.Dummy] = {}


def _dummy(name: str, kwargs: dict) -> sp.Dummy:
    index = kwargs.pop("dummy_index", None)
    if index is None:
        return sp.Dummy(name, **kwargs)
    key = (name, index, tuple(sorted(kwargs.items())))
    if key not in _DUMMIES:
        _DUMMIES[key] = sp.Dummy(name, **kwargs)
    return _DUMMIES[key]
