"""Grade submissions with nbgrader's real autograde in a scratch course directory, and read the gradebook.

A scratch course directory keeps the repository clean: it holds a copy of nbgrader_config.py and source/,
its own sqlite gradebook, the submissions and nbgrader's autograded/ output.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .release import ASSIGNMENT, ROOT, copy_course, tool_environment


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one notebook, as the gradebook records it after autograde."""

    notebook: str
    grade_id: str
    score: float | None  # None while a manually graded cell waits for a person
    max_score: float
    needs_manual_grade: bool


class CourseDirectory:
    """A throw-away nbgrader course directory with assignment ps3 generated into its gradebook."""

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        self.db_url = f"sqlite:///{self.path / 'gradebook.db'}"

    @classmethod
    def generate(cls, root: Path = ROOT) -> "CourseDirectory":
        """A new scratch course directory with the assignment generated from ``root``'s source."""
        course = cls(copy_course(root, Path(tempfile.mkdtemp(prefix="ps3-course-"))))
        course.nbgrader("generate_assignment", ASSIGNMENT, "--force")
        return course

    @classmethod
    def copy_of(cls, template: Path, path: Path) -> "CourseDirectory":
        """A copy of an already generated course directory (generation takes seconds, a copy does not)."""
        shutil.copytree(template, path)
        return cls(path)

    def nbgrader(self, *args: str, timeout: float | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--db={self.db_url}"], cwd=self.path,
                                capture_output=True, text=True, env={**tool_environment(), **(env or {})},
                                timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result

    def submit(self, student: str, notebooks: dict[str, Path]) -> None:
        """Place a student's notebooks (assignment notebook name -> file) as nbgrader expects them."""
        folder = self.path / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True, exist_ok=True)
        for name, path in notebooks.items():
            shutil.copy(path, folder / f"{name}.ipynb")
        # No `nbgrader db student add`: autograde creates missing students itself (Autograde.create_student).

    def autograde(self, *students: str, extra_args=(), env: dict | None = None) -> None:
        args = ["autograde", ASSIGNMENT, "--force", *[f"--student={s}" for s in students], *extra_args]
        self.nbgrader(*args, env=env)

    def grades(self, student: str) -> list[CellGrade]:
        with Gradebook(self.db_url) as gb:
            try:
                submission = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                return []
            return [CellGrade(nb.name, g.name, g.score, g.max_score, g.needs_manual_grade)
                    for nb in submission.notebooks for g in nb.grades]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
