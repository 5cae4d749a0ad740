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
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output

from ..cells import JUDGED
from ..course import NOTEBOOKS
from ..outputs.inert import MARK as VERDICT_MARK
from ..outputs.inert import inert_notebook
from ..results import CellResult
from .execute import read_notebook_back

VERDICT_CELL = "autograder_verdict"  # the metadata key of a verdict cell (the grader's: inert drops a student's)
# The metadata key of a cell that shows what a code cell showed in the student's own run, as handed in: the written
# answers of 5b and 5c are about the student's plot of three seeds, while the grader's re-run trains one.
HANDED_IN_CELL = "autograder_handed_in_outputs"
HANDED_IN_SOURCE = ("# As handed in: what the cell above showed in the student's own run (their outputs, made inert; "
                    "the grader did not run this cell)")
HANDED_IN_BYTES = 4 * 2**20  # the outputs of one cell, as handed in, shown up to this size
TOO_LARGE = "[the outputs this cell had when handed in are {size} MB: not shown]\n"
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


def _key(cell) -> str | None:
    """What matches a cell of the upload to the graded notebook's: its grade id, else its cell id."""
    cell_id = cell.get("id")
    return _grade_id(cell) or (cell_id if isinstance(cell_id, str) else None)


def _is_test(cell) -> bool:
    nbgrader = cell.get("metadata", {}).get("nbgrader")
    return isinstance(nbgrader, dict) and bool(nbgrader.get("grade")) and not nbgrader.get("solution")


def handed_in_outputs(upload: Path | None) -> dict[str, list]:
    """Cell key -> the outputs a code cell of the student's upload had (test cells left out: the grader's verdict
    is what counts there). Empty for an upload that cannot be read as a notebook (sanitize noted why)."""
    if upload is None:
        return {}
    try:
        cells = nbformat.read(upload, as_version=4).cells
    except Exception:  # noqa: BLE001 - any file a student uploaded; sanitize reported it
        return {}
    return {key: cell.outputs for cell in cells
            if cell.get("cell_type") == "code" and cell.get("outputs") and not _is_test(cell) and (key := _key(cell))}


def _handed_in_cell(outputs: list, key: str, name: str):
    """A cell of the grader's that shows ``outputs`` (the student's, as handed in) made inert, and the notes that say
    what was removed (``name``: the notebook's)."""
    handed_in = nbformat.v4.new_notebook(cells=[new_code_cell(HANDED_IN_SOURCE, outputs=outputs)])
    clean, notes = inert_notebook(handed_in, {}, f"{name} as handed in")
    cell = clean.cells[0]
    size = len(nbformat.writes(clean))
    if size > HANDED_IN_BYTES:
        cell.outputs = [new_output("stream", name="stderr", text=TOO_LARGE.format(size=round(size / 2**20)))]
    cell.metadata = {HANDED_IN_CELL: key}
    cell["id"] = f"handed-in-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    return cell, notes


def for_formgrader(submitted: dict[str, Path], autograded: Path, cells: list[CellResult],
                   notes: list[str], uploads: dict[str, Path] | None = None) -> dict[str, str]:
    """{"submitted/<name>.ipynb": ..., "autograded/<name>.ipynb": ...} for each submitted notebook, inert, with the
    grader's verdicts in the autograded one, and under each code cell that had outputs in the student's upload
    (``uploads``: the files as handed in) those outputs, inert, in a cell of the grader's."""
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
        own = handed_in_outputs((uploads or {}).get(name))
        with_verdicts = []
        for cell in notebook.cells:
            with_verdicts.append(cell)
            if cell.cell_type == "code" and _grade_id(cell) in verdicts:
                with_verdicts.append(_verdict(verdicts[_grade_id(cell)]))
            elif cell.cell_type == "code" and own.get(_key(cell)):
                handed_in, removed = _handed_in_cell(own[_key(cell)], _key(cell), name)
                with_verdicts.append(handed_in)
                notes += removed
        notebook.cells = with_verdicts
        kept[f"autograded/{name}.ipynb"] = nbformat.writes(notebook)
    return kept
