"""Hidden-test checks for problem 7 (ReLU chains: the gradient, its stability, and two remedies)."""

import itertools
import random

import sympy as sp
import torch

from autograder.symbolic import Mistake, Sampler, check_expression
from mnist_lab.notation import PROBLEM7, dC_da4, relu_w, relu_z
from solutions import problem7 as reference

SAMPLER = Sampler(relu_inputs=relu_z)


def check_relu_chain_gradient(relu_chain_gradient):
    answer = _call(relu_chain_gradient)
    expected = reference.relu_chain_gradient()
    weights = sp.Mul(*relu_w) * dC_da4
    mistakes = [Mistake("no_theta", weights, "the factors ReLU'(z_i) = Theta(z_i) are missing: the gradient is "
                        "exactly 0 as soon as one unit is inactive (z_i < 0)")]
    for i, z in enumerate(relu_z):
        mistakes.append(Mistake(f"no_theta_{z}", expected.subs(sp.Heaviside(z), 1),
                                f"a Theta factor is missing: ReLU'({z}) = Theta({z}) for unit {i + 1}"))
    mistakes.append(Mistake("sigmoid", weights * sp.Mul(*[sp.Function("sigma_prime")(z) for z in relu_z]),
                            "this is the sigmoid chain; with ReLU units each sigma'(z_i) becomes Theta(z_i)"))
    verdict = check_expression(answer, expected, PROBLEM7, SAMPLER, tuple(mistakes), what="dC/db1")
    assert verdict.correct, verdict.message


def stability_points(seed: int = 0, per_pattern: int = 40):
    """Points (z, w) over every sign pattern of z and weight products from tiny to huge."""
    rng = random.Random(seed)
    for signs in itertools.product((1, -1), repeat=4):
        for _ in range(per_pattern):
            z = [s * rng.uniform(0.05, 3.0) for s in signs]
            scale = 10 ** (rng.uniform(-1.5, 1.5) / 3)  # products of three weights from ~0.03 to ~30
            w = [rng.choice((1, -1)) * scale * rng.uniform(0.8, 1.25) for _ in range(3)]
            yield z, w


def check_gradient_is_stable(gradient_is_stable):
    wrong = []
    for z, w in stability_points():
        got = _call(gradient_is_stable, list(z), list(w))
        if bool(got) != reference.gradient_is_stable(z, w):
            wrong.append((z, w, bool(got)))
    if wrong:
        z, w, got = wrong[0]
        product = w[0] * w[1] * w[2]
        raise AssertionError(
            f"gradient_is_stable is wrong on {len(wrong)} of the sampled points, e.g. z = "
            f"{[round(v, 3) for v in z]}, w = {[round(v, 3) for v in w]} (|w2 w3 w4| = {abs(product):.3g}): "
            f"you said {got}. Stable means: every z_i > 0 and 1/2 <= |w2 w3 w4| <= 2.")


def _points():
    x = torch.linspace(-4, 4, 401, dtype=torch.float64)
    return x[x != 0]  # the kink at 0 has no single derivative


def _autograd(function, x):
    x = x.clone().requires_grad_(True)
    function(x).sum().backward()
    return x.grad


def _compare(name, got, expected, alpha):
    assert isinstance(got, torch.Tensor), f"{name} must return a torch tensor, got {type(got).__name__}"
    assert got.shape == expected.shape, f"{name} returned shape {tuple(got.shape)} for input {tuple(expected.shape)}"
    bad = ~torch.isclose(got.double(), expected, rtol=1e-6, atol=1e-9)
    if bad.any():
        at = _points()[bad][0].item()
        raise AssertionError(f"{name}(x, alpha={alpha}) is wrong, e.g. at x = {at:.3g}: "
                             f"expected {expected[bad][0].item():.4g}, got {got.double()[bad][0].item():.4g}")


def _call(function, *args):
    try:
        return function(*args)
    except NotImplementedError:
        raise AssertionError(f"{function.__name__} is not implemented yet") from None


def check_activations(leaky_relu, leaky_relu_derivative, elu, elu_derivative):
    """Values against torch.nn.functional, derivatives against autograd, for two alphas each (x != 0)."""
    x = _points()
    F = torch.nn.functional
    for alpha in (0.01, 0.2):
        _compare("leaky_relu", _call(leaky_relu, x, alpha), F.leaky_relu(x, alpha), alpha)
        _compare("leaky_relu_derivative", _call(leaky_relu_derivative, x, alpha),
                 _autograd(lambda t: F.leaky_relu(t, alpha), x), alpha)
    for alpha in (1.0, 0.5):
        _compare("elu", _call(elu, x, alpha), F.elu(x, alpha), alpha)
        _compare("elu_derivative", _call(elu_derivative, x, alpha), _autograd(lambda t: F.elu(t, alpha), x), alpha)
