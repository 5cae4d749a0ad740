# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Problem 7 — Unstable gradients with rectified linear units (2 + 2 points)
#
# In the lecture, the vanishing gradient of a chain of four sigmoid units was read off
#
# $$\frac{\partial C}{\partial b_1} = \sigma'(z_1)\, w_2\, \sigma'(z_2)\, w_3\, \sigma'(z_3)\, w_4\, \sigma'(z_4)\,
# \frac{\partial C}{\partial a_4},$$
#
# where unit $i$ computes $z_i = w_i a_{i-1} + b_i$ and $a_i = \sigma(z_i)$. Since $\sigma' \le 1/4$, the product
# shrinks with depth unless the weights are large. Here the units are **ReLU**: $a_i = \max(0, z_i)$.
#
# The symbols `z1, z2, z3, z4`, `w2, w3, w4` and `dC_da4` (for $\partial C / \partial a_4$) are defined below.

# %% nbgrader={"grade_id": "p7_setup"}
import sympy as sp
import torch

from mnist_lab.notation import dC_da4, relu_w, relu_z

z1, z2, z3, z4 = relu_z
w2, w3, w4 = relu_w

# %% [markdown]
# ## (a) The gradient and when it is stable (2 points)
#
# Write `relu_chain_gradient()` returning $\partial C / \partial b_1$ for the ReLU chain as a sympy expression in
# these symbols. Any equivalent form is accepted (`sp.Heaviside`, `sp.Piecewise`, derivatives of `sp.Max`, ...);
# it is checked at points with every combination of signs of $z_1, \dots, z_4$.

# %% nbgrader={"grade_id": "relu_chain_gradient", "solution": true}
def relu_chain_gradient():
    """dC/db1 for the chain of four ReLU units, as a sympy expression."""
    ### BEGIN SOLUTION
    theta = sp.Heaviside
    return theta(z1) * w2 * theta(z2) * w3 * theta(z3) * w4 * theta(z4) * dC_da4
    ### END SOLUTION


# %% nbgrader={"grade_id": "p7_gradient_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.sympy_answers("p7_gradient_tests", relu_chain_gradient, [()])
### END HIDDEN TESTS
gradient = relu_chain_gradient()
assert isinstance(gradient, sp.Basic), "relu_chain_gradient should return a sympy expression"
names = {str(s) for s in gradient.free_symbols}
assert names <= {"z1", "z2", "z3", "z4", "w2", "w3", "w4", "dC_da4"}, f"use only z1..z4, w2..w4, dC_da4, not {names}"

# %% [markdown]
# When is this gradient **stable**? Call it stable when it neither vanishes nor explodes: it is not zero, and
# its size $|\partial C/\partial b_1|$ stays within a factor 2 of $|\partial C/\partial a_4|$. Write
# `gradient_is_stable(z, w)` that takes numbers `z = [z1, z2, z3, z4]` and `w = [w2, w3, w4]` and returns
# `True` exactly when the gradient is stable. It is checked on many points, with every sign pattern of `z` and
# weight products from about 0.03 to about 30 (never exactly on a boundary).

# %% nbgrader={"grade_id": "gradient_is_stable", "solution": true}
def gradient_is_stable(z, w):
    """True when dC/db1 is nonzero and within a factor 2 of dC/da4 in size, for numbers z and w."""
    ### BEGIN SOLUTION
    product = 1.0
    for weight in w:
        product *= weight
    return all(zi > 0 for zi in z) and 0.5 <= abs(product) <= 2.0
    ### END SOLUTION


# %% nbgrader={"grade_id": "p7_stability_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.stability("p7_stability_tests", gradient_is_stable)
### END HIDDEN TESTS
assert gradient_is_stable([1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0]) in (True, False), "return True or False"

# %% [markdown]
# ## (b) Dying ReLU and two ways around it (2 points)
#
# A ReLU unit whose input stays negative passes no gradient at all and stops learning ("dying ReLU"). Two
# variations of the activation keep a gradient for negative inputs. Implement them for torch tensors, with their
# derivatives (for `x != 0`):
#
# - **leaky ReLU**: $x$ for $x > 0$, $\alpha x$ otherwise (small $\alpha$, e.g. 0.01);
# - **ELU**: $x$ for $x > 0$, $\alpha (e^x - 1)$ otherwise.

# %% nbgrader={"grade_id": "activations", "solution": true}
def leaky_relu(x, alpha=0.01):
    """Leaky ReLU of a tensor."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, x, alpha * x)
    ### END SOLUTION


def leaky_relu_derivative(x, alpha=0.01):
    """Derivative of leaky ReLU with respect to x, elementwise."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha))
    ### END SOLUTION


def elu(x, alpha=1.0):
    """ELU of a tensor."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, x, alpha * torch.expm1(x))
    ### END SOLUTION


def elu_derivative(x, alpha=1.0):
    """Derivative of ELU with respect to x, elementwise."""
    ### BEGIN SOLUTION
    return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x))
    ### END SOLUTION


# %% nbgrader={"grade_id": "p7_activation_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.activations("p7_activation_tests", leaky_relu=leaky_relu, leaky_relu_derivative=leaky_relu_derivative,
                   elu=elu, elu_derivative=elu_derivative)
### END HIDDEN TESTS
x = torch.tensor([-2.0, -0.5, 0.5, 2.0])
for function in (leaky_relu, leaky_relu_derivative, elu, elu_derivative):
    assert isinstance(function(x), torch.Tensor), f"{function.__name__} should return a tensor"
    assert function(x).shape == x.shape, f"{function.__name__} should work elementwise"
assert (leaky_relu_derivative(x) > 0).all() and (elu_derivative(x) > 0).all(), \
    "both variations should keep a nonzero gradient for negative inputs"

# %% [markdown] nbgrader={"grade_id": "p7b_answer", "grade": true, "solution": true, "points": 1}
# Name **two different methods** that avoid dying ReLUs and explain briefly why each works.
#
# ### BEGIN SOLUTION
# 1. Change the activation so its slope is never zero: leaky ReLU (slope alpha for x < 0), parametric ReLU
#    (alpha learned) or ELU (alpha e^x for x < 0, smooth and with mean activations nearer zero). A unit pushed
#    into the negative region still receives a gradient and can recover.
# 2. Keep units out of the dead region in the first place: He initialisation (variance 2/n_in) and small positive
#    biases start every unit active; a smaller learning rate (or warm-up, gradient clipping) avoids the large
#    updates that throw a unit's input far negative for every example; batch normalisation keeps each unit's
#    input centred so it is active for part of every batch.
# ### END SOLUTION
