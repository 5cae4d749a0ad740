"""The one table of the assignment's graded cells: what each is worth, where it is, what it is called in reports,
what its hidden test records and which judge decides it.

Every module that names a grade id, a label, points or a notebook reads them here (reports, verdicts, scoring,
the red team, the examples, the tests); a test keeps this table equal to the gradebook that nbgrader generates
from the source notebooks.
"""

from __future__ import annotations

from dataclasses import dataclass

from .course import NOTEBOOKS


@dataclass(frozen=True)
class Cell:
    grade_id: str
    notebook: str  # one of course.NOTEBOOKS
    label: str  # the column and feedback name: problem and sub-question
    points: float
    answer: str  # the grade id of the cell holding the student's answer (a written answer is its own)
    # Test cells are judged by the grader (``judge``: a judge in judge/verdicts.py) from the hand-in ``parts`` the
    # hidden test records (mnist_lab/handin.py); written answers (judge "") wait for a person.
    judge: str = ""
    parts: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()  # other cells' records the judge uses when present ("<grade id>--<part>")
    # The in-kernel test decides as much as the grader's verdict (the others only check types there, because their
    # answers cannot be judged in the kernel without the reference answers): a disagreement is flagged for review.
    decisive_in_kernel: bool = False

    @property
    def written(self) -> bool:
        return not self.judge


PART_A = ("p5a_tests--network", "p5a_tests--training-plain")  # parts (b) and (c) read part (a)'s network records

CELLS = (  # in the notebooks' order (nbgrader's, and the reports' columns)
    #    grade id                     notebook    label             points answer
    Cell("p5a_tests",                 "problem5", "5a",             2,   "build_cnn",
         judge="network", parts=("network", "training-plain"), decisive_in_kernel=True),
    Cell("p5b_tests",                 "problem5", "5b auto",        1,   "epochs_for",
         judge="epochs_and_budgets", parts=("epochs", "training-plain"), reads=PART_A, decisive_in_kernel=True),
    Cell("p5c_tests",                 "problem5", "5c auto",        1,   "make_augmentation",
         judge="augmentation_and_budgets", parts=("augmentation", "training-augmented"), reads=PART_A,
         decisive_in_kernel=True),
    Cell("p5b_answer",                "problem5", "5b manual",      1,   "p5b_answer"),
    Cell("p5c_answer",                "problem5", "5c manual",      1,   "p5c_answer"),
    Cell("p6_delta_output_tests",     "problem6", "6 delta_output", 1,   "delta_output",
         judge="delta_output", parts=("sympy",)),
    Cell("p6_delta_pool_tests",       "problem6", "6 delta_pool",   1,   "delta_pool",
         judge="delta_pool", parts=("sympy",)),
    Cell("p6_delta_conv_tests",       "problem6", "6 delta_conv",   1,   "delta_conv",
         judge="delta_conv", parts=("sympy",)),
    Cell("p6_grad_conv_weight_tests", "problem6", "6 grad_w",       1,   "grad_conv_weight",
         judge="grad_conv_weight", parts=("sympy",)),
    Cell("p6_grad_conv_bias_tests",   "problem6", "6 grad_b",       0.5, "grad_conv_bias",
         judge="grad_conv_bias", parts=("sympy",)),
    Cell("p6_backward_tests",         "problem6", "6 numpy",        1,   "conv_net_backward",
         judge="conv_net_backward", parts=("backward",)),
    Cell("p6_answer",                 "problem6", "6 manual",       0.5, "p6_answer"),
    Cell("p7_gradient_tests",         "problem7", "7a gradient",    1,   "relu_chain_gradient",
         judge="relu_chain_gradient", parts=("sympy",)),
    Cell("p7_stability_tests",        "problem7", "7a stability",   1,   "gradient_is_stable",
         judge="gradient_is_stable", parts=("stability",)),
    Cell("p7_activation_tests",       "problem7", "7b activations", 1,   "activations",
         judge="activations", parts=("activations",), decisive_in_kernel=True),
    Cell("p7b_answer",                "problem7", "7b manual",      1,   "p7b_answer"),
)
BY_ID = {cell.grade_id: cell for cell in CELLS}
JUDGED = tuple(cell for cell in CELLS if not cell.written)
MAX_POINTS = sum(cell.points for cell in CELLS)
assert {cell.notebook for cell in CELLS} == set(NOTEBOOKS)


def label(grade_id: str) -> str:
    return BY_ID[grade_id].label if grade_id in BY_ID else grade_id
