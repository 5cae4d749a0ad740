"""The symbolic checker accepts every equivalent form and names known mistakes (problems 6 and 7)."""

import pytest
import sympy as sp

from autograder.judge.checks import problem6 as check6
from autograder.judge.checks import problem7 as check7
from autograder.judge.symbolic import check_expression, Sampler
from mnist_lab.handin import P6_INDICES
from mnist_lab.notation import N_CONV, N_OUT, PROBLEM7, K
from solutions import problem7 as ref7

# Student-made objects: same names as the notebook's, but made afresh and without (or with other) assumptions.
z1, z2, z3, z4 = sp.symbols("z1:5")
w2, w3, w4 = sp.symbols("w2:5")
dC = sp.Symbol("dC_da4")
W, delta1, delta2, delta3 = (sp.IndexedBase(n) for n in ("W", "delta1", "delta2", "delta3"))
a0, M, dC_da3, z1_, z3_ = (sp.IndexedBase(n) for n in ("a0", "M", "dC_da3", "z1", "z3"))
sigma, sigma_prime = sp.Function("sigma"), sp.Function("sigma_prime")
u = sp.Symbol("u")  # a student's own variable to differentiate by
H = sp.Heaviside
step = lambda z: sp.Piecewise((1, z > 0), (0, True))  # noqa: E731

EQUIVALENT_P7 = {
    "reference order, no assumptions": H(z1) * w2 * H(z2) * w3 * H(z3) * w4 * H(z4) * dC,
    "Heaviside with H(0) = 1": dC * w2 * w3 * w4 * H(z1, 1) * H(z2, 1) * H(z3, 1) * H(z4, 1),
    "Piecewise steps": step(z1) * step(z2) * step(z3) * step(z4) * w2 * w3 * w4 * dC,
    "derivatives of Max": sp.Mul(*[sp.diff(sp.Max(0, z), z) for z in (z1, z2, z3, z4)]) * w2 * w3 * w4 * dC,
    "derivative of Max by u, then subs": sp.Mul(*[sp.Derivative(sp.Max(0, u), u).subs(u, z) for z in (z1, z2, z3, z4)])
    * w2 * w3 * w4 * dC,
    "Subs of a derivative of Max": sp.Mul(*[sp.Subs(sp.Derivative(sp.Max(0, u), u), u, z) for z in (z1, z2, z3, z4)])
    * w2 * w3 * w4 * dC,
    "unevaluated Derivative": sp.Mul(*[sp.Derivative(sp.Max(0, z), z) for z in (z1, z2, z3, z4)]) * w2 * w3 * w4 * dC,
    "sign form": sp.Mul(*[(sp.sign(z) + 1) / 2 for z in (z1, z2, z3, z4)]) * w2 * w3 * w4 * dC,
    "one Piecewise": sp.Piecewise((w2 * w3 * w4 * dC, sp.And(z1 > 0, z2 > 0, z3 > 0, z4 > 0)), (0, True)),
    "Max(0, z)/z": sp.Mul(*[sp.Max(0, z) / z for z in (z1, z2, z3, z4)]) * w2 * w3 * w4 * dC,
    "real symbols": ref7.relu_chain_gradient(),
}


@pytest.mark.parametrize("form", EQUIVALENT_P7)
def test_equivalent_relu_gradients_are_accepted(form):
    check7.check_relu_chain_gradient(lambda: EQUIVALENT_P7[form])


def sum_over(expr_of_xy):
    x, y = sp.symbols("x y", integer=True)
    return sp.Sum(expr_of_xy(x, y), (x, 0, N_CONV - 1), (y, 0, N_CONV - 1))


EQUIVALENT_P6 = {
    "delta_output reordered": ("delta_output", lambda o: sigma_prime(z3_[o]) * dC_da3[o]),
    "delta_pool as explicit sum": ("delta_pool", lambda j, k: sum(delta3[o] * W[o, j, k] for o in range(N_OUT))),
    "delta_pool as Sum with own index": ("delta_pool",
                                         lambda j, k: sp.Sum(W[sp.Symbol("p"), j, k] * delta3[sp.Symbol("p")],
                                                             (sp.Symbol("p"), 0, N_OUT - 1))),
    "delta_conv with floor division spelled out": (
        "delta_conv", lambda x, y: M[x, y] * delta2[(x - x % 2) // 2, (y - y % 2) // 2] * sigma_prime(z1_[x, y])),
    "grad_conv_weight as explicit double sum": (
        "grad_conv_weight", lambda l, m: sum(a0[x + l, y + m] * delta1[x, y] for x in range(N_CONV)
                                             for y in range(N_CONV))),
    "grad_conv_weight with Sum and own indices": (
        "grad_conv_weight", lambda l, m: sum_over(lambda x, y: delta1[x, y] * a0[x + l, y + m])),
    "grad_conv_bias as Sum": ("grad_conv_bias", lambda: sum_over(lambda x, y: delta1[x, y])),
}

# sigma' written as sympy's own derivative of sigma, in every spelling sympy offers; the notebook promises that any
# equivalent form is accepted. Each is also judged the way the grader sees it: recorded as srepr text, read back.
DERIVATIVE_FORMS = {
    "delta_output with sp.diff": ("delta_output", lambda o: dC_da3[o] * sp.diff(sigma(z3_[o]), z3_[o])),
    "delta_output with sp.Derivative": ("delta_output", lambda o: sp.Derivative(sigma(z3_[o]), z3_[o]) * dC_da3[o]),
    "delta_output with the diff method": ("delta_output", lambda o: dC_da3[o] * sigma(z3_[o]).diff(z3_[o])),
    "delta_output with diff by u, then subs": ("delta_output",
                                               lambda o: dC_da3[o] * sp.diff(sigma(u), u).subs(u, z3_[o])),
    "delta_output with Subs": ("delta_output", lambda o: dC_da3[o] * sp.Subs(sp.Derivative(sigma(u), u), u, z3_[o])),
    "delta_conv with sp.diff": ("delta_conv", lambda x, y: delta2[x // 2, y // 2] * M[x, y]
                                * sp.diff(sigma(z1_[x, y]), z1_[x, y])),
    # sympy's chain rule makes Subs(Derivative(sigma(_xi_1), _xi_1), _xi_1, z1[x, y]), its Dummy numbered by a hash
    "delta_conv with the chain rule's Subs": ("delta_conv", lambda x, y: delta2[x // 2, y // 2] * M[x, y]
                                              * sp.diff(sigma(2 * u), u).subs(u, z1_[x, y] / 2) / 2),
}


def test_the_chain_rule_form_is_the_one_sympy_makes():
    """The last form above really is sympy's Subs with a Dummy (not already a plain Derivative)."""
    form = DERIVATIVE_FORMS["delta_conv with the chain rule's Subs"][1](1, 2)
    subs = form.atoms(sp.Subs)
    assert len(subs) == 1 and all(isinstance(v, sp.Dummy) for v in subs.pop().variables)


@pytest.mark.parametrize("form", DERIVATIVE_FORMS)
def test_derivatives_of_sigma_are_accepted(form):
    name, answer = DERIVATIVE_FORMS[form]
    getattr(check6, f"check_{name}")(answer)


@pytest.mark.parametrize("form", DERIVATIVE_FORMS)
def test_derivatives_of_sigma_are_accepted_as_recorded(form, collect_and_judge):
    name, answer = DERIVATIVE_FORMS[form]
    cell = f"p6_{name}_tests"
    verdict = collect_and_judge(cell, lambda h: h.sympy_answers(cell, answer, h.P6_INDICES[name]))
    assert verdict.passed, verdict.message


@pytest.mark.parametrize("form", EQUIVALENT_P6)
def test_equivalent_backprop_answers_are_accepted(form):
    name, answer = EQUIVALENT_P6[form]
    getattr(check6, f"check_{name}")(answer)


def spread(x, y):
    return delta2[x // 2, y // 2] / 4 * sigma_prime(z1_[x, y])


WRONG = {
    # problem 7
    "p7 missing Theta(z3)": (check7.check_relu_chain_gradient,
                             lambda: H(z1) * H(z2) * H(z4) * w2 * w3 * w4 * dC, "Theta factor is missing"),
    "p7 no Theta at all": (check7.check_relu_chain_gradient, lambda: w2 * w3 * w4 * dC,
                           "Theta(z_i) are missing"),
    "p7 sigmoid chain": (check7.check_relu_chain_gradient,
                         lambda: sp.Mul(*[sigma_prime(z) for z in (z1, z2, z3, z4)]) * w2 * w3 * w4 * dC,
                         "sigmoid chain"),
    "p7 Theta(-z)": (check7.check_relu_chain_gradient,
                     lambda: H(-z1) * H(z2) * H(z3) * H(z4) * w2 * w3 * w4 * dC, "where z1 >0, z2 >0"),
    "p7 missing weight": (check7.check_relu_chain_gradient,
                          lambda: H(z1) * H(z2) * H(z3) * H(z4) * w2 * w4 * dC, "not right"),
    "p7 not sympy": (check7.check_relu_chain_gradient, lambda: "Theta(z1) w2 ...", "expected a sympy expression"),
    "p7 unknown symbol": (check7.check_relu_chain_gradient, lambda: H(z1) * sp.Symbol("q"), "does not define: q"),
    "p6 undefined array": (check6.check_delta_pool, lambda j, k: sp.IndexedBase("z2")[j, k], "does not define: z2"),
    # problem 6
    "p6 output without sigma'": (check6.check_delta_output, lambda o: dC_da3[o], "missing the factor sigma'(z3"),
    "p6 pool with sigma'": (check6.check_delta_pool,
                            lambda j, k: sum(W[o, j, k] * delta3[o] for o in range(N_OUT))
                            * sigma_prime(sp.IndexedBase("a2")[j, k]), "no activation function"),
    "p6 pool transposed W": (check6.check_delta_pool,
                             lambda j, k: sum(W[o, k, j] * delta3[o] for o in range(N_OUT)), "swapped"),
    "p6 conv without sigma'": (check6.check_delta_conv, lambda x, y: delta2[x // 2, y // 2] * M[x, y],
                               "missing the factor sigma'(z1"),
    "p6 conv spread evenly": (check6.check_delta_conv, spread, "spread evenly"),
    "p6 conv without mask": (check6.check_delta_conv,
                             lambda x, y: delta2[x // 2, y // 2] * sigma_prime(z1_[x, y]), "mask M"),
    "p6 weight gradient flipped": (check6.check_grad_conv_weight,
                                   lambda l, m: sum_over(lambda x, y: delta1[x, y] * a0[x + K - 1 - l, y + K - 1 - m]),
                                   "flipped-kernel"),
    "p6 weight gradient unshared": (check6.check_grad_conv_weight, lambda l, m: delta1[0, 0] * a0[l, m], "shared"),
    "p6 bias unshared": (check6.check_grad_conv_bias, lambda: delta1[0, 0], "bias is shared"),
    "p6 bias with extra sigma'": (check6.check_grad_conv_bias,
                                  lambda: sum_over(lambda x, y: delta1[x, y] * sigma_prime(z1_[x, y])),
                                  "already contains sigma'"),
    # the same mistakes, and new ones, with sigma' written as a derivative of sigma
    "p6 conv without mask, sp.diff": (check6.check_delta_conv, lambda x, y: delta2[x // 2, y // 2]
                                      * sp.diff(sigma(z1_[x, y]), z1_[x, y]), "mask M"),
    "p6 conv spread evenly, sp.Derivative": (check6.check_delta_conv, lambda x, y: delta2[x // 2, y // 2] / 4
                                             * sp.Derivative(sigma(z1_[x, y]), z1_[x, y]), "spread evenly"),
    "p6 output with sigma''": (check6.check_delta_output,
                               lambda o: dC_da3[o] * sp.diff(sigma(z3_[o]), z3_[o], 2), "delta_output(0) is not right"),
    "p6 output with sigma'(2 z3)": (check6.check_delta_output,
                                    lambda o: dC_da3[o] * sp.diff(sigma(2 * u), u).subs(u, z3_[o]),
                                    "delta_output(0) is not right"),
    "p6 output with sigma instead of sigma'": (check6.check_delta_output,
                                               lambda o: sp.diff(dC_da3[o] * sigma(z3_[o]), dC_da3[o]),
                                               "delta_output(0) is not right"),
    "p6 output differentiated by another unit": (check6.check_delta_output,
                                                 lambda o: dC_da3[o] * sp.diff(sigma(z3_[o]), z3_[(o + 1) % N_OUT]),
                                                 "delta_output(0) is not right"),
    "p6 output differentiated by a free u": (check6.check_delta_output, lambda o: dC_da3[o] * sp.diff(sigma(u), u),
                                             "does not define: u"),
    "p6 output not a number": (check6.check_delta_output, lambda o: sp.nan * dC_da3[o],
                               "delta_output(0) could not be evaluated to a number: its value is not a finite"),
    "p6 output infinite": (check6.check_delta_output, lambda o: sp.zoo, "its value is not a finite number"),
    "p7 sigmoid chain with sp.diff": (check7.check_relu_chain_gradient,
                                      lambda: sp.Mul(*[sp.diff(sigma(z), z) for z in (z1, z2, z3, z4)])
                                      * w2 * w3 * w4 * dC, "sigmoid chain"),
}


@pytest.mark.parametrize("case", WRONG)
def test_known_wrong_answers_are_rejected_with_their_message(case):
    check, answer, message = WRONG[case]
    with pytest.raises(AssertionError) as info:
        check(answer)
    assert message in str(info.value), str(info.value)


SYMPY_ERROR_WORDS = ("Can't calculate", "wrt", "Error", "Traceback", "object has no attribute", "everywhere")


@pytest.mark.parametrize("case", [c for c in WRONG if c.startswith("p6")])
def test_wrong_answers_get_a_clean_sentence_as_recorded(case, collect_and_judge):
    """Judged as the grader sees them (srepr text read back): the message names the first failing index and says
    what is wrong in the grader's words, never in sympy's."""
    check, answer, message = WRONG[case]
    name = check.__name__.removeprefix("check_")
    cell = f"p6_{name}_tests"
    verdict = collect_and_judge(cell, lambda h: h.sympy_answers(cell, answer, h.P6_INDICES[name]))
    assert not verdict.passed and message in verdict.message, verdict.message
    named = [f"{name}({', '.join(map(str, index))})" for index in P6_INDICES[name]]
    assert any(verdict.message.startswith(f"{label} ") or verdict.message.startswith(f"{label}:") for label in named), \
        verdict.message
    assert not any(words in verdict.message for words in SYMPY_ERROR_WORDS), verdict.message


def test_a_derivative_sympy_cannot_evaluate_gets_a_clean_sentence():
    """A derivative of a function of two arguments is neither named nor evaluable: a clean 'not right'."""
    f = sp.Function("f")
    verdict = check_expression(dC_da3[0] * sp.Derivative(f(z3_[0], dC_da3[0]), z3_[0]),
                               dC_da3[0] * sigma_prime(z3_[0]), {}, what="delta_output(0)")
    assert not verdict.correct and verdict.message.startswith("delta_output(0) is not right"), verdict.message


def test_not_implemented_stub_gets_a_clear_message():
    def delta_conv(x, y):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="delta_conv is not implemented yet"):
        check6.check_delta_conv(delta_conv)


def test_numeric_path_decides_when_simplify_cannot():
    """A zero timeout skips simplify: the numbers alone must still accept and reject correctly."""
    sampler = Sampler(relu_inputs=PROBLEM7 and tuple(PROBLEM7[n] for n in ("z1", "z2", "z3", "z4")))
    reference = ref7.relu_chain_gradient()
    ok = check_expression(EQUIVALENT_P7["one Piecewise"], reference, PROBLEM7, sampler, simplify_seconds=1e-6)
    bad = check_expression(EQUIVALENT_P7["one Piecewise"] * 2, reference, PROBLEM7, sampler, simplify_seconds=1e-6)
    assert ok.correct and not bad.correct
    assert bad.region == {"z1": ">0", "z2": ">0", "z3": ">0", "z4": ">0"}  # the only region where they differ


def test_sampling_covers_negative_inputs():
    """A checker sampling only positive z would accept a missing Theta; every sign pattern is visited."""
    patterns = list(check7.SAMPLER.patterns())
    assert len(patterns) == 16 and (-1, -1, -1, -1) in patterns


def test_stability_condition_checked_on_points(collect_and_judge):
    def judge(function):
        return collect_and_judge("p7_stability_tests", lambda h: h.stability("p7_stability_tests", function))

    assert judge(ref7.gradient_is_stable).passed
    forgets_weights = judge(lambda z, w: all(v > 0 for v in z))
    assert not forgets_weights.passed and "every z_i > 0" in forgets_weights.message
    forgets_dying_units = judge(lambda z, w: abs(w[0] * w[1] * w[2]) <= 2)
    assert not forgets_dying_units.passed and "wrong on" in forgets_dying_units.message
