"""Write results into nbgrader's gradebook (sqlite by default, any SQLAlchemy URL such as PostgreSQL)."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

from nbgrader.api import InvalidEntry, MissingEntry
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from ..course import ASSIGNMENT, NbgraderError, copy_course, generate_assignment, open_gradebook
from ..results import SubmissionResult


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


def record(db_url: str, result: SubmissionResult, attempts: int = 3) -> None:
    """Store one submission's grades: the student, the submission and every graded cell, replacing old ones.

    Idempotent (recording the same result twice leaves the same rows: nbgrader's gradebook keeps one submission per
    student and assignment, one grade per cell); retried when another client wrote the same student meanwhile or
    the database connection dropped.
    """
    for attempt in range(attempts):
        try:
            return _record(db_url, result)
        except (IntegrityError, OperationalError, InvalidEntry):  # nbgrader wraps IntegrityError in InvalidEntry
            if attempt == attempts - 1:
                raise


def _record(db_url: str, result: SubmissionResult) -> None:
    first, _, last = result.name.partition(" ")
    with open_gradebook(db_url) as gb, warnings.catch_warnings():
        # nbgrader's add_submission trips SQLAlchemy's autoflush warnings; the rows are written correctly.
        warnings.filterwarnings("ignore", message=".*not in session.*")
        gb.update_or_create_student(result.student_id, first_name=first, last_name=last)
        try:
            gb.find_submission(ASSIGNMENT, result.student_id)
        except MissingEntry:
            gb.add_submission(ASSIGNMENT, result.student_id)
        for cell in result.cells:
            grade = gb.find_grade(cell.grade_id, cell.notebook, ASSIGNMENT, result.student_id)
            grade.auto_score = cell.points
            grade.needs_manual_grade = cell.points is None
        gb.db.commit()
