"""The course as files: where it lives, what the assignment is called, and the nbgrader course directories made
from it (a copy for the release, a bundle for cluster workers, the generated course every submission is graded
in, cached once per course version and machine).

Everything here is about the course's files; what its graded cells are worth is in ``cells.py``.
"""

from __future__ import annotations

import fnmatch
import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: an nbgrader course directory
ASSIGNMENT = "ps3"
NOTEBOOKS = ("problem5", "problem6", "problem7")
NOT_COURSE_FILES = ("__pycache__", "*.pyc", ".ipynb_checkpoints")  # left out whenever the course is copied
# Generated course directories (with the hidden tests), one per course version: hidden from the kernels.
COURSE_CACHE = Path.home() / ".cache" / "smdl-ps3" / "courses"
FIXED_MTIME = 1_577_836_800  # 2020-01-01: every file of a bundle gets this time, so equal courses give equal bytes
ZIP_TIME = (2020, 1, 1, 0, 0, 0)  # the same time, as a zip entry's
# The students' zip shows its files' age in JupyterLab's file browser ("6y ago" for 2020): their time is the problem
# set's release instead, fixed so that the same release gives the same bytes. A new term's release sets its own.
RELEASE_TIME = (2026, 11, 30, 9, 0, 0)


def source_dir(root: Path = ROOT) -> Path:
    return root / "source" / ASSIGNMENT


def release_dir(root: Path = ROOT) -> Path:
    return root / "release" / ASSIGNMENT


def _with_tools(path: str) -> str:
    """``path`` (a PATH value) with this interpreter's bin folder first: nbgrader runs ``alembic`` by name, and the
    virtual environment need not be activated."""
    tools = str(Path(sys.executable).parent)
    return path if path.split(os.pathsep)[0] == tools else os.pathsep.join([tools, path])


def tool_environment() -> dict:
    """This environment, for nbgrader and the other programs the grader starts (see _with_tools)."""
    return {**os.environ, "PATH": _with_tools(os.environ.get("PATH", ""))}


def open_gradebook(db_url: str):
    """nbgrader's Gradebook at ``db_url`` (a context manager). It runs the ``alembic`` command by name to check its
    schema, so this interpreter's bin folder is put on this process's PATH first (the virtual environment need not
    be activated)."""
    from nbgrader.api import Gradebook

    os.environ["PATH"] = _with_tools(os.environ.get("PATH", ""))
    return Gradebook(db_url)


class NbgraderError(RuntimeError):
    """An nbgrader command failed; the message holds the end of its output."""


def run_nbgrader(course: Path, *args: str, db_url: str | None = None, env: dict | None = None,
                 timeout: float | None = None, preexec_fn=None) -> str:
    """``nbgrader ARGS`` in the course directory ``course`` (its gradebook by default, or ``db_url``); its output.
    The output goes to a file, not a pipe: a process nbgrader started (a kernel) cannot keep this call waiting."""
    db_url = db_url or f"sqlite:///{Path(course).resolve() / 'gradebook.db'}"
    with tempfile.TemporaryFile("w+", errors="replace") as log:
        result = subprocess.run([sys.executable, "-m", "nbgrader", *args, f"--db={db_url}"], cwd=course,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env={**tool_environment(), **(env or {})}, timeout=timeout, preexec_fn=preexec_fn)
        log.seek(0)
        output = log.read()
    if result.returncode != 0:
        raise NbgraderError(f"nbgrader {' '.join(args)} failed:\n{output[-8000:]}")
    return output


def generate_assignment(course: Path, db_url: str | None = None) -> Path:
    """``nbgrader generate_assignment`` in ``course``: the release folder, and the assignment in the gradebook."""
    run_nbgrader(course, "generate_assignment", ASSIGNMENT, "--force", db_url=db_url)
    return release_dir(course)


def copy_course(root: Path, dest: Path) -> Path:
    """``dest`` as a course directory: ``root``'s nbgrader_config.py and source, without NOT_COURSE_FILES."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "nbgrader_config.py", dest)
    shutil.copytree(source_dir(root), source_dir(dest), ignore=shutil.ignore_patterns(*NOT_COURSE_FILES))
    return dest


@dataclass(frozen=True)
class CourseBundle:
    """The course files graders need, as one tar.gz; ``digest`` names the course version."""

    digest: str
    data: bytes

    @classmethod
    def build(cls, root: Path = ROOT) -> "CourseBundle":
        """The same course files always give the same bytes (no times or owners inside), hence the same digest."""
        def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            if any(fnmatch.fnmatch(Path(info.name).name, pattern) for pattern in NOT_COURSE_FILES):
                return None  # returning None for a folder leaves out everything in it
            info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "", ""
            return info

        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
                tarfile.open(fileobj=zipped, mode="w") as tar:
            tar.add(root / "nbgrader_config.py", arcname="nbgrader_config.py", filter=clean)
            tar.add(source_dir(root), arcname=f"source/{ASSIGNMENT}", filter=clean)
        data = buffer.getvalue()
        return cls(hashlib.sha256(data).hexdigest(), data)

    def unpack(self, folder: Path) -> Path:
        """The course root (``folder``), unpacked once; a half-unpacked copy from a killed worker is redone."""
        done = folder / ".unpacked"
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            with tarfile.open(fileobj=io.BytesIO(self.data), mode="r:gz") as tar:
                tar.extractall(folder, filter="data")
            done.touch()
        return folder


def course_files(folder: Path) -> list[Path]:
    """Every file under ``folder`` except NOT_COURSE_FILES, sorted."""
    return sorted(p for p in Path(folder).rglob("*") if p.is_file() and not any(
        fnmatch.fnmatch(part, pattern) for part in p.relative_to(folder).parts for pattern in NOT_COURSE_FILES))


def reproducible_zip(entries: list[tuple[str, bytes, int]], date_time: tuple = ZIP_TIME) -> bytes:
    """(name, data, mode) entries as a zip that depends on nothing else: sorted, one fixed time (``date_time``), no
    owners, stored (the bytes do not depend on the zlib in use), so the same files always give the same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data, mode in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.external_attr = mode << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()


def generated_course(root: Path = ROOT, cache: Path | None = None) -> Path:
    """The course directory with the assignment generated from ``root`` (hidden tests and gradebook included),
    which every submission is graded in a copy of. Generating takes seconds, so it is kept in ``cache`` under the
    course's content digest and nbgrader's version: an unchanged course is generated once per machine (a new
    batch, a grading server's next submission), a changed one (a mended hidden test) gets its own. A cached
    course is never changed or removed (another grader may be copying it); only a whole one appears, by rename."""
    import nbgrader

    cache = cache or COURSE_CACHE
    key = hashlib.sha256(f"{CourseBundle.build(root).digest} nbgrader {nbgrader.__version__}".encode()).hexdigest()
    course = cache / f"{ASSIGNMENT}-{key[:16]}"
    if (course / "gradebook.db").is_file():
        return course
    cache.mkdir(parents=True, exist_ok=True)
    scratch = copy_course(root, Path(tempfile.mkdtemp(prefix="ps3-course-")))
    staged = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache))
    try:
        generate_assignment(scratch)
        shutil.copytree(scratch, staged, dirs_exist_ok=True)
        os.rename(staged, course)  # whole or not at all, also when two graders make it at once
    except OSError:
        if not (course / "gradebook.db").is_file():
            raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(staged, ignore_errors=True)
    return course
