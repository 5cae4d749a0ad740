"""The notebooks a TA grades in formgrader, taken from a graded submission before its scratch course is removed:
each notebook as submitted (sanitized) and as autograded (executed, hidden tests restored by nbgrader), with the
grader's own verdict printed under every automatically graded cell. They are the TAs', never the students'.

They travel as text in the result (a Dask worker's scratch folder is on another machine); the batch writes them
into the grading folder (outputs/grading_folder.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import nbformat
from nbformat.v4 import new_output

from ..cells import JUDGED
from ..course import NOTEBOOKS
from ..results import CellResult

VERDICT_MARK = "[autograder]"  # starts the output the grader adds under a test cell (what formgrader shows)
SPOILED = ("{name}: the executed notebook was changed by the submission's own code; formgrader shows the notebook "
           "as submitted, without outputs")


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def answer_texts(notebook: Path) -> dict[str, str]:
    """grade id -> source of every cell with a grade id (what the student wrote, in the answer cells)."""
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
    kernels of a submission's later notebooks work in the same folder)."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - whatever the submission's code left there
        return None
    executed = {_grade_id(c): c.source for c in notebook.cells if _grade_id(c)}
    tests = {cell.grade_id for cell in JUDGED}  # their hidden tests are back in the executed notebook
    answers = {k: v for k, v in answer_texts(submitted).items() if k not in tests}
    return notebook if all(executed.get(k) == v for k, v in answers.items()) else None


def _verdict(cell: CellResult):
    points = "pending" if cell.points is None else f"{cell.points:g}"
    text = f"{VERDICT_MARK} {points} / {cell.max_points:g} points"
    if cell.message:
        text += f": {cell.message}"
    passed = cell.points == cell.max_points
    return new_output("stream", name="stdout" if passed else "stderr", text=text + "\n")


def for_formgrader(submitted: dict[str, Path], autograded: Path, cells: list[CellResult],
                   notes: list[str]) -> dict[str, str]:
    """{"submitted/<name>.ipynb": ..., "autograded/<name>.ipynb": ...} for each submitted notebook."""
    verdicts = {c.grade_id: c for c in cells if not c.written}
    kept = {}
    for name in NOTEBOOKS:
        if name not in submitted:
            continue
        kept[f"submitted/{name}.ipynb"] = submitted[name].read_text(encoding="utf-8")
        notebook = _executed(autograded / f"{name}.ipynb", submitted[name])
        if notebook is None:
            notes.append(SPOILED.format(name=name))
            notebook = nbformat.read(submitted[name], as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code" and _grade_id(cell) in verdicts:
                cell.outputs = [o for o in cell.outputs if VERDICT_MARK not in str(o.get("text", ""))]
                cell.outputs.append(_verdict(verdicts[_grade_id(cell)]))
        kept[f"autograded/{name}.ipynb"] = nbformat.writes(notebook)
    return kept
