"""The reference answers of problems 6 and 7 agree with sympy's and torch's own differentiation."""

import itertools
import random

import numpy as np
import pytest
import sympy as sp

from autograder.judge.checks.problem6 import torch_gradients
from mnist_lab.handin import random_network
from mnist_lab.notation import K, N_CONV, N_IN, N_OUT, N_POOL, dC_da4, relu_w, relu_z
from mnist_lab import notation as nt
from solutions import problem6, problem7


def logistic(z):
    return 1 / (1 + sp.exp(-z))


@pytest.fixture(scope="module")
def tiny_network():
    """A concrete 6x6-input, 3x3-filter network in sympy with Max pooling, and one numeric point."""
    a0 = sp.Matrix(N_IN, N_IN, lambda r, s: sp.Symbol(f"a0_{r}{s}"))
    w = sp.Matrix(K, K, lambda l, m: sp.Symbol(f"w_{l}{m}"))
    b = sp.Symbol("b")
    W = [[[sp.Symbol(f"W_{o}{j}{k}") for k in range(N_POOL)] for j in range(N_POOL)] for o in range(N_OUT)]
    b3 = [sp.Symbol(f"b3_{o}") for o in range(N_OUT)]
    y = [sp.Symbol(f"y_{o}") for o in range(N_OUT)]
    z1 = [[b + sum(w[l, m] * a0[x + l, yy + m] for l in range(K) for m in range(K)) for yy in range(N_CONV)]
          for x in range(N_CONV)]
    a1 = [[logistic(v) for v in row] for row in z1]
    a2 = [[sp.Max(*(a1[2 * j + dx][2 * k + dy] for dx in (0, 1) for dy in (0, 1))) for k in range(N_POOL)]
          for j in range(N_POOL)]
    z3 = [b3[o] + sum(W[o][j][k] * a2[j][k] for j in range(N_POOL) for k in range(N_POOL)) for o in range(N_OUT)]
    cost = sum((logistic(z3[o]) - y[o]) ** 2 for o in range(N_OUT)) / 2
    rng = np.random.default_rng(0)
    point = {s: float(rng.normal()) for s in cost.free_symbols}
    return dict(a0=a0, w=w, b=b, z1=z1, z3=z3, a2=a2, cost=cost, point=point, y=y)


@pytest.mark.slow
def test_backprop_equations_match_sympy_differentiation(tiny_network):
    net = tiny_network
    point = net["point"]
    num = lambda e: float(e.xreplace(point).evalf())  # noqa: E731
    z1 = np.array([[num(v) for v in row] for row in net["z1"]])
    z3 = np.array([num(v) for v in net["z3"]])
    a1, a3 = 1 / (1 + np.exp(-z1)), 1 / (1 + np.exp(-z3))
    y = np.array([point[s] for s in net["y"]])
    blocks = a1.reshape(N_POOL, 2, N_POOL, 2)
    mask = (blocks == blocks.max(axis=(1, 3), keepdims=True)).reshape(N_CONV, N_CONV).astype(float)
    values = {nt.dC_da3[o]: a3[o] - y[o] for o in range(N_OUT)}
    funcs = {}
    for o in range(N_OUT):
        funcs[nt.sigma_prime(nt.z3[o])] = a3[o] * (1 - a3[o])
    for x, yy in itertools.product(range(N_CONV), repeat=2):
        funcs[nt.sigma_prime(nt.z1[x, yy])] = a1[x, yy] * (1 - a1[x, yy])
        values[nt.M[x, yy]] = mask[x, yy]
    values.update({nt.W[o, j, k]: point[sp.Symbol(f"W_{o}{j}{k}")]
                   for o in range(N_OUT) for j in range(N_POOL) for k in range(N_POOL)})
    values.update({nt.a0[r, s]: point[net["a0"][r, s]] for r in range(N_IN) for s in range(N_IN)})

    def evaluate(expr, extra):
        return float(sp.sympify(expr).doit().xreplace(funcs).xreplace({**values, **extra}))

    delta3 = {nt.delta3[o]: evaluate(problem6.delta_output(o), {}) for o in range(N_OUT)}
    delta2 = {nt.delta2[j, k]: evaluate(problem6.delta_pool(j, k), delta3)
              for j in range(N_POOL) for k in range(N_POOL)}
    delta1 = {nt.delta1[x, yy]: evaluate(problem6.delta_conv(x, yy), delta2)
              for x in range(N_CONV) for yy in range(N_CONV)}
    for l, m in itertools.product(range(K), repeat=2):
        expected = num(sp.diff(net["cost"], net["w"][l, m]))
        assert evaluate(problem6.grad_conv_weight(l, m), delta1) == pytest.approx(expected, rel=1e-9)
    assert evaluate(problem6.grad_conv_bias(), delta1) == pytest.approx(num(sp.diff(net["cost"], net["b"])), rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_numpy_backward_matches_torch_autograd(seed):
    net = random_network(seed, 6, 3, 3)
    got, want = problem6.conv_net_backward(**net), torch_gradients(**net)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-12)


def test_conv_net_backward_check_rejects_a_wrong_gradient(collect_and_judge):
    def off_by_pool_spread(**net):
        grads = problem6.conv_net_backward(**net)
        grads["w"] = grads["w"] * 0.25
        return grads

    assert collect_and_judge("p6_backward_tests", lambda h: h.backward("p6_backward_tests",
                                                                       problem6.conv_net_backward)).passed
    verdict = collect_and_judge("p6_backward_tests", lambda h: h.backward("p6_backward_tests", off_by_pool_spread))
    assert not verdict.passed and "gradient 'w' differs from torch autograd" in verdict.message


def test_relu_chain_gradient_matches_sympy_differentiation():
    x, b1, b2, b3, b4 = sp.symbols("x b1:5", real=True)
    z = list(relu_z)
    w2, w3, w4 = relu_w
    a = x
    for w_i, b_i in zip((1, w2, w3, w4), (b1, b2, b3, b4)):
        a = sp.Max(0, w_i * a + b_i)
    derivative = sp.diff(dC_da4 * a, b1)  # C linear in a4, so dC/da4 is the constant dC_da4
    rng = random.Random(0)
    reference = problem7.relu_chain_gradient()
    hits = 0
    for _ in range(400):
        point = {s: rng.uniform(-2, 2) for s in (x, b1, b2, b3, b4, w2, w3, w4, dC_da4)}
        values = {**point}  # plus the chain's z_i at this point:
        current = point[x]
        for i, (w_i, b_i) in enumerate(zip((1, w2, w3, w4), (b1, b2, b3, b4))):
            zi = float(sp.sympify(w_i).xreplace(point)) * current + point[b_i]
            values[z[i]] = zi
            current = max(0.0, zi)
        if min(abs(values[zz]) for zz in z) < 1e-3:
            continue  # too close to a kink
        hits += all(values[zz] > 0 for zz in z)
        assert float(derivative.xreplace(point)) == pytest.approx(float(reference.xreplace(values)), abs=1e-12)
    assert hits > 10  # some points have every unit active, so the nonzero branch was compared too


def test_stability_reference_examples():
    assert problem7.gradient_is_stable([1, 2, 0.5, 1], [1, -1, 1.5])
    assert not problem7.gradient_is_stable([1, -0.1, 0.5, 1], [1, 1, 1])  # a dead unit: gradient exactly 0
    assert not problem7.gradient_is_stable([1, 1, 1, 1], [3, 3, 3])  # explodes
    assert not problem7.gradient_is_stable([1, 1, 1, 1], [0.3, 0.3, 0.3])  # vanishes
