"""Problem 7 reference answers: the ReLU chain's gradient, when it is stable, and two remedies."""

import sympy as sp
import torch
from mnist_lab.notation import dC_da4, relu_w, relu_z

z1, z2, z3, z4 = relu_z
w2, w3, w4 = relu_w


def relu_chain_gradient():
    """dC/db1 with ReLU'(z) = Theta(z): sigma'(z_i) of the sigmoid chain becomes a step function."""
    theta = sp.Heaviside
    return theta(z1) * w2 * theta(z2) * w3 * theta(z3) * w4 * theta(z4) * dC_da4


def gradient_is_stable(z, w):
    """Stable: every unit is active (else the gradient is exactly 0) and |w2 w3 w4| is within a factor 2 of 1."""
    product = 1.0
    for weight in w:
        product *= weight
    return all(zi > 0 for zi in z) and 0.5 <= abs(product) <= 2.0


def leaky_relu(x, alpha=0.01):
    """x for x > 0, alpha * x otherwise: a small slope keeps the gradient alive for negative inputs."""
    return torch.where(x > 0, x, alpha * x)


def leaky_relu_derivative(x, alpha=0.01):
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha))


def elu(x, alpha=1.0):
    """x for x > 0, alpha * (exp(x) - 1) otherwise: smooth, saturates at -alpha, nonzero gradient."""
    return torch.where(x > 0, x, alpha * torch.expm1(x))


def elu_derivative(x, alpha=1.0):
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x))
