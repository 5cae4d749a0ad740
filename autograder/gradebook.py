"""Write results into nbgrader's gradebook (sqlite by default, any SQLAlchemy URL such as PostgreSQL)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import warnings
from pathlib import Path

from nbgrader.api import Gradebook, InvalidEntry, MissingEntry
from sqlalchemy.engine import make_url

from .release import ASSIGNMENT, tool_environment


def prepare(db_url: str, template: Path) -> None:
    """Make sure the gradebook knows assignment ps3 (its notebooks and graded cells). A new sqlite gradebook is a
    copy of the template's, which generate_assignment has just filled (running it again takes seconds)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        shutil.copyfile(template / "gradebook.db", url.database)
        return
    with Gradebook(db_url) as gb:
        try:
            gb.find_assignment(ASSIGNMENT)
            return
        except MissingEntry:
            pass
    result = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force",
                             f"--db={db_url}"], cwd=template, capture_output=True, text=True, env=tool_environment())
    if result.returncode != 0:
        raise RuntimeError(f"could not add {ASSIGNMENT} to the gradebook {db_url}:\n{result.stderr[-2000:]}")


def missing(db_url: str, student_ids: list[str]) -> list[str]:
    """The students among ``student_ids`` that have no ps3 submission in the gradebook."""
    with Gradebook(db_url) as gb:
        present = {s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions}
    return [s for s in student_ids if s not in present]


def record(db_url: str, result, attempts: int = 3) -> None:
    """Store one submission's grades: the student, the submission and every graded cell, replacing old ones.

    Idempotent (recording the same result twice leaves the same rows: nbgrader's gradebook keeps one submission per
    student and assignment, one grade per cell); retried when another client wrote the same student meanwhile or
    the database connection dropped.
    """
    from sqlalchemy.exc import IntegrityError, OperationalError

    for attempt in range(attempts):
        try:
            return _record(db_url, result)
        except (IntegrityError, OperationalError, InvalidEntry):  # nbgrader wraps IntegrityError in InvalidEntry
            if attempt == attempts - 1:
                raise


def _record(db_url: str, result) -> None:
    first, _, last = result.name.partition(" ")
    with Gradebook(db_url) as gb, warnings.catch_warnings():
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
