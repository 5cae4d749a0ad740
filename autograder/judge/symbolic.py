"""Judge a student's sympy expression against the reference: by value, never by its spelling.

1. canonicalise: symbols, indexed arrays and undefined functions are renamed to the canonical objects of the
   same name (a ``Symbol('z1')`` made without assumptions still matches), a derivative of an undefined function
   becomes the notation's name for it (``Derivative(sigma(u), u)`` and sympy's chain-rule form
   ``Subs(Derivative(sigma(xi), xi), xi, u)`` are ``sigma_prime(u)``), unevaluated derivatives and sums are
   evaluated, and every Heaviside gets the same value at 0;
2. a time-limited ``simplify(student - reference)``: only an exact 0 counts as a proof of equality;
3. otherwise decide numerically: for every sign pattern of the ReLU inputs, draw |z| in [0.2, 2] with those
   signs and random values for everything else (undefined functions get one random value per argument,
   special arrays such as a max-pooling mask use their own sampler), and compare the values;
4. on a mismatch, name the first failing sign region and, when the student's values match a known mistake
   everywhere, say which mistake. Every message is a sentence of the grader's own, never sympy's error text.
"""

from __future__ import annotations

import cmath
import itertools
import random
from dataclasses import dataclass, field
from typing import Callable

import sympy as sp
from sympy.core.function import AppliedUndef

from . import timer
from ..mistakes import Quoted, failure
from ..text import ERROR_LIMIT, quote

SIGN_RANGE = (0.2, 2.0)  # away from the ReLU kink at 0
VALUE_RANGE = (-2.0, 2.0)
# Sampled like unknown functions, one random value each: an undefined function's value, and whatever derivative
# canonicalise could not name (of a function of two arguments, say).
OPAQUE = (AppliedUndef, sp.Derivative, sp.Subs)


@dataclass
class Comparison:
    """One answer compared with the reference. ``region`` is the first failing sign pattern (name -> '>0' or '<0')."""

    correct: bool
    message: str
    region: dict = field(default_factory=dict)
    mistake: str | None = None  # the named mistake (mistakes.py): a known wrong answer's key, or what failed
    scrubbed: str = ""  # the message without the submission's own text (for a class report)

    def __bool__(self) -> bool:
        return self.correct


@dataclass
class Mistake:
    """A known wrong answer and what to tell a student who gave it."""

    key: str
    expression: sp.Expr
    message: str


def canonicalise(expr, canonical: dict[str, object]) -> sp.Expr:
    """Map student objects onto canonical ones by name and evaluate what is left unevaluated."""
    if isinstance(expr, (int, float)) and not isinstance(expr, bool):
        expr = sp.Number(expr)
    if not isinstance(expr, sp.Basic):
        raise TypeError(f"expected a sympy expression, got {type(expr).__name__}: {quote(repr(expr))}")
    symbols = {s: canonical[s.name] for s in expr.atoms(sp.Symbol)
               if s.name in canonical and isinstance(canonical[s.name], sp.Symbol) and s != canonical[s.name]}
    bases = {b: canonical[str(b.label)] for b in expr.atoms(sp.IndexedBase)
             if str(b.label) in canonical and b != canonical[str(b.label)]}
    expr = expr.xreplace({**bases, **symbols})
    functions = {name: f for name, f in canonical.items() if isinstance(f, sp.core.function.FunctionClass)}
    expr = expr.replace(
        lambda e: isinstance(e, AppliedUndef) and e.func.__name__ in functions,
        lambda e: functions[e.func.__name__](*e.args),
    )
    # Named before doit, so that Derivative(sigma(u), u) never meets a number; doit's chain rule turns
    # Derivative(sigma(2 u), u) into 2 Subs(Derivative(sigma(xi), xi), xi, 2 u), named in the second round, and
    # the second doit makes Subs(sigma_prime(xi), xi, 2 u) sigma_prime(2 u).
    for _ in range(2):
        # doit: Derivative(Max(0, z), z) -> Heaviside(z); Sum over concrete ranges -> terms
        expr = _name_derivatives(expr, functions).doit()
    return expr.replace(sp.Heaviside, lambda *args: sp.Heaviside(args[0], 0))


def _name_derivatives(expr, functions: dict) -> sp.Expr:
    """Derivative(f(u), (u, n)) of an undefined one-argument f -> f_prime...(u) (``_prime`` n times).

    sigma is an undefined function, so sympy can only leave its derivative unevaluated, and substituting a
    number for u in Derivative(sigma(u), u) is an error. The notation names sigma' ``sigma_prime``; a derivative
    of a function the notation does not name gets a name made the same way (``relu`` -> ``relu_prime``).
    """
    def is_named_derivative(e):
        return (isinstance(e, sp.Derivative) and len(e.variable_count) == 1 and isinstance(e.expr, AppliedUndef)
                and e.expr.args == (e.variable_count[0][0],) and e.variable_count[0][1].is_Integer)

    def named(e):
        name = e.expr.func.__name__ + "_prime" * int(e.variable_count[0][1])
        return functions.get(name, sp.Function(name))(e.expr.args[0])

    return expr.replace(is_named_derivative, named)


@dataclass
class Sampler:
    """Draws numeric values for every atom of an expression.

    ``relu_inputs`` are the quantities whose sign matters (they get a fixed sign per pattern);
    ``special`` maps an IndexedBase name to a function (indices, shared, rng) -> value for arrays with
    structure; ``shared`` is a dict that lives for one draw of all values.
    """

    relu_inputs: tuple = ()
    special: dict[str, Callable] = field(default_factory=dict)
    positive: frozenset = frozenset()  # atoms that must be > 0 (e.g. sigma' of a logistic unit)

    def patterns(self):
        return itertools.product((1, -1), repeat=len(self.relu_inputs))

    def substitutions(self, exprs, pattern, rng: random.Random) -> dict:
        values = {}
        for z, sign in zip(self.relu_inputs, pattern):
            values[z] = sign * rng.uniform(*SIGN_RANGE)
        atoms, labels = set(), set()
        for e in exprs:
            atoms |= e.atoms(sp.Symbol, sp.Indexed, *OPAQUE)
            labels |= {b.label for b in e.atoms(sp.IndexedBase)}
        shared: dict = {}  # per-draw state of special samplers (e.g. which pixel wins each pooling block)
        for atom in sorted(atoms - labels, key=sp.default_sort_key):
            if atom in values:
                continue
            if isinstance(atom, sp.Indexed) and str(atom.base.label) in self.special:
                values[atom] = self.special[str(atom.base.label)](tuple(atom.indices), shared, rng)
            elif isinstance(atom, OPAQUE) or atom in self.positive:
                values[atom] = rng.uniform(0.1, 1.0)
            else:
                values[atom] = rng.uniform(*VALUE_RANGE)
        return values


class NotANumber(ValueError):
    """An expression has no finite numeric value at a sample point; the message says why, in words."""


def _value(expr, values) -> complex:
    # Opaque atoms first (their arguments contain other atoms, and xreplace replaces the outermost match), then
    # everything else. Values as sympy numbers: an answer that is just sigma(u) becomes its value, and must stay
    # something the second xreplace accepts.
    funcs = {k: sp.sympify(v) for k, v in values.items() if isinstance(k, OPAQUE)}
    rest = {k: sp.sympify(v) for k, v in values.items() if not isinstance(k, OPAQUE)}
    try:
        result = sp.N(expr.xreplace(funcs).xreplace(rest))
        value = complex(result)
    except Exception:  # noqa: BLE001 - sympy's text would only confuse a student; say it in words
        raise NotANumber("sympy could not compute its value") from None
    if not cmath.isfinite(value):  # nan would pass every comparison below
        raise NotANumber("its value is not a finite number (a division by zero or an infinity?)")
    return value


def _describe(region: dict) -> str:
    return ", ".join(f"{name} {sign}" for name, sign in region.items()) or "everywhere"


def _where(region: dict) -> str:
    return f" where {_describe(region)}" if region else ""


def _unknown_names(expr, canonical, reference) -> set[str]:
    """Names in ``expr`` that neither the notation nor the reference defines (indexed arrays by their base)."""
    known = set(canonical) | {str(s) for s in reference.free_symbols}
    labels = {b.label for b in expr.atoms(sp.IndexedBase)}
    names = set()
    for atom in expr.free_symbols - labels:
        name = str(atom.base.label) if isinstance(atom, sp.Indexed) else str(atom)
        if name not in known:
            names.add(name)
    return names


def check_expression(student, reference, canonical: dict[str, object], sampler: Sampler | None = None,
                     mistakes: tuple[Mistake, ...] = (), what: str = "the expression", samples: int = 3,
                     seed: int = 0, simplify_seconds: float = 2.0, rtol: float = 1e-7) -> Comparison:
    """Decide whether ``student`` equals ``reference`` for every allowed value of its inputs."""
    sampler = sampler or Sampler()
    try:
        expr = canonicalise(student, canonical)
    except TypeError as exc:
        return _failed("not_sympy", f"{what}: ", Quoted(quote(exc, ERROR_LIMIT)))
    except Exception:  # noqa: BLE001 - any failure to evaluate the answer is the answer's problem
        return _failed("not_evaluable", f"{what} could not be evaluated: sympy could not work out its sums and "
                       "derivatives")
    reference = canonicalise(reference, canonical)
    unknown = _unknown_names(expr, canonical, reference)
    if unknown:
        return _failed("unknown_symbols", f"{what} uses symbols the problem does not define: ",
                       Quoted(quote(", ".join(sorted(unknown)))))  # names are any text: capped, printable

    try:
        if timer.available() and timer.within(simplify_seconds, lambda: sp.simplify(expr - reference)) == 0:
            return Comparison(True, f"{what}: correct")
    except timer.TimeLimitExpired:  # simplify alone ran out of time (a cell's own limit fires again right after)
        pass
    except Exception:  # noqa: BLE001 - simplify may fail on odd forms; the numbers decide
        pass

    rng = random.Random(seed)
    candidates = [(m, canonicalise(m.expression, canonical)) for m in mistakes]
    matches = [True] * len(candidates)  # by position: mistakes may share a key (one kind, several forms)
    failure = None
    for pattern in sampler.patterns():
        region = {str(z): ">0" if s > 0 else "<0" for z, s in zip(sampler.relu_inputs, pattern)}
        for _ in range(samples):
            values = sampler.substitutions([expr, reference] + [c for _, c in candidates], pattern, rng)
            try:
                got = _value(expr, values)
            except NotANumber as exc:
                return _failed("not_a_number", f"{what} could not be evaluated to a number{_where(region)}: ",
                               Quoted(exc), region=region)
            want = _value(reference, values)
            for i, (m, c) in enumerate(candidates):
                if matches[i] and not _close(_value_or_none(c, values), got, rtol):
                    matches[i] = False
            if abs(got - want) > rtol * (1 + abs(want)) and failure is None:
                failure = (region, got, want)
    if failure is None:
        return Comparison(True, f"{what}: correct")
    region, got, want = failure
    for matched, (m, _) in zip(matches, candidates):
        if matched:
            return _failed(m.key, f"{what}: {m.message}", region=region)
    return _failed("wrong_value", f"{what} is not right{_where(region)}: expected {want.real:.4g}, got "
                   f"{got.real:.4g}", region=region)


def _failed(mistake: str, *pieces, region: dict | None = None) -> Comparison:
    named = failure(mistake, *pieces)
    return Comparison(False, str(named), region or {}, mistake, named.scrubbed)


def _value_or_none(expr, values) -> complex | None:
    try:
        return _value(expr, values)
    except NotANumber:
        return None


def _close(value: complex | None, got: complex, rtol: float) -> bool:
    return value is not None and abs(value - got) <= rtol * (1 + abs(got))
