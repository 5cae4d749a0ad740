"""One submission's own nbgrader course directory: a copy of the generated course (with the hidden tests and a
gradebook of its own), where the student's notebooks are placed, autograded by nbgrader and read back."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from nbgrader.api import MissingEntry
from nbgrader.apps import AutogradeApp

from ..course import ASSIGNMENT, NbgraderError, open_gradebook, tool_environment


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

    def autograde(self, student: str, args=(), env: dict | None = None,
                  meanwhile: Callable[[], None] | None = None) -> None:
        """``nbgrader autograde`` of ``student``, run in this process: a second Python process would spend seconds
        of every submission starting and importing nbgrader. The kernels it starts are this process's children
        (bwrap's --die-with-parent: they die with it) and start with exactly ``env`` (default: this process's
        environment with the grader's tools on PATH) and what nbgrader adds; nbgrader logs to this process's
        output. ``meanwhile`` runs in a thread alongside, started once the first kernel is ready (from then on this
        process mostly waits for kernels; before, the thread would slow nbgrader's preparation) and ended before
        this process's environment is restored (a thread reading it while it is swapped could crash)."""
        app = AutogradeApp()
        alongside = threading.Thread(target=meanwhile, name="alongside autograde") if meanwhile else None

        def kernel_ready(**_) -> None:  # nbclient's hook, for each notebook's kernel
            if alongside.ident is None:
                alongside.start()
        with _inside(self.path, tool_environment() if env is None else env):
            try:
                app.initialize([ASSIGNMENT, "--force", f"--student={student}", f"--db={self.db_url}", *args])
                if alongside:
                    app.config.ResilientExecute.on_notebook_start = kernel_ready
                app.start()
            except SystemExit as exc:  # nbgrader's apps end with sys.exit on every failure
                if exc.code:
                    raise NbgraderError(f"nbgrader autograde failed (exit status {exc.code}; its log is above)"
                                        ) from None
            finally:
                if alongside and alongside.ident is not None:
                    alongside.join()

    def grades(self, student: str) -> list[CellGrade]:
        with open_gradebook(self.db_url) as gb:
            try:
                submission = gb.find_submission(ASSIGNMENT, student)
            except MissingEntry:
                return []
            return [CellGrade(nb.name, g.name, g.score, g.max_score, g.needs_manual_grade)
                    for nb in submission.notebooks for g in nb.grades]


@contextmanager
def _inside(folder: Path, environment: dict):
    """This process working in ``folder`` (where nbgrader reads the course's nbgrader_config.py) with exactly
    ``environment`` (what the kernels start with), all restored after. jupyter_client writes each kernel's
    connection file with ``tempfile``, whose folder this process may have chosen before (a forked grading process
    inherits its forkserver's): it is chosen again, from the TMPDIR given, the folder the contained kernel sees."""
    cwd, saved, saved_tempdir = os.getcwd(), dict(os.environ), tempfile.tempdir
    os.chdir(folder)
    os.environ.clear()
    os.environ.update(environment)
    tempfile.tempdir = None
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        tempfile.tempdir = saved_tempdir
        os.chdir(cwd)
