"""The restricted srepr reader: every reference answer and its equivalent forms come back equal; anything that is
not plain sympy data is refused without being run."""

import pytest
import sympy as sp

from autograder.judge.sympy_text import MAX_CHARS, MAX_DERIVATIVE_ORDER, SympyTextError, parse_srepr
from mnist_lab.handin import P6_INDICES
from mnist_lab import notation as nt
from mnist_lab.notation import dC_da4, relu_w, relu_z
from solutions import problem6, problem7


def reference_answers():
    for name, indices in P6_INDICES.items():
        for index in indices:
            yield f"{name}{index}", getattr(problem6, name)(*index)
    yield "relu_chain_gradient", problem7.relu_chain_gradient()
    z1 = relu_z[0]
    yield "piecewise", sp.Piecewise((relu_w[0] * dC_da4, z1 > 0), (0, True))
    yield "max derivative", sp.Derivative(sp.Max(0, z1), z1)
    yield "rational and float", sp.Rational(1, 3) * z1 + sp.Float(0.25) - sp.exp(-z1) / 2
    yield "plain symbol", sp.Symbol("z1")
    u = sp.Symbol("u")
    sigma, z1_, z3 = nt.sigma, nt.z1, nt.z3
    yield "derivative of sigma", sp.diff(sigma(z3[0]), z3[0]) * sp.Derivative(sigma(z1_[1, 2]), (z1_[1, 2], 2))
    yield "Subs of a derivative", sp.Subs(sp.Derivative(sigma(u), u), u, z1_[0, 1])
    yield "chain rule with a Dummy", sp.diff(sigma(2 * z3[1]), z3[1]) + sp.diff(sigma(-z1_[2, 3]), z1_[2, 3])


@pytest.mark.parametrize("label, expression", list(reference_answers()), ids=lambda v: v if isinstance(v, str) else "")
def test_srepr_round_trip(label, expression):
    rebuilt = parse_srepr(sp.srepr(expression))
    assert sp.srepr(rebuilt) == sp.srepr(expression) or sp.simplify(rebuilt.doit() - expression.doit()) == 0


@pytest.mark.parametrize("text, words", [
    ("__import__('os').system('touch /tmp/owned')", "not an allowed part"),
    ("Symbol('x').__class__", "unexpected Attribute"),
    ("(lambda: Symbol('x'))()", "'Lambda' is not an allowed part"),
    ("eval('1')", "'eval' is not an allowed part"),
    ("Symbol('x', evaluate=exec)", "keyword argument 'evaluate'"),
    ("Symbol('x', real=print)", "unexpected Name where a literal"),
    ("Pow(Integer(10), Integer(100000000))", "exponent larger"),
    ("Integer(10**100)", "unexpected BinOp"),
    ("Integer(123456789012345678901234567890)", "too large"),
    ("Function('os.system')(Symbol('x'))", "identifier"),
    ("[Symbol('x') for _ in range(10**9)]", "unexpected ListComp"),
    ("Add(" * 300 + "Integer(1)" + ")" * 300, "not a sympy expression"),
    ("'just a string'", "not a sympy expression"),
    ("Symbol('x'" + ", Symbol('y')" * 30000 + ")", "characters long"),
    # Derivative(f, (x, n)).doit() differentiates n times, one by one
    ("Derivative(Function('f')(Symbol('x')), Tuple(Symbol('x'), Integer(1000000)))", "order higher than"),
    ("Derivative(Symbol('x')" + ", Symbol('x')" * (MAX_DERIVATIVE_ORDER + 1) + ")", "order higher than"),
    ("Derivative(Symbol('x'), Tuple(Symbol('x'), Symbol('n')))", "whole number"),
    ("Derivative(Symbol('x'), Tuple(Symbol('x'), Integer(-1)))", "whole number"),
    # sympy's own refusal ("Can't calculate derivative wrt 2") becomes a sentence of the reader's
    ("Derivative(Symbol('x'), Integer(2))", "Derivative cannot be built from the arguments given"),
    ("Subs(Symbol('x'))", "Subs cannot be built"),
    ("Dummy('x', dummy_index=" + str(2**70) + ")", "too large"),
    ("Integer(" + str(2**40) + ")", "too large"),
])
def test_anything_but_sympy_data_is_refused(text, words):
    with pytest.raises(SympyTextError, match=words):
        parse_srepr(text)


def test_size_limit_is_stated():
    with pytest.raises(SympyTextError, match=str(MAX_CHARS)):
        parse_srepr("Symbol('x')" + " " * MAX_CHARS)


def test_dummies_with_one_index_are_one_object():
    o = sp.Dummy("o")
    expression = sp.Sum(sp.IndexedBase("W")[o] * o, (o, 0, 2))
    rebuilt = parse_srepr(sp.srepr(expression))
    assert rebuilt.doit() == expression.doit()


def test_the_chain_rule_dummy_is_read_back_as_one_object():
    """sympy numbers the xi of Subs(Derivative(sigma(xi), xi), xi, 2 z) by a 64-bit hash, often negative: it is a
    label, not a number in the expression, so the integer limit does not apply, and every occurrence is one Dummy."""
    expression = sp.diff(nt.sigma(2 * nt.z3[0]), nt.z3[0])
    (dummy,) = expression.atoms(sp.Dummy)
    assert abs(dummy.dummy_index) > 10**12
    rebuilt = parse_srepr(sp.srepr(expression))
    (subs,) = rebuilt.atoms(sp.Subs)
    assert rebuilt == expression and subs.variables == subs.expr.variables


def test_a_slow_answer_costs_its_cell_within_the_time_limit(tmp_path, monkeypatch):
    """An answer that takes forever to evaluate (a sum of a billion terms without a closed form) fails its cell at
    the grader's per-cell limit, even though the symbolic checker sets timers of its own inside it."""
    import json
    import time

    from autograder.judge import verdicts

    k = sp.Symbol("k")
    slow = sp.Sum(sp.Function("sigma_prime")(sp.IndexedBase("z3")[0] * k), (k, 0, 10**9))
    entry = {json.dumps([o]): {"srepr": sp.srepr(slow)} for o in range(3)}
    (tmp_path / "p6_delta_output_tests--sympy.json").write_text(json.dumps({"answers": entry}))
    monkeypatch.setattr(verdicts, "VERDICT_SECONDS", 3)
    start = time.monotonic()
    verdict = verdicts.judge_cell("p6_delta_output_tests", tmp_path, 0)
    assert not verdict.passed and "longer than 3 s" in verdict.message, verdict
    assert time.monotonic() - start < 30
