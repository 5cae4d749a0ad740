"""The example submissions in tests/examples/: what each one is, how it is made, and the score it must get.

They are derived from the source notebooks (the reference answers) and the release (the untouched student
version), with one plausible defect each; ``python -m autograder examples --write`` regenerates them and a test
fails when the committed files drift.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .release import ROOT, source_dir

EXAMPLES = ROOT / "tests" / "examples"
NOTEBOOKS = ("problem5", "problem6", "problem7")


@dataclass(frozen=True)
class Expected:
    automatic: float  # automatic points (of 12.5)
    pending: float  # points of answered written answers waiting for a person (of 3.5)
    status: str


@dataclass(frozen=True)
class Edit:
    notebook: str
    grade_id: str
    pattern: str
    replacement: str


# (edits applied to the reference notebooks, or None for the untouched release) and the expected outcome.
EXAMPLE_SUBMISSIONS = {
    "reference": ([], Expected(12.5, 3.5, "graded")),
    "untouched": (None, Expected(0.0, 0.0, "graded")),
    "partial": ([
        Edit("problem6", "delta_conv", r"\* sigma_prime\(z1\[x, y\]\)", ""),  # forgot sigma'
        Edit("problem7", "activations", r"return torch\.where\(x > 0, x, alpha \* torch\.expm1\(x\)\)",
             "raise NotImplementedError()"),  # ELU not done
    ], Expected(10.5, 3.5, "graded")),
    "syntax_error": ([
        Edit("problem7", "relu_chain_gradient", r"theta = sp\.Heaviside", "theta = sp.Heaviside("),
    ], Expected(11.5, 3.5, "graded")),
    "infinite_loop": ([
        Edit("problem7", "gradient_is_stable", r"product = 1\.0", "while True:\n        pass"),
    ], Expected(11.5, 3.5, "incomplete")),
    "kernel_crash": ([
        Edit("problem6", "delta_pool", r'o = sp\.Dummy\("o"\)', 'import os\n    os._exit(1)'),
    ], Expected(8.0, 3.5, "incomplete")),
    "memory_hog": ([
        Edit("problem7", "activations", r"return torch\.where\(x > 0, x, alpha \* x\)",
             "hoard = []\n    while True:\n        hoard.append(bytearray(10**8))"),
    ], Expected(11.5, 3.5, "graded")),
    "invalid_json": ([], Expected(8.5, 1.5, "graded")),  # problem5.ipynb is cut off: not valid JSON
}


def edit_reference(notebook: str, edits: list[Edit]) -> str:
    """The reference notebook's text with the given edits of its solution cells (each must match once)."""
    nb = nbformat.read(source_dir() / f"{notebook}.ipynb", as_version=4)
    for edit in (e for e in edits if e.notebook == notebook):
        cell = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == edit.grade_id)
        cell.source, count = re.subn(edit.pattern, edit.replacement, cell.source)
        if count != 1:
            raise ValueError(f"edit of {notebook}/{edit.grade_id} matched {count} times: {edit.pattern}")
    return nbformat.writes(nb) + "\n"


def build(destination: Path = EXAMPLES) -> None:
    """Write every example as destination/<student>/ps3/problemN.ipynb (nbgrader's submitted layout)."""
    for student, (edits, _) in EXAMPLE_SUBMISSIONS.items():
        folder = destination / student / "ps3"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for notebook in NOTEBOOKS:
            if edits is None:
                text = (ROOT / "release" / "ps3" / f"{notebook}.ipynb").read_text()
            else:
                text = edit_reference(notebook, edits)
            if student == "invalid_json" and notebook == "problem5":
                text = text[: len(text) // 2]  # an upload cut off half-way
            (folder / f"{notebook}.ipynb").write_text(text)
