"""Checks for problem 7 (ReLU chains: the gradient, its stability, two remedies), run by the grader on what the
hidden tests recorded."""

import sympy as sp
import torch

from autograder.judge.checks import called, require_correct
from autograder.judge.decode import decode_array
from autograder.mistakes import failure, raised
from autograder.text import ERROR_LIMIT, quote
from autograder.judge.symbolic import Mistake, Sampler, check_expression
from mnist_lab.handin import ACTIVATION_ALPHAS, activation_points, activation_reference, stability_points
from mnist_lab.notation import PROBLEM7, dC_da4, relu_w, relu_z
from solutions import problem7 as reference

SAMPLER = Sampler(relu_inputs=relu_z)


def check_relu_chain_gradient(relu_chain_gradient):
    answer = called(relu_chain_gradient)
    expected = reference.relu_chain_gradient()
    weights = sp.Mul(*relu_w) * dC_da4
    mistakes = [Mistake("no_theta", weights, "the factors ReLU'(z_i) = Theta(z_i) are missing: the gradient is "
                        "exactly 0 as soon as one unit is inactive (z_i < 0)")]
    for i, z in enumerate(relu_z):
        mistakes.append(Mistake("one_theta_missing", expected.subs(sp.Heaviside(z), 1),
                                f"a Theta factor is missing: ReLU'({z}) = Theta({z}) for unit {i + 1}"))
    mistakes.append(Mistake("sigmoid", weights * sp.Mul(*[sp.Function("sigma_prime")(z) for z in relu_z]),
                            "this is the sigmoid chain; with ReLU units each sigma'(z_i) becomes Theta(z_i)"))
    verdict = check_expression(answer, expected, PROBLEM7, SAMPLER, tuple(mistakes), what="dC/db1")
    require_correct(verdict)


def check_gradient_is_stable(recorded: dict, seed: int):
    """The recorded answers on the points handin.stability drew from ``seed``, against the definition."""
    if "error" in recorded:
        raise raised("gradient_is_stable failed: ", quote(recorded.get("error"), ERROR_LIMIT))
    answers = recorded.get("answers")
    points = list(stability_points(seed))
    if not (isinstance(answers, list) and len(answers) == len(points) and all(isinstance(a, bool) for a in answers)):
        raise failure("not_recorded", "gradient_is_stable's answers were not recorded")
    wrong = [(z, w, got) for (z, w), got in zip(points, answers) if got != reference.gradient_is_stable(z, w)]
    if wrong:
        z, w, got = wrong[0]
        product = w[0] * w[1] * w[2]
        raise failure(
            "stability_wrong", f"gradient_is_stable is wrong on {len(wrong)} of the sampled points, e.g. z = "
            f"{[round(v, 3) for v in z]}, w = {[round(v, 3) for v in w]} (|w2 w3 w4| = {abs(product):.3g}): "
            f"you said {got}. Stable means: every z_i > 0 and 1/2 <= |w2 w3 w4| <= 2.")


def check_activations(recorded: dict):
    """Each recorded activation against torch.nn.functional, derivatives against autograd (x != 0)."""
    outputs = recorded.get("outputs")
    if not isinstance(outputs, dict):
        raise failure("not_recorded", "no activation values were recorded")
    x = activation_points()
    for name, alphas in ACTIVATION_ALPHAS.items():
        for alpha in alphas:
            value = outputs.get(f"{name}@{alpha}")
            if value is None:
                raise failure("not_recorded", f"{name} was not recorded")
            if "error" in value:
                raise raised(f"{name}(x, alpha={alpha}) failed: ", quote(value["error"], ERROR_LIMIT))
            got = torch.from_numpy(decode_array(value))
            expected = activation_reference(name, x, alpha)
            if got.shape != expected.shape:
                raise failure("activation_shape", f"{name} returned shape {tuple(got.shape)} for input "
                              f"{tuple(x.shape)}")
            bad = ~torch.isclose(got.double(), expected, rtol=1e-6, atol=1e-9)
            if bad.any():
                at = x[bad][0].item()
                raise failure("activation_wrong", f"{name}(x, alpha={alpha}) is wrong, e.g. at x = {at:.3g}: "
                              f"expected {expected[bad][0].item():.4g}, got {got.double()[bad][0].item():.4g}")

