"""One submission's own nbgrader course directory: a copy of the generated course (with the hidden tests and a
gradebook of its own), where the student's notebooks are placed, autograded by nbgrader and read back."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import MissingEntry

from ..course import ASSIGNMENT, open_gradebook, run_nbgrader
from ..isolation.processes import die_with_parent


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one notebook, as the gradebook records it after autograde (results.py's glossary)."""

    notebook: str
    grade_id: str
    score: float | None  # None while a manually graded cell waits for a person
    max_score: float
    needs_manual_grade: bool


class ScratchCourse:
    """A throw-away copy of a generated course directory."""

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        self.db_url = f"sqlite:///{self.path / 'gradebook.db'}"
        self.autograded_root = self.path / "autograded"

    @classmethod
    def copy_of(cls, course: Path, path: Path) -> "ScratchCourse":
        """A copy of a generated course (generating takes seconds, a copy does not)."""
        shutil.copytree(course, path)
        return cls(path)

    def submit(self, student: str, notebooks: dict[str, Path]) -> Path:
        """Place a student's notebooks (assignment notebook name -> file) as nbgrader expects them."""
        folder = self.path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in notebooks.items():
            shutil.copy(path, folder / f"{name}.ipynb")
        # No `nbgrader db student add`: autograde creates missing students itself (Autograde.create_student).
        return folder

    def autograded(self, student: str) -> Path:
        """Where nbgrader writes the student's executed notebooks (and the kernels work)."""
        return self.autograded_root / student / ASSIGNMENT

    def place_autograded(self, folder: Path) -> None:
        """Have nbgrader write the executed notebooks (and run the kernels) in ``folder``, outside the course copy
        (its ``autograded`` folder becomes a symlink to it)."""
        folder.mkdir(parents=True, exist_ok=True)
        (self.path / "autograded").symlink_to(folder, target_is_directory=True)
        self.autograded_root = Path(folder).resolve()

    def autograde(self, student: str, args=(), env: dict | None = None) -> None:
        # nbgrader dies with the grading process, and its kernels (bwrap's --die-with-parent) with it.
        run_nbgrader(self.path, "autograde", ASSIGNMENT, "--force", f"--student={student}", *args, env=env,
                     preexec_fn=die_with_parent)

    def grades(self, student: str) -> list[CellGrade]:
        with open_gradebook(self.db_url) as gb:
            try:
                submission = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                return []
            return [CellGrade(nb.name, g.name, g.score, g.max_score, g.needs_manual_grade)
                    for nb in submission.notebooks for g in nb.grades]
