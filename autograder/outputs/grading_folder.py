"""The grading folder (``--out``) as an nbgrader course directory that formgrader opens: its configuration (which
gradebook), the course's source (hidden tests included: the folder is the instructor's, and no kernel sees it),
and for each graded student the notebooks as submitted and as autograded, where nbgrader keeps them."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from traitlets.config.loader import PyFileConfigLoader

from ..course import ASSIGNMENT, NOT_COURSE_FILES, source_dir
from ..results import ResultStore, SubmissionResult
from . import gradebook

CONFIG = "nbgrader_config.py"
COURSE_ID = "smdl-ps3"
KINDS = ("submitted", "autograded")  # the folders of nbgrader's course layout that a result brings notebooks for
_CONFIG_TEXT = '''"""This grading folder is an nbgrader course directory (written by `python -m autograder grade`):
formgrader opens it with `python -m autograder formgrader --out {root}`. The gradebook below holds every grade, a
TA's included; `python -m autograder export` reads it."""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = {root!r}
c.CourseDirectory.db_url = {db_url!r}
# formgrader's "Generate Feedback" makes students' pages from the autograded notebooks, which hold the hidden
# tests: take them out, and every output (a traceback can quote a hidden line). `export` writes the grader's own.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearOutput",  # nbgrader's own: enabled here only (nbconvert's would be everywhere)
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
# Every page nbgrader renders from this folder (formgrader's grading form, its feedback) sanitizes the HTML of
# Markdown cells and outputs: the notebooks are inert already (outputs/inert.py); this is the second wall.
c.HTMLExporter.sanitize_html = True
'''
# `jupyter nbconvert` run in this folder reads this file: an export of a student's notebook sanitizes its HTML too.
NBCONVERT_CONFIG = "jupyter_nbconvert_config.py"
_NBCONVERT_TEXT = '''"""Written by `python -m autograder grade`: the notebooks here are students'; an HTML export
sanitizes them."""

c = get_config()  # noqa: F821 - provided by traitlets when nbconvert loads this file

c.HTMLExporter.sanitize_html = True
'''


def prepare(out: Path, course: Path, db_url: str) -> None:
    """Write the folder's nbgrader configuration and the course's source (from the generated ``course``)."""
    out.mkdir(parents=True, exist_ok=True)
    _write(out / CONFIG, _CONFIG_TEXT.format(course_id=COURSE_ID, root=str(out), db_url=db_url))
    _write(out / NBCONVERT_CONFIG, _NBCONVERT_TEXT)
    shutil.copytree(source_dir(course), source_dir(out), dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*NOT_COURSE_FILES))


def open_folder(out: Path, course: Path, db_url: str) -> None:
    """A grading folder ready for results: the gradebook (with the assignment) and the course files."""
    gradebook.prepare(db_url, course)
    prepare(out, course, db_url)


def file_result(out: Path, db_url: str, store: ResultStore, result: SubmissionResult,
                previous: SubmissionResult | None = None) -> None:
    """One finished result into the folder, in the order that makes it exactly once (batch.py): the notebooks
    formgrader shows (before the grades point to them), the gradebook (keeping a person's grades: ``previous``
    decides whether they still apply), then the saved result."""
    keep(out, result)
    gradebook.record(db_url, result, previous)
    store.save(result)


def db_url(out: Path) -> str:
    """The gradebook a grading folder uses (from its nbgrader configuration)."""
    if not (out / CONFIG).is_file():
        raise FileNotFoundError(f"{out} is not a grading folder (no {CONFIG}): grade into it first with "
                                f"`python -m autograder grade SUBMISSIONS --out {out}`")
    return PyFileConfigLoader(CONFIG, path=str(out)).load_config().CourseDirectory.db_url


def notebook_path(out: Path, kind: str, student_id: str, name: str) -> Path:
    return out / kind / student_id / ASSIGNMENT / name


def keep(out: Path, result: SubmissionResult) -> None:
    """Write the notebooks the result brought (and forget them: the result store keeps only grades)."""
    for relative, text in result.notebooks.items():
        kind, name = relative.split("/")
        if kind in KINDS and name.endswith(".ipynb") and "/" not in name:
            _write(notebook_path(out, kind, result.student_id, name), text)
    result.notebooks = {}


def _write(path: Path, text: str) -> None:
    """Whole or not at all: formgrader may be reading the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
