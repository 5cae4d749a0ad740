"""Score one submission: each test cell's points are the grader's clean verdict; what the cell did inside the
student's kernel only decides the message when the hidden test never recorded, and a disagreement between the
two is flagged for a person. A cell of a notebook whose file the submission's own code replaced while or before it
ran (execute.py) scores 0 whatever its verdict."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ..cells import BY_ID
from ..results import CellResult
from .execute import (CELL_OUTPUT_LIMIT, DIED_BEFORE, DIED_EARLIER, DIED_HERE, OUT_OF_TIME, REPLACED_BY,
                      SPOILED_BEFORE, SPOILED_WHILE, STOPPED, STUCK_EARLIER, TIMED_OUT, TRUNCATED, read_notebook_back)
from .scratch import CellGrade

if TYPE_CHECKING:  # only named here: the judge (torch) is for the grading process, not its supervisor
    from ..judge.verdicts import CellVerdict

# Error names of a cell the grading stopped (its own step, or nbclient's timeout): their messages are the grader's.
STOP_REASONS = (STOPPED, "CellTimeoutError")
# The stop reasons execute.py writes, as a class report may quote them (anything else under the same error name is
# the submission's: a cell can raise an exception of that name itself).
STOP_WORDING = re.compile(f"{STOPPED}: (" + "|".join(
    [*map(re.escape, (DIED_BEFORE, DIED_HERE, OUT_OF_TIME, DIED_EARLIER, STUCK_EARLIER)),
     re.escape(TIMED_OUT).replace(re.escape("{}"), r"\d+")]) + ")")


def _wording(template: str) -> str:
    """A SPOILED_* template as a pattern: its notebook's name and what had replaced its file filled in by the grader."""
    what = "|".join(map(re.escape, sorted(set(REPLACED_BY.values()))))
    return re.escape(template).replace(re.escape("{name}"), r"problem\d").replace(re.escape("{what}"), f"(?:{what})")


# A notebook the grader did not grade, as execute.py marks each of its code cells (under the stop reasons' error name:
# a submission's own exception of that name and wording only costs itself the cell).
SPOILED_WORDING = re.compile(f"{STOPPED}: (" + "|".join(map(_wording, (SPOILED_WHILE, SPOILED_BEFORE))) + ")")


def kernel_outcomes(notebook_path: Path, notes: list[str]) -> dict[str, str]:
    """grade_id -> 'ErrorName: message' of each failed cell of an autograded notebook (for the grader's own use:
    a message written by student code is never shown, except the grading's own stop reasons). Notes the cells
    whose output was cut, and a notebook that was not graded because its file was replaced."""
    found = {}
    if not os.path.lexists(notebook_path):
        return found
    # The kernels of the submission's later notebooks work in this folder: a student's code may have spoiled the
    # file (a FIFO, a folder, a gigabyte, JSON no notebook has). Its points are in the gradebook already; only the
    # cells' messages are lost.
    notebook = read_notebook_back(notebook_path)
    if notebook is None:
        notes.append(f"{notebook_path.stem}: its executed notebook was overwritten by the submission's own code; "
                     "the reasons its cells failed cannot be shown")
        return found
    for index, cell in enumerate(notebook.cells):
        grade_id = _grade_id(cell)
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if grade_id and errors:
            found[grade_id] = f"{errors[-1].get('ename', 'Error')}: {errors[-1].get('evalue', '')}".strip()
        if any(TRUNCATED in str(o.get("text", "")) for o in outputs if o.get("output_type") == "stream"):
            notes.append(f"{notebook_path.stem}: the output of cell {index + 1} was cut at "
                         f"{CELL_OUTPUT_LIMIT // 2**20} MB")
    notes += sorted({spoiled for message in found.values() if (spoiled := not_graded(message))})
    return found


def _grade_id(cell) -> str | None:
    """The cell's grade id; None for none, or for metadata no grader wrote (valid nbformat, any JSON)."""
    nbgrader = cell.metadata.get("nbgrader")
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


# Before the message of a test whose answer cell was graded as handed out: the failure is the starter code's.
STARTER_GRADED = ("your answer cell {!r} was not found in the notebook handed in (no cell carries its nbgrader "
                  "metadata: was the work typed into a new notebook?), so the handed-out starter code was graded: ")


def not_graded(message: str) -> str:
    """The grader's reason (without its error name) where a kernel outcome says its notebook was not graded, else
    ""."""
    match = SPOILED_WORDING.fullmatch(message)
    return match.group(1) if match else ""


def is_stop(message: str) -> bool:
    return message.startswith(STOP_REASONS)


def score(grades: list[CellGrade], verdicts: dict[str, CellVerdict], kernel: dict[str, str],
          restored: set[str] = frozenset()) -> tuple[list[CellResult], list[str]]:
    """Each cell's result from nbgrader's grade, the verdict and the kernel's error (``kernel``: grade id ->
    'ErrorName: message'); and the reasons for review. ``restored``: the answer cells graded as handed out (the
    student's own was not found): a failure there is the starter code's, and its message says so."""
    cells, review = [], []
    for grade in grades:
        if grade.needs_manual_grade:
            cells.append(CellResult(grade.notebook, grade.grade_id, None, grade.max_score))
            continue
        kernel_message = kernel.get(grade.grade_id, "")
        verdict = verdicts.get(grade.grade_id)
        if verdict is None:  # a manually graded answer left unanswered: nbgrader scored it
            cells.append(CellResult(grade.notebook, grade.grade_id, grade.score, grade.max_score,
                                    "" if grade.score else "not answered", grade.score))
            continue
        if reason := not_graded(kernel_message):  # whatever the verdict: see execute.py
            cells.append(CellResult(grade.notebook, grade.grade_id, 0.0, grade.max_score, reason, grade.score,
                                    mistake="not_recorded", scrubbed=reason))
            continue
        points = grade.max_score if verdict.passed else 0.0
        message, mistake, scrubbed = verdict.message, verdict.mistake, verdict.scrubbed
        if not verdict.recorded and is_stop(kernel_message):
            message, mistake = kernel_message, "stopped"
            stop = next(reason for reason in STOP_REASONS if message.startswith(reason))
            scrubbed = message if STOP_WORDING.fullmatch(message) else f"{stop}: …"
        elif not verdict.recorded and kernel_message:
            error_name = kernel_message.split(":")[0]  # only the exception's class name: student text stays out
            if error_name.isidentifier() and len(error_name) <= 40:
                message += f"; the test cell stopped with {error_name}"
                scrubbed += "; the test cell stopped with …"  # a class name the submission may have chosen
        kernel_passed = bool(grade.score) and not kernel_message
        decisive = grade.grade_id in BY_ID and BY_ID[grade.grade_id].decisive_in_kernel
        if kernel_passed != verdict.passed and (verdict.passed or decisive or not verdict.recorded):
            review.append(f"{grade.grade_id}: the test {'passed' if kernel_passed else 'failed'} inside the kernel "
                          f"but the grader's own check {'passed' if verdict.passed else 'failed'}")
        answer = BY_ID[grade.grade_id].answer if grade.grade_id in BY_ID else ""
        if not verdict.passed and answer in restored:
            message, scrubbed = STARTER_GRADED.format(answer) + message, STARTER_GRADED.format(answer) + scrubbed
        cells.append(CellResult(grade.notebook, grade.grade_id, points, grade.max_score, message, grade.score,
                                mistake=mistake, scrubbed=scrubbed, runs=verdict.runs))
    return cells, review
