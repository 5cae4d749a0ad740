"""The notebooks a TA grades in formgrader, taken from a graded submission before its scratch course is removed:
each notebook as submitted (sanitized) and as autograded (executed, hidden tests restored by nbgrader), both made
inert (outputs/inert.py: nothing of the student's runs in the TA's browser), with the grader's own verdict in a
cell of its own right under every automatically graded cell. They are the TAs', never the students'.

They travel as text in the result (a Dask worker's scratch folder is on another machine); the batch writes them
into the grading folder (outputs/grading_folder.py).
"""

from __future__ import annotations

import hashlib
import html
from pathlib import Path

import nbformat
from nbformat.v4 import new_markdown_cell

from ..cells import JUDGED
from ..course import NOTEBOOKS
from ..outputs.inert import MARK as VERDICT_MARK
from ..outputs.inert import inert_notebook
from ..results import CellResult
from .execute import read_notebook_back

VERDICT_CELL = "autograder_verdict"  # the metadata key of a verdict cell (the grader's: inert drops a student's)
SPOILED = ("{name}: the executed notebook was changed by the submission's own code; formgrader shows the notebook "
           "as submitted, without outputs")


def _grade_id(cell) -> str | None:
    """The cell's grade id; None for none, or for metadata no grader wrote (an executed notebook may be any valid
    nbformat a later kernel wrote)."""
    nbgrader = cell.get("metadata", {}).get("nbgrader")
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def answer_texts(notebook: Path) -> dict[str, str]:
    """grade id -> source of every cell with a grade id (what the student wrote, in the answer cells), from a
    notebook the grader wrote (sanitize.py), out of every kernel's reach."""
    cells = nbformat.read(notebook, as_version=4).cells
    return {_grade_id(c): c.source for c in cells if _grade_id(c)}


def digest(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()


def set_answer_digests(cells: list[CellResult], submitted: dict[str, Path]) -> None:
    """Each written answer's digest, from the notebook as submitted: a hand grade applies to this text."""
    texts = {name: answer_texts(path) for name, path in submitted.items()}
    for cell in cells:
        if cell.written:
            cell.answer_digest = digest(texts.get(cell.notebook, {}).get(cell.grade_id, ""))


def _executed(path: Path, submitted: Path) -> nbformat.NotebookNode | None:
    """The autograded notebook, unless it is missing or a later kernel of the submission changed its answers (the
    kernels of a submission's later notebooks work in the same folder: it may hold anything, see
    ``read_notebook_back``)."""
    notebook = read_notebook_back(path)
    if notebook is None:
        return None
    executed = {_grade_id(c): c.source for c in notebook.cells if _grade_id(c)}
    tests = {cell.grade_id for cell in JUDGED}  # their hidden tests are back in the executed notebook
    answers = {k: v for k, v in answer_texts(submitted).items() if k not in tests}
    return notebook if all(executed.get(k) == v for k, v in answers.items()) else None


def verdict_text(cell: CellResult) -> str:
    points = "pending" if cell.points is None else f"{cell.points:g}"
    text = f"{VERDICT_MARK} {points} / {cell.max_points:g} points"
    return f"{text}: {cell.message}" if cell.message else text


def _verdict(cell: CellResult):
    """The grader's verdict on one test cell as a Markdown cell of its own: a coloured box (Bootstrap's, which
    formgrader's page loads). The message may quote the student's text: escaped for HTML, with nothing Markdown or
    MathJax would read ($, backslashes) and no blank line (which would end the HTML block)."""
    colour = "success" if cell.points == cell.max_points else "danger"
    text = html.escape(verdict_text(cell)).replace("$", "&#36;").replace("\\", "&#92;").replace("`", "&#96;")
    text = "<br>".join(line for line in text.splitlines() if line.strip())
    verdict = new_markdown_cell(f'<div class="alert alert-{colour}"><b>{text}</b></div>',
                                metadata={VERDICT_CELL: cell.grade_id})
    verdict["id"] = f"verdict-{cell.grade_id}"[:64]
    return verdict


def for_formgrader(submitted: dict[str, Path], autograded: Path, cells: list[CellResult],
                   notes: list[str]) -> dict[str, str]:
    """{"submitted/<name>.ipynb": ..., "autograded/<name>.ipynb": ...} for each submitted notebook, inert, with the
    grader's verdicts in the autograded one."""
    verdicts = {c.grade_id: c for c in cells if not c.written}
    kept = {}
    for name in NOTEBOOKS:
        if name not in submitted:
            continue
        as_submitted = nbformat.read(submitted[name], as_version=4)
        metadata = as_submitted.metadata  # the release's (sanitize.py): none of the student's
        kept[f"submitted/{name}.ipynb"] = nbformat.writes(inert_notebook(as_submitted, metadata, name)[0])
        notebook = _executed(autograded / f"{name}.ipynb", submitted[name])
        if notebook is None:
            notes.append(SPOILED.format(name=name))
            notebook = as_submitted
        notebook, removed = inert_notebook(notebook, metadata, name)
        notes += removed
        with_verdicts = []
        for cell in notebook.cells:
            with_verdicts.append(cell)
            if cell.cell_type == "code" and _grade_id(cell) in verdicts:
                with_verdicts.append(_verdict(verdicts[_grade_id(cell)]))
        notebook.cells = with_verdicts
        kept[f"autograded/{name}.ipynb"] = nbformat.writes(notebook)
    return kept
