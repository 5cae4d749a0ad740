"""Write results into nbgrader's gradebook (sqlite by default, any SQLAlchemy URL such as PostgreSQL)."""

from __future__ import annotations

import re
import shutil
import tempfile
import warnings
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from nbgrader.api import InvalidEntry, MissingEntry
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from ..course import ASSIGNMENT, NbgraderError, copy_course, generate_assignment, open_gradebook
from ..results import CellResult, SubmissionResult
from ..text import NAME_LIMIT, cap, one_line

FLAGGED = "flagged in formgrader"
STALE = "[stale: the answer changed after this grade was given; check it and save the score again]"


def prepare(db_url: str, course: Path) -> None:
    """Make sure the gradebook knows the assignment (its notebooks and graded cells). A new sqlite gradebook is a
    copy of the generated course's, which generate_assignment has filled (running it again takes seconds)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        shutil.copyfile(course / "gradebook.db", url.database)
        return
    with open_gradebook(db_url) as gb:
        try:
            gb.find_assignment(ASSIGNMENT)
            return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory(prefix="ps3-prepare-") as scratch:  # the generated course is never changed
        try:
            generate_assignment(copy_course(course, Path(scratch)), db_url)
        except NbgraderError as exc:
            raise NbgraderError(f"could not add {ASSIGNMENT} to the gradebook {db_url}: {exc}") from None


def missing(db_url: str, student_ids: list[str]) -> list[str]:
    """The students among ``student_ids`` that have no submission of the assignment in the gradebook."""
    with open_gradebook(db_url) as gb:
        present = {s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions}
    return [s for s in student_ids if s not in present]


def record(db_url: str, result: SubmissionResult, previous: SubmissionResult | None = None,
           attempts: int = 3) -> None:
    """Store one submission's grades: the student, the submission and every graded cell's automatic score.

    A person's grades are never lost: a manual score or comment (a TA's, entered in formgrader) stays. Where a
    written answer's text changed since the ``previous`` result, its hand grade is kept but marked stale (it needs
    a person again, its comment says why) and the notebook is flagged for review.

    Idempotent (recording the same result twice leaves the same rows: nbgrader's gradebook keeps one submission per
    student and assignment, one grade per cell); retried when another client wrote the same student meanwhile or
    the database connection dropped.
    """
    before = {c.grade_id: c.answer_digest for c in previous.cells} if previous else {}
    changed = {c.grade_id for c in result.cells
               if c.written and before.get(c.grade_id) and c.answer_digest and before[c.grade_id] != c.answer_digest}
    for attempt in range(attempts):
        try:
            return _record(db_url, result, changed)
        except (IntegrityError, OperationalError, InvalidEntry):  # nbgrader wraps IntegrityError in InvalidEntry
            if attempt == attempts - 1:
                raise


def display_name(name: str) -> str:
    """A student's name as the gradebook keeps it for formgrader, whose grading form writes it into the page
    unescaped: on one line, printable, without HTML's special characters."""
    return re.sub(r'[<>&"]', "", one_line(cap(name, NAME_LIMIT)))  # an apostrophe (O'Brien) is harmless in text


def _record(db_url: str, result: SubmissionResult, changed: set[str]) -> None:
    first, _, last = display_name(result.name).partition(" ")
    with open_gradebook(db_url) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; the rows are written correctly.
        warnings.filterwarnings("ignore", message=".*not in session.*")
        gb.update_or_create_student(result.student_id, first_name=first, last_name=last)
        try:
            submission = gb.find_submission(ASSIGNMENT, result.student_id)
        except MissingEntry:
            submission = gb.add_submission(ASSIGNMENT, result.student_id)
        if result.handed_in:  # formgrader's "Timestamp" column (naive UTC, as nbgrader keeps its times)
            handed_in = datetime.fromisoformat(result.handed_in).astimezone(timezone.utc)
            submission.timestamp = handed_in.replace(tzinfo=None)
        for cell in result.cells:
            grade = gb.find_grade(cell.grade_id, cell.notebook, ASSIGNMENT, result.student_id)
            grade.auto_score = cell.points
            if grade.manual_score is None:
                grade.needs_manual_grade = cell.points is None
            elif cell.grade_id in changed:
                _mark_stale(gb, grade, cell, result.student_id)
        gb.db.commit()


def _mark_stale(gb, grade, cell: CellResult, student_id: str) -> None:
    """The answer a person graded has changed: their grade stays, but waits for them again."""
    grade.needs_manual_grade = True
    comment = gb.find_comment(cell.grade_id, cell.notebook, ASSIGNMENT, student_id)
    if not (comment.manual_comment or "").startswith(STALE):
        comment.manual_comment = f"{STALE} {comment.manual_comment or ''}".rstrip()
    gb.find_submission_notebook(cell.notebook, ASSIGNMENT, student_id).flagged = True


def final_results(db_url: str, results: list[SubmissionResult]) -> list[SubmissionResult]:
    """The results with the gradebook's word on every cell: a person's score (or the automatic one), whether it
    still waits for a person (None points), and a person's comment. Students the gradebook lacks are as graded."""
    final = []
    with open_gradebook(db_url) as gb:
        for result in results:
            try:
                submission = gb.find_submission(ASSIGNMENT, result.student_id)
            except MissingEntry:
                final.append(result)
                continue
            grades = {(nb.name, g.name): g for nb in submission.notebooks for g in nb.grades}
            comments = {(nb.name, c.name): c for nb in submission.notebooks for c in nb.comments}
            cells = []
            for cell in result.cells:
                key = (cell.notebook, cell.grade_id)
                grade, comment = grades.get(key), comments.get(key)
                if grade is None:
                    cells.append(cell)
                    continue
                cells.append(replace(cell, points=None if grade.needs_manual_grade else grade.score,
                                     comment=(comment.manual_comment or "") if comment else ""))
            flagged = [nb.name for nb in submission.notebooks if nb.flagged]
            review = result.review + ([f"{FLAGGED}: {', '.join(flagged)}"] if flagged else [])
            final.append(replace(result, cells=cells, review=review))
    return final
