"""Checks for problem 6 (backpropagation through conv -> max-pool -> fully-connected), run by the grader on
what the hidden tests recorded (the symbolic checks receive functions that look the recorded answers up)."""

import random

import numpy as np
import torch
import torch.nn.functional as F

from autograder.judge.checks import called, require_correct
from autograder.judge.decode import decode_array
from autograder.mistakes import failure, raised
from autograder.text import ERROR_LIMIT, quote
from autograder.judge.symbolic import Mistake, Sampler, check_expression
from mnist_lab.handin import BACKWARD_SHAPES, random_network
from mnist_lab.notation import (M, N_CONV, N_OUT, N_POOL, PROBLEM6, W, a0, a2, dC_da3, delta1, delta2, delta3, K,
                                sigma_prime, z1)
from solutions import problem6 as reference


def _pool_mask(indices, shared, rng: random.Random) -> int:
    """M[x, y]: exactly one winner per 2x2 block, drawn once per sample (no ties in max-pooling)."""
    x, y = (int(i) for i in indices)
    block = (x // 2, y // 2)
    if block not in shared:
        shared[block] = (rng.randrange(2), rng.randrange(2))
    return int((x % 2, y % 2) == shared[block])


SAMPLER = Sampler(special={"M": _pool_mask})


def _check(student_value, expected, what, mistakes=()):
    verdict = check_expression(student_value, expected, PROBLEM6, SAMPLER, tuple(mistakes), what=what)
    require_correct(verdict)
    return verdict



def check_delta_output(delta_output):
    for o in range(N_OUT):
        _check(called(delta_output, o), reference.delta_output(o), f"delta_output({o})", [
            Mistake("no_sigma_prime", dC_da3[o], "missing the factor sigma'(z3[o]) of equation (1)"),
        ])


def check_delta_pool(delta_pool):
    for j in range(N_POOL):
        for k in range(N_POOL):
            expected = reference.delta_pool(j, k)
            _check(called(delta_pool, j, k), expected, f"delta_pool({j}, {k})", [
                Mistake("sigma_prime_in_pool", expected * sigma_prime(a2[j, k]),
                        "a max-pooling layer has no activation function, so no sigma' factor appears"),
                Mistake("spread_pool", expected / 4, "delta2 is the error of the pooled value itself; "
                        "dividing among the four inputs belongs to average pooling, not here"),
                Mistake("transposed_W", sum(W[o, k, j] * delta3[o] for o in range(N_OUT)),
                        "the weight indices are swapped: a2[j, k] meets W[o, j, k]"),
            ])


def check_delta_conv(delta_conv):
    for x in range(N_CONV):
        for y in range(N_CONV):
            expected = reference.delta_conv(x, y)
            upstream = delta2[x // 2, y // 2]
            _check(called(delta_conv, x, y), expected, f"delta_conv({x}, {y})", [
                Mistake("no_sigma_prime", upstream * M[x, y],
                        "missing the factor sigma'(z1[x, y]) of the convolutional layer's activation"),
                Mistake("spread_pool", upstream / 4 * sigma_prime(z1[x, y]),
                        "the error is spread evenly over the pooling window; in max-pooling only the "
                        "largest input of each block receives it (use the mask M)"),
                Mistake("no_mask", upstream * sigma_prime(z1[x, y]),
                        "every input of the pooling block receives the error; only the largest one should "
                        "(multiply by the mask M)"),
            ])


def check_grad_conv_weight(grad_conv_weight):
    for l in range(K):
        for m in range(K):
            expected = reference.grad_conv_weight(l, m)
            flipped = sum(delta1[x, y] * a0[x + K - 1 - l, y + K - 1 - m]
                          for x in range(N_CONV) for y in range(N_CONV))
            _check(called(grad_conv_weight, l, m), expected, f"grad_conv_weight({l}, {m})", [
                Mistake("flipped", flipped, "this is the flipped-kernel (true convolution) form; the forward "
                        "pass here is a cross-correlation, so dC/dw[l, m] pairs delta1[x, y] with a0[x+l, y+m]"),
                Mistake("unshared", delta1[0, 0] * a0[l, m], "the filter is shared by every position: sum "
                        "delta1[x, y] * a0[x+l, y+m] over all x, y"),
            ])


def check_grad_conv_bias(grad_conv_bias):
    expected = reference.grad_conv_bias()
    _check(called(grad_conv_bias), expected, "grad_conv_bias()", [
        Mistake("unshared", delta1[0, 0], "the bias is shared by every position: sum delta1 over all of them"),
        Mistake("with_sigma_prime", sum(delta1[x, y] * sigma_prime(z1[x, y]) for x in range(N_CONV)
                                        for y in range(N_CONV)),
                "delta1 already contains sigma'(z1); equation (3) adds no further factor"),
    ])


def torch_gradients(a0, w, b, W, b3, y) -> dict:
    """The same network's gradients by torch autograd (the arbiter for conv_net_backward)."""
    t = {name: torch.tensor(np.asarray(v), dtype=torch.float64, requires_grad=name != "a0" and name != "y")
         for name, v in dict(a0=a0, w=w, b=b, W=W, b3=b3, y=y).items()}
    z1_ = F.conv2d(t["a0"][None, None], t["w"][None, None]) + t["b"]
    a2_ = F.max_pool2d(torch.sigmoid(z1_), 2)[0, 0]
    a3_ = torch.sigmoid(torch.einsum("ojk,jk->o", t["W"], a2_) + t["b3"])
    (0.5 * ((a3_ - t["y"]) ** 2).sum()).backward()
    return {name: t[name].grad.numpy() for name in ("w", "b", "W", "b3")}


def check_conv_net_backward(recorded: dict, seed: int):
    """The recorded gradients of the networks handin.backward drew from ``seed``, against torch autograd."""
    results = recorded.get("results")
    if not (isinstance(results, list) and len(results) == len(BACKWARD_SHAPES)):
        raise failure("not_recorded", "no gradients were recorded")
    for i, ((n, k, n_out), got) in enumerate(zip(BACKWARD_SHAPES, results)):
        if "error" in got:
            raise raised(f"conv_net_backward failed on a {n}x{n} input: ", quote(got["error"], ERROR_LIMIT))
        want = torch_gradients(**random_network(seed + i, n, k, n_out))
        for name, expected in want.items():
            if name not in got:
                raise failure("gradient_missing", f"conv_net_backward's result has no entry {name!r} (needs w, b, W, "
                              "b3)")
            value = decode_array(got[name]).astype(float)
            if value.shape != np.shape(expected):
                raise failure("gradient_shape", f"gradient {name!r} has shape {value.shape}, expected "
                              f"{np.shape(expected)} (input {n}x{n}, filter {k}x{k}, {n_out} outputs)")
            if not np.allclose(value, expected, rtol=1e-6, atol=1e-9):
                raise failure("gradient_wrong", f"gradient {name!r} differs from torch autograd's (input {n}x{n}, "
                              f"filter {k}x{k}): largest difference {np.abs(value - expected).max():.3g}")
