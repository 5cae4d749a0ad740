"""Repair a submitted notebook against the release before grading: the release decides the structure.

Every cell nbgrader grades or locks comes from the release, once, in the release's order (nbgrader then puts
the hidden tests back from its gradebook, matching cells by grade id and checksum). From the student's
notebook only the answers are taken: the source of each answer cell (matched by grade id, the first if
duplicated) and the cells the student added, which keep their place after the answer cell before them. Outputs
are cleared. Every change that was needed is returned as a note, and any change to a test or locked cell
marks the submission for review.

nbformat only logs what is invalid when it reads a notebook, and nbgrader then fails on it (a dict as a cell's
source, a cell type it does not know), taking the student's other notebooks with it. So every cell kept from the
student must be valid nbformat 4 by nbformat's own validator: an invalid cell of the student's own is left out,
an invalid answer cell gives way to the release's starter cell, each with a note; and a repaired notebook that
still is not valid as a whole is replaced by the release's notebook (its cells score 0), that notebook only.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbformat.validator import get_validator

from ..text import quote

# Why a cell of the student's is not used, in the grader's words (nbformat's own would quote the cell's content).
INVALID = "not a valid notebook cell (nbformat 4 needs a known cell type, a text source and valid metadata)"


@dataclass
class Repair:
    notebook: NotebookNode
    notes: list[str] = field(default_factory=list)  # what was repaired, for the student and the instructor
    tampered: bool = False  # a test or locked cell was changed, deleted or duplicated
    restored: set = field(default_factory=set)  # answer cells graded as handed out (the student's was not found)


def _nbgrader(cell) -> dict:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell) -> str | None:
    grade_id = _nbgrader(cell).get("grade_id")
    return grade_id if isinstance(grade_id, str) else None


HIDDEN_TESTS = re.compile(r"\n?### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


def _visible(source) -> str:
    """A test cell's source without its hidden tests (the instructor's own copy has them; the release does not)."""
    text = "".join(map(str, source)) if isinstance(source, list) else str(source)
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
    metadata = student.get("metadata")
    original = metadata.get("orig_nbformat") if isinstance(metadata, dict) else None
    if original and original < 4:
        result.notes.append(f"{name}: converted from nbformat {original} to nbformat 4")

    answers, extras, seen = {}, {None: []}, set()
    anchor = None
    for position, cell in enumerate(student.cells, 1):
        if not isinstance(cell, dict):
            result.notes.append(f"{name}: cell {position} of the notebook handed in is {INVALID}; it was left out")
            continue
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
            source = cell.get("source", "")
            if isinstance(source, str) and source in plain_sources and not grade_id:
                continue  # an instruction cell of the release, kept from the release itself
            extras.setdefault(anchor, []).append((position, cell))

    cells = []
    for position, extra in extras[None]:
        _place_extra(result, cells, extra, position, release, name)
    for index, cell in enumerate(release.cells):
        grade_id = _grade_id(cell)
        if grade_id and _is_answer(cell):
            cells.append(_answer(result, cell, index, answers.get(grade_id), release, name))
        else:
            if grade_id and grade_id not in seen:
                result.notes.append(f"{name}: the test or locked cell {grade_id!r} was deleted; it was restored")
                result.tampered = True
            cells.append(_clean(cell, cell.get("id") or f"cell-{index}"))
        for position, extra in extras.get(grade_id, []) if grade_id else []:
            _place_extra(result, cells, extra, position, release, name)
    result.notebook.cells = cells
    return result


def _answer(result: Repair, released: NotebookNode, index: int, mine, release: NotebookNode, name: str
            ) -> NotebookNode:
    """The student's answer in the place of the released answer cell (with its metadata), or the release's starter
    cell where the answer is missing or not a valid cell."""
    grade_id = _grade_id(released)
    starter = _clean(released, released.get("id") or f"cell-{index}")
    if mine is None:
        result.notes.append(f"{name}: answer cell {grade_id!r} is missing; the starter version was put back")
        result.restored.add(grade_id)
        return starter
    answer = _clean(mine, starter["id"])
    if answer.get("cell_type") != starter.cell_type:
        result.notes.append(f"{name}: answer cell {grade_id!r} was turned into a {quote(answer.get('cell_type'), 20)} "
                            f"cell; it is graded as the {starter.cell_type} cell it was")
        answer = _retype(answer, starter.cell_type)
    answer["metadata"] = copy.deepcopy(released.get("metadata", {}))
    if not _valid(answer, release):
        result.notes.append(f"{name}: answer cell {grade_id!r} is {INVALID}; the starter version was put back")
        result.restored.add(grade_id)
        return starter
    return answer


def _place_extra(result: Repair, cells: list, cell, position: int, release: NotebookNode, name: str) -> None:
    """A cell the student added, after ``cells`` if it is a valid cell (``position``: its place in the student's
    notebook, named in its id, and in the note when it is left out)."""
    mine = _extra(cell, position)
    if _valid(mine, release):
        cells.append(mine)
    else:
        result.notes.append(f"{name}: cell {position} of the notebook handed in is {INVALID}; it was left out")


def _valid(cell, release: NotebookNode) -> bool:
    """Whether ``cell`` is valid in a notebook of the release's nbformat."""
    return valid_notebook({"nbformat": release.nbformat, "nbformat_minor": release.nbformat_minor, "metadata": {},
                           "cells": [cell]})


def valid_notebook(notebook: dict) -> bool:
    """Whether ``notebook`` is valid nbformat 4 by nbformat's own schema of its minor version. Its compiled validator
    stops at the first error, where nbformat.validate explains every error: half a minute on one cell with 200 000
    wrong tags."""
    minor = notebook.get("nbformat_minor")
    validator = get_validator(version=4, version_minor=minor) if type(minor) is int else None
    if notebook.get("nbformat") != 4 or validator is None:
        return False
    try:
        validator.validate(notebook)
    except nbformat.ValidationError:
        return False
    return True


def _extra(cell, position: int) -> NotebookNode:
    """A cell the student added: no nbgrader metadata (it grades nothing), a fresh id, no outputs."""
    cell = _clean(cell, f"student-{position}")
    metadata = cell.get("metadata", {})
    if isinstance(metadata, dict):  # any other is invalid, and the cell left out
        cell["metadata"] = {key: value for key, value in metadata.items() if key != "nbgrader"}
    return cell


def _retype(cell, cell_type: str) -> NotebookNode:
    maker = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
             "raw": nbformat.v4.new_raw_cell}[cell_type]
    new = maker()  # validated as it is made: the source, which may be invalid, comes after (then see _valid)
    new["source"], new["id"] = cell.get("source", ""), cell["id"]
    return new


def sanitize_all(notebooks: dict[str, Path], release: Path, folder: Path
                 ) -> tuple[dict[str, Path], list[str], bool, set[str]]:
    """Repair each of a student's notebooks against the release folder ``release``: the repaired files (written
    into ``folder``), every note, whether any test or locked cell was tampered with, and the answer cells graded
    as handed out (the student's own was not found or not usable)."""
    folder.mkdir(parents=True, exist_ok=True)
    repaired, notes, tampered, restored = {}, [], False, set()
    for name, path in notebooks.items():
        released = nbformat.read(release / f"{name}.ipynb", as_version=4)
        result = _valid_as_a_whole(repair(nbformat.read(path, as_version=4), released, name), released, name)
        repaired[name] = folder / f"{name}.ipynb"
        nbformat.write(result.notebook, repaired[name])
        notes += result.notes
        tampered |= result.tampered
        restored |= result.restored
    return repaired, notes, tampered, restored


def _valid_as_a_whole(result: Repair, release: NotebookNode, name: str) -> Repair:
    """``result``, or the release's notebook in its place (with a note) where the repaired notebook still is not
    valid nbformat: nbgrader would fail the whole submission on it."""
    if valid_notebook(result.notebook):
        return result
    notes = [*result.notes, f"{name}: could not be repaired into a valid notebook; the release's notebook was graded "
                            "in its place, and its cells score 0"]
    answers = {_grade_id(c) for c in release.cells if _grade_id(c) and _is_answer(c)}
    return Repair(copy.deepcopy(release), notes, result.tampered, answers)
