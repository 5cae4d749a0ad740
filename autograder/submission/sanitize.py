"""Repair a submitted notebook against the release before grading: the release decides the structure.

Every cell nbgrader grades or locks comes from the release, once, in the release's order (nbgrader then puts
the hidden tests back from its gradebook, matching cells by grade id and checksum). From the student's
notebook only the answers are taken: the source of each answer cell (matched by grade id, the first if
duplicated) and the cells the student added, which keep their place after the answer cell before them. Outputs
are cleared. Every change that was needed is returned as a note, and any change to a test or locked cell
marks the submission for review.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode


@dataclass
class Repair:
    notebook: NotebookNode
    notes: list[str] = field(default_factory=list)  # what was repaired, for the student and the instructor
    tampered: bool = False  # a test or locked cell was changed, deleted or duplicated


def _nbgrader(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell) -> str | None:
    grade_id = _nbgrader(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) else None


HIDDEN_TESTS = re.compile(r"\n?### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


def _visible(source) -> str:
    """A test cell's source without its hidden tests (the instructor's own copy has them; the release does not)."""
    text = "".join(source) if isinstance(source, list) else str(source)
    return HIDDEN_TESTS.sub("\n", text).strip()


def _is_answer(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("solution")) and not meta.get("locked")


def _clean(cell, cell_id: str) -> NotebookNode:
    cell = copy.deepcopy(cell)
    cell["id"] = cell_id
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
        cell.pop("attachments", None)
    return cell


def repair(student: NotebookNode, release: NotebookNode, name: str) -> Repair:
    """The student's answers placed into the release's structure; ``name`` labels the notes."""
    released = {_grade_id(c): c for c in release.cells if _grade_id(c)}
    plain_sources = {c.get("source", "") for c in release.cells if not _grade_id(c)}
    result = Repair(nbformat.v4.new_notebook(metadata=copy.deepcopy(release.metadata)))
    result.notebook.nbformat, result.notebook.nbformat_minor = release.nbformat, release.nbformat_minor
    original = student.get("metadata", {}).get("orig_nbformat")
    if original and original < 4:
        result.notes.append(f"{name}: converted from nbformat {original} to nbformat 4")

    answers, extras, seen = {}, {None: []}, set()
    anchor = None
    for cell in student.cells:
        grade_id = _grade_id(cell)
        if grade_id in released:
            if grade_id in seen:
                result.notes.append(f"{name}: cell {grade_id!r} appears more than once; the first one was graded")
                result.tampered |= not _is_answer(released[grade_id])
                continue
            seen.add(grade_id)
            if _is_answer(released[grade_id]):
                answers[grade_id] = cell
            elif _visible(cell.get("source", "")) != _visible(released[grade_id].get("source", "")) or \
                    cell.get("cell_type") != released[grade_id].get("cell_type"):
                result.notes.append(f"{name}: the test or locked cell {grade_id!r} was changed; the original was "
                                    "restored")
                result.tampered = True
            anchor = grade_id
            extras.setdefault(anchor, [])
        else:
            if grade_id is not None:
                result.notes.append(f"{name}: a cell claims the unknown id {grade_id[:60]!r}; it is kept as your "
                                    "own cell")
            if cell.get("source", "") in plain_sources and not grade_id:
                continue  # an instruction cell of the release, kept from the release itself
            extras.setdefault(anchor, []).append(cell)

    cells = [_extra(c, i) for i, c in enumerate(extras[None])]
    count = len(cells)
    for index, cell in enumerate(release.cells):
        grade_id = _grade_id(cell)
        if grade_id and _is_answer(cell):
            if grade_id in answers:
                mine = _clean(answers[grade_id], cell.get("id") or f"cell-{index}")
                if mine.get("cell_type") != cell.get("cell_type"):
                    result.notes.append(f"{name}: answer cell {grade_id!r} was turned into a {mine.get('cell_type')} "
                                        f"cell; it is graded as the {cell.get('cell_type')} cell it was")
                    mine = _retype(mine, cell.get("cell_type"))
                mine["metadata"] = copy.deepcopy(cell.get("metadata", {}))
                cells.append(mine)
            else:
                result.notes.append(f"{name}: answer cell {grade_id!r} is missing; the starter version was put back")
                cells.append(_clean(cell, cell.get("id") or f"cell-{index}"))
        else:
            if grade_id and grade_id not in seen:
                result.notes.append(f"{name}: the test or locked cell {grade_id!r} was deleted; it was restored")
                result.tampered = True
            cells.append(_clean(cell, cell.get("id") or f"cell-{index}"))
        for extra in extras.get(grade_id, []) if grade_id else []:
            cells.append(_extra(extra, count))
            count += 1
    result.notebook.cells = cells
    return result


def _extra(cell, number: int) -> NotebookNode:
    """A cell the student added: no nbgrader metadata (it grades nothing), a fresh id, no outputs."""
    cell = _clean(cell, f"student-{number}")
    metadata = dict(cell.get("metadata", {}))
    metadata.pop("nbgrader", None)
    cell["metadata"] = metadata
    return cell


def _retype(cell, cell_type: str) -> NotebookNode:
    maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
             "raw": nbformat.v4.new_raw_cell}[cell_type]
    new = maker(source=cell.get("source", ""))
    new["id"] = cell["id"]
    return new


def sanitize_all(notebooks: dict[str, Path], release: Path, folder: Path) -> tuple[dict[str, Path], list[str], bool]:
    """Repair each of a student's notebooks against the release folder ``release``: the repaired files (written
    into ``folder``), every note, and whether any test or locked cell was tampered with."""
    folder.mkdir(parents=True, exist_ok=True)
    repaired, notes, tampered = {}, [], False
    for name, path in notebooks.items():
        result = repair(nbformat.read(path, as_version=4), nbformat.read(release / f"{name}.ipynb", as_version=4), name)
        repaired[name] = folder / f"{name}.ipynb"
        nbformat.write(result.notebook, repaired[name])
        notes += result.notes
        tampered |= result.tampered
    return repaired, notes, tampered
