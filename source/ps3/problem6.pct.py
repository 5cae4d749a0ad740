# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Problem 6 — Backpropagation in a convolutional network (6 points)
#
# For fully-connected layers, backpropagation rests on four equations:
#
# $$\begin{aligned}
# (1)\quad & \delta^L = \nabla_a C \odot \sigma'(z^L) \\
# (2)\quad & \delta^l = \big((w^{l+1})^T \delta^{l+1}\big) \odot \sigma'(z^l) \\
# (3)\quad & \partial C / \partial b^l_j = \delta^l_j \\
# (4)\quad & \partial C / \partial w^l_{jk} = a^{l-1}_k \delta^l_j
# \end{aligned}$$
#
# Here you work out how they change for a network made of a **convolutional layer**, a **max-pooling layer**
# and a **fully-connected output layer**. To make every answer checkable, the network is fixed:
#
# | layer | definition | size |
# |---|---|---|
# | input | `a0[r, s]` | `N_IN x N_IN` = 6 x 6 |
# | convolution (one `K x K` filter `w`, shared bias `b`) | `z1[x, y] = b + sum_{l,m} w[l, m] a0[x+l, y+m]`, `a1 = sigma(z1)` | `N_CONV x N_CONV` = 4 x 4 |
# | 2x2 max-pooling | `a2[j, k] = max(a1[2j, 2k], a1[2j+1, 2k], a1[2j, 2k+1], a1[2j+1, 2k+1])` | `N_POOL x N_POOL` = 2 x 2 |
# | fully-connected output | `z3[o] = b3[o] + sum_{j,k} W[o, j, k] a2[j, k]`, `a3 = sigma(z3)` | `N_OUT` = 3 |
#
# The convolution is a **cross-correlation** (no kernel flip), as in PyTorch's `Conv2d`; `K = 3`. The errors are
# `delta3[o] = dC/dz3[o]`, `delta2[j, k] = dC/da2[j, k]` and `delta1[x, y] = dC/dz1[x, y]`; `dC_da3[o]` stands for
# `dC/da3[o]`, `sigma_prime` for the derivative of `sigma`, and the mask `M[x, y]` is 1 where `a1[x, y]` is the
# largest value of its pooling block and 0 elsewhere (assume no ties).
#
# Each function below receives concrete integer indices and returns a **sympy expression** built from these
# objects. Sums over a range can be written with `sp.Sum(..., (i, 0, N - 1))` or as Python sums; any
# equivalent form is accepted. Each step may use the error of the step before it (`delta3` in `delta_pool`,
# `delta2` in `delta_conv`, `delta1` in the gradients).

# %% nbgrader={"grade_id": "p6_setup"}
import numpy as np
import sympy as sp

from mnist_lab.notation import (K, M, N_CONV, N_IN, N_OUT, N_POOL, W, a0, a1, a2, a3, b, b3, dC_da3, delta1,
                                delta2, delta3, sigma, sigma_prime, w, z1, z3)

# %% [markdown]
# ### Output layer (1 point)
# Equation (1) for the output layer: return `delta3[o]`.

# %% nbgrader={"grade_id": "delta_output", "solution": true}
def delta_output(o):
    """delta3[o] = dC/dz3[o] as a sympy expression."""
    ### BEGIN SOLUTION
    return dC_da3[o] * sigma_prime(z3[o])
    ### END SOLUTION


# %% nbgrader={"grade_id": "p6_delta_output_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.sympy_answers("p6_delta_output_tests", delta_output, handin.P6_INDICES["delta_output"])
### END HIDDEN TESTS
assert isinstance(delta_output(0), sp.Basic), "delta_output should return a sympy expression"

# %% [markdown]
# ### Through the fully-connected weights into the pooling layer (1 point)
# The analogue of equation (2) one layer down: return `delta2[j, k] = dC/da2[j, k]` in terms of `W` and `delta3`.

# %% nbgrader={"grade_id": "delta_pool", "solution": true}
def delta_pool(j, k):
    """delta2[j, k] = dC/da2[j, k] as a sympy expression."""
    ### BEGIN SOLUTION
    o = sp.Dummy("o")
    return sp.Sum(W[o, j, k] * delta3[o], (o, 0, N_OUT - 1))
    ### END SOLUTION


# %% nbgrader={"grade_id": "p6_delta_pool_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.sympy_answers("p6_delta_pool_tests", delta_pool, handin.P6_INDICES["delta_pool"])
### END HIDDEN TESTS
assert isinstance(delta_pool(0, 1), sp.Basic), "delta_pool should return a sympy expression"

# %% [markdown]
# ### Through the max-pooling into the convolutional layer (1 point)
# Return `delta1[x, y] = dC/dz1[x, y]` in terms of `delta2`, the mask `M` and `sigma_prime(z1[x, y])`.

# %% nbgrader={"grade_id": "delta_conv", "solution": true}
def delta_conv(x, y):
    """delta1[x, y] = dC/dz1[x, y] as a sympy expression."""
    ### BEGIN SOLUTION
    return delta2[x // 2, y // 2] * M[x, y] * sigma_prime(z1[x, y])
    ### END SOLUTION


# %% nbgrader={"grade_id": "p6_delta_conv_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.sympy_answers("p6_delta_conv_tests", delta_conv, handin.P6_INDICES["delta_conv"])
### END HIDDEN TESTS
assert isinstance(delta_conv(1, 2), sp.Basic), "delta_conv should return a sympy expression"

# %% [markdown]
# ### Gradients of the shared filter and bias (1.5 points)
# The analogues of equations (4) and (3): return `dC/dw[l, m]` and `dC/db` in terms of `delta1` and `a0`.

# %% nbgrader={"grade_id": "grad_conv_weight", "solution": true}
def grad_conv_weight(l, m):
    """dC/dw[l, m] as a sympy expression."""
    ### BEGIN SOLUTION
    x, y = sp.Dummy("x"), sp.Dummy("y")
    return sp.Sum(delta1[x, y] * a0[x + l, y + m], (x, 0, N_CONV - 1), (y, 0, N_CONV - 1))
    ### END SOLUTION


# %% nbgrader={"grade_id": "p6_grad_conv_weight_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.sympy_answers("p6_grad_conv_weight_tests", grad_conv_weight, handin.P6_INDICES["grad_conv_weight"])
### END HIDDEN TESTS
assert isinstance(grad_conv_weight(0, 0), sp.Basic), "grad_conv_weight should return a sympy expression"

# %% nbgrader={"grade_id": "grad_conv_bias", "solution": true}
def grad_conv_bias():
    """dC/db as a sympy expression."""
    ### BEGIN SOLUTION
    x, y = sp.Dummy("x"), sp.Dummy("y")
    return sp.Sum(delta1[x, y], (x, 0, N_CONV - 1), (y, 0, N_CONV - 1))
    ### END SOLUTION


# %% nbgrader={"grade_id": "p6_grad_conv_bias_tests", "grade": true, "points": 0.5}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.sympy_answers("p6_grad_conv_bias_tests", grad_conv_bias, handin.P6_INDICES["grad_conv_bias"])
### END HIDDEN TESTS
assert isinstance(grad_conv_bias(), sp.Basic), "grad_conv_bias should return a sympy expression"

# %% [markdown]
# ### All of it in numbers (1 point)
# Implement the forward and backward pass of this network with numpy for any sizes (`a0` is `n x n`, `w` is
# `k x k` with `n - k + 1` even, `W` has shape `(n_out, (n-k+1)/2, (n-k+1)/2)`), with the logistic
# `sigma(z) = 1 / (1 + exp(-z))` and the quadratic cost `C = 1/2 sum_o (a3[o] - y[o])^2`. Return the gradients
# as a dict with keys `"w"`, `"b"`, `"W"`, `"b3"`, each shaped like its parameter. Your result is compared with
# PyTorch's automatic differentiation of the same network.

# %% nbgrader={"grade_id": "conv_net_backward", "solution": true}
def conv_net_backward(a0, w, b, W, b3, y):
    """Gradients of C with respect to w, b, W and b3, as a dict of numpy arrays (b as a float)."""
    ### BEGIN SOLUTION
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731
    n, k = a0.shape[0], w.shape[0]
    size = n - k + 1
    windows = np.lib.stride_tricks.sliding_window_view(a0, (k, k))  # (size, size, k, k)
    z1 = np.einsum("xylm,lm->xy", windows, w) + b
    a1 = sig(z1)
    blocks = a1.reshape(size // 2, 2, size // 2, 2).transpose(0, 2, 1, 3).reshape(size // 2, size // 2, 4)
    a2 = blocks.max(axis=-1)
    z3 = np.einsum("ojk,jk->o", W, a2) + b3
    a3 = sig(z3)

    delta3 = (a3 - y) * a3 * (1 - a3)  # (1): dC/da3 * sigma'(z3)
    delta2 = np.einsum("ojk,o->jk", W, delta3)  # (2) through the FC weights, no sigma' in the pool
    winner = np.eye(4)[blocks.argmax(axis=-1)]  # one-hot over each 2x2 block
    mask = winner.reshape(size // 2, size // 2, 2, 2).transpose(0, 2, 1, 3).reshape(size, size)
    delta1 = np.repeat(np.repeat(delta2, 2, axis=0), 2, axis=1) * mask * a1 * (1 - a1)
    return {
        "w": np.einsum("xy,xylm->lm", delta1, windows),
        "b": delta1.sum(),
        "W": np.einsum("o,jk->ojk", delta3, a2),
        "b3": delta3,
    }
    ### END SOLUTION


# %% nbgrader={"grade_id": "p6_backward_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.backward("p6_backward_tests", conv_net_backward)
### END HIDDEN TESTS
rng = np.random.default_rng(1)
example = dict(a0=rng.normal(size=(6, 6)), w=rng.normal(size=(3, 3)), b=0.1, W=rng.normal(size=(3, 2, 2)),
               b3=rng.normal(size=3), y=np.array([0.0, 1.0, 0.0]))
grads = conv_net_backward(**example)
assert set(grads) == {"w", "b", "W", "b3"}, "return a dict with the keys 'w', 'b', 'W' and 'b3'"
for name in ("w", "W", "b3"):
    assert np.shape(grads[name]) == np.shape(example[name]), f"the gradient of {name} should have its shape"
print("conv_net_backward: keys and shapes look right")

# %% [markdown] nbgrader={"grade_id": "p6_answer", "grade": true, "solution": true, "points": 0.5}
# **In words:** how does each of the four equations change for this network?
#
# ### BEGIN SOLUTION
# (1) is unchanged for the output layer. (2) is applied through the fully-connected weights to get the error of
# the pooled values, but without a sigma' factor, because pooling has no activation; the max-pooling then routes
# each block's error to the one input that was the maximum (mask M) and gives the others zero, after which the
# convolutional layer's sigma'(z1) is applied. (3) and (4): the filter and the bias are shared by all positions,
# so their gradients are sums over every position of the feature map: dC/db = sum delta1[x, y] and
# dC/dw[l, m] = sum delta1[x, y] a0[x+l, y+m], a cross-correlation of the input with the error map. The error
# sent further back to the input is a full convolution of delta1 with the 180-degree-rotated filter.
# ### END SOLUTION
