"""Turn what instructors collect into submissions: an nbgrader-style folder or a Moodle "download all" zip.

Every student's files are matched to the assignment's notebooks by name; whatever is odd (missing, extra,
misnamed, duplicate or unreadable files, nested zips) is reported per student instead of failing the batch.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from .course import ASSIGNMENT, NOTEBOOKS
from .text import NAME_LIMIT, NOTE_LIMIT, NOTES_LIMIT, cap, cap_list

MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assign(?:submission|feedback)_[a-z]+_?$")
MAX_UNZIPPED_BYTES = 512 * 2**20  # a zip that unpacks to more than this is refused as a zip bomb
MAX_NOTEBOOK_BYTES = 50 * 2**20  # a notebook larger than this is not read
MAX_NESTED_ZIPS = 20  # zips unpacked per student (a zip may contain itself: a "zip quine" never ends otherwise)
# What a student id never holds, as formgrader writes ids into its pages unescaped (HTML's special characters) and
# people read them in a terminal (control, bidi and invisible characters, undecodable bytes): each becomes "_". The
# folder's own name stays the name people read, made printable wherever it is written (text.py).
UNSAFE_IN_ID = re.compile(r"[<>&\"'`\\\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f"
                          r"\ufeff\ud800-\udfff]")
EXTRA_FILES_NAMED = 5  # extra files named in the one note about them; the rest are counted


@dataclass
class Submission:
    """One student's work, ready to grade."""

    student_id: str  # nbgrader student id (Moodle: the participant number)
    name: str  # full name where known, else the id
    notebooks: dict[str, Path] = field(default_factory=dict)  # assignment notebook name -> readable file
    notes: list[str] = field(default_factory=list)  # what was odd about the files, for the report

    @property
    def digest(self) -> str:
        """Changes whenever a notebook's content, or the set of notebooks, changes."""
        h = hashlib.sha256()
        for name in sorted(self.notebooks):
            h.update(name.encode())
            h.update(self.notebooks[name].read_bytes())
        return h.hexdigest()


def notebook_name(filename: str) -> str | None:
    """Which assignment notebook a file name means: 'problem5.ipynb', 'Problem 5 (1).ipynb', 'ps3_p5.ipynb'..."""
    stem = unicodedata.normalize("NFKC", Path(filename).stem).lower()
    if f"{stem}" in NOTEBOOKS:
        return stem
    match = re.search(r"(?:problem|aufgabe|exercise|p)[\s_\-]*([5-7])(?!\d)", stem)
    return f"problem{match.group(1)}" if match else None


def _readable(path: Path) -> str | None:
    """None if ``path`` is a notebook nbformat can read, else why not."""
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        return f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MB"
    try:
        nbformat.read(path, as_version=4)
    except Exception as exc:  # noqa: BLE001 - any reason a notebook cannot be read is reported, not raised
        return f"not a readable notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
    return None


def safe_extract(archive: Path, destination: Path) -> list[str]:
    """Extract a zip without letting names escape ``destination`` or sizes explode; return problems."""
    problems = []
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if sum(m.file_size for m in members) > MAX_UNZIPPED_BYTES:
            return [f"{archive.name}: unpacks to more than {MAX_UNZIPPED_BYTES / 2**20:g} MB, not extracted"]
        root = destination.resolve()
        for member in members:
            target = (destination / member.filename).resolve()
            if root not in target.parents and target != root:
                problems.append(f"{archive.name}: entry {member.filename!r} points outside the archive, skipped")
                continue
            extracted = zf.extract(member, destination)
            if not member.is_dir():  # the upload's own time, so that "the newest of two uploads" means it
                stamp = time.mktime((*member.date_time, 0, 0, -1))
                os.utime(extracted, (stamp, stamp))
    return problems


def collect(folder: Path, student_id: str, name: str, scratch: Path) -> Submission:
    """Match the files under ``folder`` (nested folders and zips included) to the assignment's notebooks."""
    folder, scratch = Path(folder).resolve(), Path(scratch).resolve()
    submission = Submission(student_id, name)
    candidates: dict[str, list[Path]] = {}
    extra: list[str] = []
    pending, unzipped = [folder], 0
    while pending:
        current = pending.pop()
        for path in sorted(current.rglob("*")):
            if not path.is_file() or "__MACOSX" in path.parts or path.name.startswith("."):
                continue
            relative = path.relative_to(current)
            if path.suffix.lower() == ".zip":
                if unzipped == MAX_NESTED_ZIPS:
                    submission.notes.append(f"more than {MAX_NESTED_ZIPS} nested zips: {relative} ignored")
                    continue
                unzipped += 1
                target = scratch / f"{student_id}-unzipped-{unzipped}-{path.stem}"  # a folder per zip, never reused
                try:
                    submission.notes += safe_extract(path, target)
                except zipfile.BadZipFile:
                    submission.notes.append(f"unreadable zip {relative}, ignored")
                    continue
                if target.is_dir():
                    pending.append(target)
                    submission.notes.append(f"unpacked nested zip {relative}")
                continue
            if path.suffix.lower() != ".ipynb":
                extra.append(str(relative))
                continue
            notebook = notebook_name(path.name)
            if notebook is None:
                submission.notes.append(f"notebook {relative} matches none of {', '.join(NOTEBOOKS)}, ignored")
                continue
            if path.name != f"{notebook}.ipynb":
                submission.notes.append(f"misnamed {relative} taken as {notebook}.ipynb")
            candidates.setdefault(notebook, []).append(path)
    for notebook in NOTEBOOKS:
        files = [p for p in candidates.get(notebook, []) if not _report_unreadable(p, submission)]
        if len(files) > 1:
            files.sort(key=lambda p: p.stat().st_mtime, reverse=True)
            submission.notes.append(f"duplicate {notebook}.ipynb: kept the newest ({files[0].name}), "
                                       f"ignored {', '.join(p.name for p in files[1:])}")
        if files:
            submission.notebooks[notebook] = files[0]
        elif notebook not in candidates:
            submission.notes.append(f"missing {notebook}.ipynb: its cells score 0")
    if extra:
        submission.notes.append(_extra_files_note(extra))
    submission.notes = cap_list(submission.notes, NOTES_LIMIT, NOTE_LIMIT)
    return submission


def _extra_files_note(names: list[str]) -> str:
    if len(names) == 1:
        return f"extra file {names[0]} ignored"
    named = ", ".join(names[:EXTRA_FILES_NAMED])
    more = f" and {len(names) - EXTRA_FILES_NAMED} more" if len(names) > EXTRA_FILES_NAMED else ""
    return cap(f"{len(names)} extra files ignored: {named}{more}", NOTE_LIMIT)


def student_id(folder_name: str) -> str:
    """The student id of a folder in nbgrader's layout: its name, without what is unsafe in an id (UNSAFE_IN_ID)."""
    return UNSAFE_IN_ID.sub("_", unicodedata.normalize("NFC", folder_name))[:NAME_LIMIT] or "student"


def _report_unreadable(path: Path, submission: Submission) -> bool:
    reason = _readable(path)
    if reason:
        submission.notes.append(f"unreadable {path.name}: {reason}; its cells score 0")
    return reason is not None


def ingest(source: Path, scratch: Path) -> list[Submission]:
    """Submissions from a Moodle zip, a folder of Moodle folders, or nbgrader's ``<student>/<assignment>/``
    layout."""
    source, scratch = Path(source).resolve(), Path(scratch).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise ValueError(f"{source} is neither a folder nor a zip file")
        unpacked = scratch / "moodle"
        shutil.rmtree(unpacked, ignore_errors=True)
        problems = safe_extract(source, unpacked)
        if problems:
            raise ValueError("; ".join(problems))
        source = unpacked
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such folder or zip file")
    submissions = []
    for folder in sorted(p for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))):
        moodle = MOODLE_FOLDER.match(unicodedata.normalize("NFC", folder.name))
        if moodle:
            student, name = moodle.group("id"), moodle.group("name")
        else:
            student, name = student_id(folder.name), folder.name
            if (folder / ASSIGNMENT).is_dir():
                folder = folder / ASSIGNMENT  # nbgrader's submitted/<student>/<assignment>/ layout
        submissions.append(collect(folder, student, name, scratch))
    ids = [s.student_id for s in submissions]
    for submission in submissions:
        if ids.count(submission.student_id) > 1:
            submission.notes.append(f"student id {submission.student_id} appears more than once")
    return submissions
