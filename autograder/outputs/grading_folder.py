"""The grading folder (``--out``) as an nbgrader course directory that formgrader opens: its configuration (which
gradebook), the course's source (hidden tests included: the folder is the instructor's, and no kernel sees it),
and for each graded student the notebooks as submitted and as autograded, where nbgrader keeps them.

Faults a semester brings never cost a grade here: one command at a time writes a folder (``lock``); what a killed
run left in its scratch space (``work/``: course copies with the hidden tests) is removed by the next; and a
result finished while the gradebook cannot be reached is saved all the same and recorded by the next run or
export (``record_pending``)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from nbgrader.api import InvalidEntry
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from traitlets.config.loader import PyFileConfigLoader

from ..course import ASSIGNMENT, NOT_COURSE_FILES, source_dir
from ..results import ResultStore, SubmissionResult
from . import gradebook

CONFIG = "nbgrader_config.py"
GRADEBOOK = "gradebook.db"  # the folder's own sqlite gradebook, where no --db names another
COURSE_ID = "smdl-ps3"
WORK = "work"  # scratch space of a run (unpacked uploads, course copies with the hidden tests): never kept
LOCK = ".grading.lock"  # held by the command writing the folder (flock: released when that process ends, however)
PENDING = "gradebook-pending.json"  # student id -> the previous result, for results the gradebook has not got yet
GRADEBOOK_ERRORS = (SQLAlchemyError, InvalidEntry, OSError)  # the database down, refusing, or its file unreachable
# formgrader's group: started by root, formgrader runs as this id (isolation/formgrader_view.py), which no kernel
# has (kernels run as 200000 + a pid, without groups). The folder's files are root's, readable by this group only.
READER_GID = 199_999
KINDS = ("submitted", "autograded")  # the folders of nbgrader's course layout that a result brings notebooks for
_CONFIG_TEXT = '''"""This grading folder is an nbgrader course directory (written by `python -m autograder grade`):
formgrader opens it with `python -m autograder formgrader --out <this folder>`. The gradebook below holds every
grade, a TA's included; `python -m autograder export` reads it."""

import os

# The folder itself, wherever it is now: a folder moved or copied (to a TA's machine) uses its own gradebook.
HERE = os.path.dirname(os.path.abspath(__file__))

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = HERE
c.CourseDirectory.db_url = {db_url}
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
    local = {f"sqlite:///{out / GRADEBOOK}", f"sqlite:///{(out / GRADEBOOK).resolve()}"}
    url = f'"sqlite:///" + os.path.join(HERE, {GRADEBOOK!r})' if db_url in local else repr(db_url)
    _write(out / CONFIG, _CONFIG_TEXT.format(course_id=COURSE_ID, db_url=url))
    _write(out / NBCONVERT_CONFIG, _NBCONVERT_TEXT)
    shutil.copytree(source_dir(course), source_dir(out), dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*NOT_COURSE_FILES))


def open_folder(out: Path, course: Path, db_url: str) -> None:
    """A grading folder ready for results: the gradebook (with the assignment) and the course files. Raises
    GradebookUnavailable where the gradebook cannot be reached."""
    try:
        gradebook.prepare(db_url, course)
    except GRADEBOOK_ERRORS as exc:
        raise unavailable(db_url, exc, pending_count(out)) from None
    prepare(out, course, db_url)


class FolderBusy(RuntimeError):
    """Another command is writing this grading folder."""


class GradebookUnavailable(RuntimeError):
    """The gradebook cannot be reached (the message names it, without a password, and says what to do)."""


@contextlib.contextmanager
def lock(out: Path, command: str = "grade") -> Iterator[None]:
    """Hold the folder for one command: a second `grade` (or `export`) on it is refused at once with FolderBusy
    instead of grading every student twice. The lock ends with the process that holds it, even killed with -9."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise FolderBusy(f"{out} is in use by {holder}: wait for it to finish (or stop it), then run this "
                             "command again") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"`python -m autograder {command}` (pid {os.getpid()})")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)


def clear_work(out: Path) -> None:
    """Remove a run's scratch space: the course copies (hidden tests), the unpacked uploads. Called under the lock,
    at the start of a run (what a killed one left) and at its end."""
    shutil.rmtree(out / WORK, ignore_errors=True)


def shown_url(db_url: str) -> str:
    """The gradebook's address as people may read it: without its password."""
    try:
        return make_url(db_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an address SQLAlchemy cannot parse says no more than that
        return "(the gradebook address given)"


def file_result(out: Path, db_url: str, store: ResultStore, result: SubmissionResult,
                previous: SubmissionResult | None = None) -> bool:
    """One finished result into the folder, in the order that makes it exactly once (batch.py): the notebooks
    formgrader shows (before the grades point to them), the gradebook (keeping a person's grades: ``previous``
    decides whether they still apply), then the saved result. Where the gradebook cannot be reached, the result is
    saved all the same and marked pending (record_pending writes it later): False."""
    keep(out, result)
    try:
        gradebook.record(db_url, result, previous)
    except GRADEBOOK_ERRORS:
        _mark_pending(out, result.student_id, previous)
        store.save(result)
        return False
    store.save(result)
    return True


def record_pending(out: Path, db_url: str, store: ResultStore) -> None:
    """Write into the gradebook the saved results it could not take before. Raises GradebookUnavailable (keeping
    what is still pending) where it cannot be reached."""
    pending = _pending(out)
    for student_id, previous in list(pending.items()):
        result = store.load(student_id)
        try:
            if result is not None:
                gradebook.record(db_url, result, SubmissionResult.from_json(previous) if previous else None)
        except GRADEBOOK_ERRORS as exc:
            raise unavailable(db_url, exc, len(pending)) from None
        del pending[student_id]
        _write(out / PENDING, json.dumps(pending))
    (out / PENDING).unlink(missing_ok=True)


def pending_count(out: Path) -> int:
    return len(_pending(out))


def unavailable(db_url: str, exc: BaseException, pending: int = 0) -> GradebookUnavailable:
    reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    saved = (f"; {pending} graded result(s) are saved in results/ and wait for it: run the same command again "
             "once it is back (nothing is graded twice)") if pending else ""
    return GradebookUnavailable(f"the gradebook {shown_url(db_url)} cannot be reached ({type(exc).__name__}: "
                                f"{reason}){saved}")


def _pending(out: Path) -> dict:
    try:
        found = json.loads((out / PENDING).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _mark_pending(out: Path, student_id: str, previous: SubmissionResult | None) -> None:
    pending = _pending(out)
    # The earliest previous result stays: it is the one the gradebook's hand grades were given against.
    pending.setdefault(student_id, previous.to_json() if previous else None)
    _write(out / PENDING, json.dumps(pending))


def db_url(out: Path) -> str:
    """The gradebook a grading folder uses (from its nbgrader configuration)."""
    if not (out / CONFIG).is_file():
        raise FileNotFoundError(f"{out} is not a grading folder (no {CONFIG}): grade into it first with "
                                f"`python -m autograder grade SUBMISSIONS --out {out}`")
    return PyFileConfigLoader(CONFIG, path=str(out)).load_config().CourseDirectory.db_url


def notebook_path(out: Path, kind: str, student_id: str, name: str) -> Path:
    return out / kind / student_id / ASSIGNMENT / name


def keep(out: Path, result: SubmissionResult) -> None:
    """Write the notebooks the result brought (and forget them: the result store keeps only grades), and when the
    submission was handed in: formgrader counts a submission as autograded (its name a link to grade) only while
    the gradebook's timestamp equals submitted/<id>/<assignment>/timestamp.txt."""
    for relative, text in result.notebooks.items():
        kind, name = relative.split("/")
        if kind in KINDS and name.endswith(".ipynb") and "/" not in name:
            _write(notebook_path(out, kind, result.student_id, name), text)
    result.notebooks = {}
    if result.handed_in:
        _write(notebook_path(out, "submitted", result.student_id, "timestamp.txt"), result.handed_in)


def _write(path: Path, text: str) -> None:
    """Whole or not at all: formgrader may be reading the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    if os.geteuid() == 0:  # a formgrader running now reads it too (mkstemp's 0600 is root's alone)
        os.fchown(fd, -1, READER_GID)
        os.fchmod(fd, 0o640)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
