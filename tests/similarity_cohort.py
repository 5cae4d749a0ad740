"""A cohort with planted copies, for the code-similarity check (autograder/outputs/similarity.py), built at test
time from the release through tests/cohort.py's ``notebook()`` and its answer libraries.

Authors (each writes answers no other author writes in the longer cells):
  orig_a, orig_b, orig_c, own_d, ind_1, ind_2, ind_3   and the two honest students hon_1, hon_2.
Planted pairs:
  copy_a ~ orig_a    a verbatim copy of every notebook;
  copy_b ~ orig_b    every answer cell disguised: variables renamed, the cell's functions and classes reordered,
                     comments and blank lines added;
  own_d  ~ orig_c    own problems 5 and 6, problem 7 copied verbatim from orig_c (one problem only).
Honest pairs that must not be flagged:
  hon_1 ~ hon_2      both wrote the obvious one-liners of the short cells (``return 60000 // n_examples``,
                     ``return dC_da3[o] * sigma_prime(z3[o])``, delta_conv, delta_pool, grad_b, the one-line
                     augmentation), everything longer their own.

``notebooks()``: student -> {notebook file name: JSON text}; ``planted()``: the planted pairs and their problems;
``disguise(code, seed)``: renamed, reordered, recommented code; ``mixed_cohort(n, seed)``: n students for the
benchmark, each answer a random pick from the libraries, renamed, with numbers changed and lines mixed in.
"""

from __future__ import annotations

import ast
import io
import json
import random
import re
import textwrap
import tokenize
from dataclasses import replace

import cohort as c
from cohort import S, notebook
from autograder.course import NOTEBOOKS

EP_OBVIOUS = c.ok("epochs_for", "return 60000 // n_examples")
# The handed-out names (the grader calls them) and Python's own: a disguise keeps them.
KEEP = {"build_cnn", "epochs_for", "make_augmentation", "delta_output", "delta_pool", "delta_conv", "grad_conv_weight",
        "grad_conv_bias", "conv_net_backward", "relu_chain_gradient", "gradient_is_stable", "leaky_relu",
        "leaky_relu_derivative", "elu", "elu_derivative", "self", "super", "forward", "__init__", "__call__"}

AUTHORS = {
    "orig_a": (c.NET_CLASS_VIEW, c.EP_MODULO, c.AUG_PIL, c.DOUT_OWN, c.DPOOL_LOOP, c.DCONV_KRONECKER, c.GW_LOOPS,
               c.GB_SPSUM, c.BACKWARD_LOOPS, c.GRAD_PIECEWISE, c.STABLE_NUMPY, c.ACT_FUNCTIONAL),
    "orig_b": (c.NET_EXAMPLES, c.EP_DIVMOD, c.AUG_AFFINE_CLASS, c.DOUT_DIFF, c.DPOOL_SPSUM, c.DCONV_INDICATOR,
               c.GW_SPSUM, c.GB_ADD, c.BACKWARD_VECTORISED, c.GRAD_MAX_DIFF, c.STABLE_LOG, c.ACT_CLAMP),
    "orig_c": (c.NET_SEQ_ORDERED, c.EP_FRACTION, c.AUG_V2_PIPELINE, c.DOUT_DERIVATIVE, c.DPOOL_WRITTEN, c.DCONV_INT,
               c.GW_PYSUM, c.GB_PYSUM, c.GRAD_OWN_SYMBOLS, c.STABLE_EARLY, c.ACT_FLOAT_MASKS),
    "own_d": (c.NET_RESIDUAL, c.EP_IS_INTEGER, c.AUG_RANGE, c.DCONV_DIFF, c.DPOOL_PYSUM),  # + orig_c's problem 7
    "hon_1": (c.NET_TANH, EP_OBVIOUS, c.AUG_V1, c.DOUT_PLAIN, c.DPOOL_PYSUM, c.DCONV_PLAIN, c.GB_PYSUM,
              c.GRAD_HEAVISIDE, c.ACT_WHERE),
    "hon_2": (c.NET_GELU_ZEROPAD, EP_OBVIOUS, c.AUG_V1, c.DOUT_PLAIN, c.DPOOL_PYSUM, c.DCONV_PLAIN, c.GB_PYSUM,
              c.GRAD_MUL, c.STABLE_UPPER),
    "ind_1": (c.NET_LAZY, c.EP_NUMPY, c.AUG_BILINEAR, c.DCONV_FLOOR, c.GRAD_ALL_ACTIVE, c.ACT_HARDCODED),
    "ind_2": (c.NET_KERNEL_BY_SIZE, c.EP_DICT, c.AUG_APPLY_HALF, c.DPOOL_TRANSPOSED, c.GRAD_SIGMOID, c.STABLE_NO_ABS),
    "ind_3": (c.NET_FPAD, c.EP_ASSERT, c.AUG_SEQUENTIAL, c.GW_SWAPPED, c.GB_SIGMA, c.GRAD_NO_THETA1),
}
PROBLEM7 = ("relu_chain_gradient", "gradient_is_stable", "activations")


def students() -> dict[str, c.Student]:
    found = {name: S(name, 900000 + i, name, *answers) for i, (name, answers) in enumerate(AUTHORS.items())}
    found["own_d"] = replace(found["own_d"], answers=found["own_d"].answers + tuple(
        a for a in found["orig_c"].answers if a.cell in PROBLEM7))
    found["copy_a"] = replace(found["orig_a"], name="copy_a", pid=900100)
    found["copy_b"] = replace(found["orig_b"], name="copy_b", pid=900101)
    return found


def planted() -> dict[tuple[str, str], tuple[str, ...]]:
    """(student, student) -> the problems they copied."""
    return {("copy_a", "orig_a"): NOTEBOOKS, ("copy_b", "orig_b"): NOTEBOOKS, ("orig_c", "own_d"): ("problem7",)}


def honest_short() -> tuple[str, str]:
    return ("hon_1", "hon_2")


# ----------------------------------------------------------------------------------------------- disguises

def _assigned(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.alias) and node.asname:
            names.add(node.asname)
    return names - KEEP


def rename(code: str, rng: random.Random) -> str:
    """Every name the code assigns (variables, arguments, attributes, its own functions and classes) renamed."""
    try:
        names = sorted(_assigned(ast.parse(code)))
    except SyntaxError:
        return code
    words = ["val", "tmp", "res", "acc", "buf", "item", "node", "thing", "part", "cur", "out", "aux", "q", "h"]
    mapping = {name: f"{rng.choice(words)}_{i}" for i, name in enumerate(names)}
    tokens = []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string in mapping:
            tok = tok._replace(string=mapping[tok.string])
        tokens.append(tok)
    return tokenize.untokenize(tokens)


def reorder(code: str) -> str:
    """The cell's top-level functions and classes in the reverse order (imports and other statements first)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    lines = code.splitlines(keepends=True)
    head, blocks = [], []
    for node in tree.body:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
        text = "".join(lines[start:node.end_lineno])
        (blocks if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else head).append(text)
    if len(blocks) < 2:
        return code
    return "".join(head) + "\n\n" + "\n\n".join(reversed(blocks))


def recomment(code: str, rng: random.Random) -> str:
    """A comment above some lines and blank lines between others."""
    out = []
    for line in code.splitlines():
        if line.strip() and rng.random() < 0.3:
            out.append(re.match(r"\s*", line).group() + f"# step {rng.randint(1, 99)}")
        out.append(line)
        if rng.random() < 0.15:
            out.append("")
    return "\n".join(out) + "\n"


def disguise(code: str, seed: int = 0) -> str:
    rng = random.Random(seed)
    return recomment(rename(reorder(code), rng), rng)


def _answer_cells(nb: dict):
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("solution"):
            yield cell


def _disguised(text: str, seed: int) -> str:
    nb = json.loads(text)
    for i, cell in enumerate(_answer_cells(nb)):
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        cell["source"] = disguise(source, seed + i)
    return json.dumps(nb, indent=1)


def notebooks() -> dict[str, dict[str, str]]:
    """student -> {"problemN.ipynb": notebook JSON text}: the planted cohort."""
    found = {}
    for name, student in students().items():
        found[name] = {f"{nb}.ipynb": notebook(student, nb) for nb in NOTEBOOKS}
    found["copy_b"] = {file: _disguised(text, 7 + i) for i, (file, text) in enumerate(found["copy_b"].items())}
    return found


# ----------------------------------------------------------------------------------------------- the benchmark

def _library() -> dict[str, list]:
    cells = {}
    for value in vars(c).values():
        if isinstance(value, c.Answer) and value.code is not None and not value.cell.startswith("p"):
            cells.setdefault(value.cell, []).append(value)
    return cells


def _perturb(code: str, rng: random.Random) -> str:
    """Numbers changed here and there (a kernel size, a rotation), a line from elsewhere mixed in."""
    code = re.sub(r"\b\d+\b", lambda m: str(int(m.group()) + rng.randint(1, 9)) if rng.random() < 0.3
                  else m.group(), code)
    lines = code.splitlines()
    if len(lines) > 2 and rng.random() < 0.5:
        i, j = sorted(rng.sample(range(len(lines)), 2))
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def mixed_cohort(n: int, seed: int = 0) -> dict[str, dict[str, str]]:
    """``n`` synthetic students: each answer cell a random library answer, renamed, with numbers changed and two of
    its lines swapped half the time (whole-cell answers stay whole; a cell of several stubs keeps one body per
    stub)."""
    rng = random.Random(seed)
    library = _library()
    found = {}
    for i in range(n):
        answers = []
        for cell, options in library.items():
            pick = rng.choice(options)
            code = pick.code
            if isinstance(code, str):
                code = _perturb(rename(code, rng), rng)
            elif isinstance(code, tuple):
                code = tuple(None if part is None else _perturb(part, rng) for part in code)
            answers.append(replace(pick, code=code))
        student = S(f"student_{i:03d}", 800000 + i, "benchmark", *answers)
        found[student.name] = {f"{nb}.ipynb": notebook(student, nb) for nb in NOTEBOOKS}
    return found


if __name__ == "__main__":
    print(textwrap.indent(disguise(c.NET_CLASS_VIEW.code, 1), "  "))
