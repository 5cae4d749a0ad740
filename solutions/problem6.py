"""Problem 6 reference answers: backpropagation through conv -> 2x2 max-pool -> fully-connected."""

import numpy as np
import sympy as sp
from mnist_lab.notation import M, N_CONV, N_OUT, W, a0, dC_da3, delta1, delta2, delta3, sigma_prime, z1, z3


def delta_output(o):
    """delta3[o] = dC/dz3[o]: equation (1) is unchanged for the output layer."""
    return dC_da3[o] * sigma_prime(z3[o])


def delta_pool(j, k):
    """delta2[j, k] = dC/da2[j, k]: equation (2) without sigma', since pooling has no activation."""
    o = sp.Dummy("o")
    return sp.Sum(W[o, j, k] * delta3[o], (o, 0, N_OUT - 1))


def delta_conv(x, y):
    """delta1[x, y] = dC/dz1[x, y]: the error goes only to the winner of the pooling block."""
    return delta2[x // 2, y // 2] * M[x, y] * sigma_prime(z1[x, y])


def grad_conv_weight(l, m):
    """dC/dw[l, m]: the filter is shared, so sum over every position it was applied at."""
    x, y = sp.Dummy("x"), sp.Dummy("y")
    return sp.Sum(delta1[x, y] * a0[x + l, y + m], (x, 0, N_CONV - 1), (y, 0, N_CONV - 1))


def grad_conv_bias():
    """dC/db: the bias is shared too, so sum the errors over all positions."""
    x, y = sp.Dummy("x"), sp.Dummy("y")
    return sp.Sum(delta1[x, y], (x, 0, N_CONV - 1), (y, 0, N_CONV - 1))


def conv_net_backward(a0, w, b, W, b3, y):
    """All parameter gradients of C = 1/2 |a3 - y|^2 for the network above with logistic sigma (numpy)."""
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
