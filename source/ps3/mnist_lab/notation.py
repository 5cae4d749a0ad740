"""The notation of problems 6 and 7 as sympy objects (the notebooks import it; the grader uses the same names).

Problem 6 network (cross-correlation, as in PyTorch's Conv2d):
    z1[x, y] = b + sum_{l,m} w[l, m] a0[x + l, y + m]          a1 = sigma(z1)           (N_CONV x N_CONV)
    a2[j, k] = max of a1 over the block {2j, 2j+1} x {2k, 2k+1}                         (N_POOL x N_POOL)
    z3[o]    = b3[o] + sum_{j,k} W[o, j, k] a2[j, k]            a3 = sigma(z3)           (N_OUT)
    C = C(a3); dC_da3[o] is dC/da3[o].
Errors: delta3[o] = dC/dz3[o], delta2[j, k] = dC/da2[j, k], delta1[x, y] = dC/dz1[x, y].
M[x, y] is 1 where a1[x, y] is the largest value of its pooling block and 0 elsewhere.
sigma_prime(u) is sigma'(u); sympy's own derivative of sigma (sp.diff(sigma(u), u)) is graded as the same thing.
"""

import sympy as sp

# Problem 6: sizes are concrete so that sums can be written with numbers as bounds.
N_IN, K = 6, 3  # input a0 is N_IN x N_IN, the filter w is K x K
N_CONV = N_IN - K + 1  # 4: size of z1 and a1
N_POOL = N_CONV // 2  # 2: size of a2
N_OUT = 3  # output units

a0, w, W, b3 = sp.IndexedBase("a0"), sp.IndexedBase("w"), sp.IndexedBase("W"), sp.IndexedBase("b3")
b = sp.Symbol("b")
z1, a1, a2, z3, a3 = (sp.IndexedBase(name) for name in ("z1", "a1", "a2", "z3", "a3"))
dC_da3 = sp.IndexedBase("dC_da3")
delta1, delta2, delta3 = sp.IndexedBase("delta1"), sp.IndexedBase("delta2"), sp.IndexedBase("delta3")
M = sp.IndexedBase("M")
sigma, sigma_prime = sp.Function("sigma"), sp.Function("sigma_prime")

# Problem 7: a chain of four ReLU units, a_i = ReLU(z_i), z_i = w_i a_{i-1} + b_i (the notebook names them
# z1..z4 and w2..w4; here they live in tuples because problem 6 already uses the name z1).
relu_z = sp.symbols("z1:5", real=True)
relu_w = sp.symbols("w2:5", real=True)
dC_da4 = sp.Symbol("dC_da4", real=True)

PROBLEM6 = {str(o): o for o in (a0, w, W, b3, b, z1, a1, a2, z3, a3, dC_da3, delta1, delta2, delta3, M)}
PROBLEM6.update(sigma=sigma, sigma_prime=sigma_prime)
PROBLEM7 = {str(o): o for o in (*relu_z, *relu_w, dC_da4)}
