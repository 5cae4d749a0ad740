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

from ..cells import CELLS, MAX_POINTS
from ..course import ASSIGNMENT, NOTEBOOKS, ROOT, release_dir, source_dir

EXAMPLES = ROOT / "tests" / "examples"


@dataclass(frozen=True)
class Expected:
    automatic: float  # automatic points (of 12.5)
    pending: float  # points of answered written answers waiting for a person (of 3.5)
    status: str
    # exactly the cells that lose points, in the table's order (an unanswered written answer scores 0 at once)
    lost: tuple[str, ...]

    def __post_init__(self):
        assert 0 <= self.automatic + self.pending <= MAX_POINTS


EVERY_CELL = tuple(cell.grade_id for cell in CELLS)


@dataclass(frozen=True)
class Edit:
    notebook: str
    grade_id: str
    pattern: str
    replacement: str


# (edits applied to the reference notebooks, or None for the untouched release) and the expected outcome.
EXAMPLE_SUBMISSIONS = {
    "reference": ([], Expected(12.5, 3.5, "graded", lost=())),
    "untouched": (None, Expected(0.0, 0.0, "graded", lost=EVERY_CELL)),
    "partial": ([
        Edit("problem6", "delta_conv", r"\* sigma_prime\(z1\[x, y\]\)", ""),  # forgot sigma'
        Edit("problem7", "activations", r"return torch\.where\(x > 0, x, alpha \* torch\.expm1\(x\)\)",
             "raise NotImplementedError()"),  # ELU not done
    ], Expected(10.5, 3.5, "graded", lost=("p6_delta_conv_tests", "p7_activation_tests"))),
    "crop_only": ([
        Edit("problem5", "make_augmentation", r"transforms\.RandomRotation\(15\), ", ""),  # random crops only
    ], Expected(11.5, 3.5, "graded", lost=("p5c_tests",))),
    "syntax_error": ([
        Edit("problem7", "relu_chain_gradient", r"theta = sp\.Heaviside", "theta = sp.Heaviside("),
    ], Expected(11.5, 3.5, "graded", lost=("p7_gradient_tests",))),
    "infinite_loop": ([
        Edit("problem7", "gradient_is_stable", r"product = 1\.0", "while True:\n        pass"),
    ], Expected(11.5, 3.5, "incomplete", lost=("p7_stability_tests",))),
    "kernel_crash": ([
        Edit("problem6", "delta_pool", r'o = sp\.Dummy\("o"\)', 'import os\n    os._exit(1)'),
    ], Expected(8.0, 3.5, "incomplete", lost=(
        "p6_delta_pool_tests", "p6_delta_conv_tests", "p6_grad_conv_weight_tests", "p6_grad_conv_bias_tests",
        "p6_backward_tests"))),
    "memory_hog": ([
        Edit("problem7", "activations", r"return torch\.where\(x > 0, x, alpha \* x\)",
             "hoard = []\n    while True:\n        hoard.append(bytearray(10**8))"),
    ], Expected(11.5, 3.5, "graded", lost=("p7_activation_tests",))),
    # problem5.ipynb is cut off: not valid JSON
    "invalid_json": ([], Expected(8.5, 1.5, "graded", lost=(
        "p5a_tests", "p5b_tests", "p5c_tests", "p5b_answer", "p5c_answer"))),
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
    """Write every example as destination/<student>/<assignment>/problemN.ipynb (nbgrader's submitted layout)."""
    for student, (edits, _) in EXAMPLE_SUBMISSIONS.items():
        folder = destination / student / ASSIGNMENT
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for notebook in NOTEBOOKS:
            if edits is None:
                text = (release_dir() / f"{notebook}.ipynb").read_text()
            else:
                text = edit_reference(notebook, edits)
            if student == "invalid_json" and notebook == "problem5":
                text = text[: len(text) // 2]  # an upload cut off half-way
            (folder / f"{notebook}.ipynb").write_text(text)


def lost_cells(result) -> tuple[str, ...]:
    """The grade ids of the cells scored below full points, in the table's order (a written answer waiting for a
    person has no score yet and is not among them)."""
    return tuple(c.grade_id for c in result.cells if c.points is not None and c.points < c.max_points)


def unexpected(results) -> list[str]:
    """What differs from the expectations above, one line per example (empty: every example as expected)."""
    wrong = []
    for r in results:
        e = EXAMPLE_SUBMISSIONS[r.student_id][1]
        got = (r.automatic_points, r.pending_points, r.status, lost_cells(r))
        if got != (e.automatic, e.pending, e.status, e.lost):
            wrong.append(f"{r.student_id}: got {r.automatic_points:g} automatic, {r.pending_points:g} pending, "
                         f"{r.status}, losing {', '.join(lost_cells(r)) or 'nothing'}; expected {e.automatic:g}, "
                         f"{e.pending:g}, {e.status}, losing {', '.join(e.lost) or 'nothing'}")
    return wrong
