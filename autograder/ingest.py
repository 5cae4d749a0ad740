"""Turn what instructors collect into submissions: an nbgrader-style folder or a Moodle "download all" zip.

Every student's files are matched to the assignment's notebooks by name; whatever is odd (missing, extra,
misnamed, duplicate or unreadable files, nested zips) is reported per student instead of failing the batch.

- **One submission per participant.** Moodle's download holds a folder per participant *and* submission plugin
  (``Name_12345_assignsubmission_file_``, ``..._onlinetext_``, any other plugin): a participant's folders make one
  submission. Two participants whose ids come out the same (``a<b`` and ``a_b`` in nbgrader's layout, a
  participant number given twice) never overwrite each other: the later one gets a distinct id (``a_b-2``) and
  both a note.
- **One student's archive never costs the class.** Zips are unpacked entry by entry, streamed, without path
  escapes; an entry that cannot be unpacked (encrypted, compressed with a method Python lacks such as Deflate64,
  a file where the archive also has a folder of that name, damaged data, a name the disk refuses) is a note of
  that student's. Caps hold per student, all their archives together (the class download included): bytes and
  files unpacked, zips unpacked and how deeply nested; past the byte or file cap the rest of that student's
  archives is skipped with a note. Only a class download that cannot be read at all is an error (DownloadError).
  A student's own zip has only its notebooks and zips written; its other files are only named in the notes.
- **Removable.** Everything unpacked lives in two folders under the ``scratch`` folder ``ingest`` is given
  (``moodle/`` and ``unzipped/``): ``remove_unpacked(scratch)`` removes them once grading no longer reads the
  notebooks, and the next ``ingest`` into the same ``scratch`` starts by removing the previous run's.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import lzma
import os
import re
import shutil
import time
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Sequence

import nbformat

from .course import ASSIGNMENT, NOTEBOOKS
from .text import NAME_LIMIT, NOTE_LIMIT, NOTES_LIMIT, cap, cap_list

# A participant's folder for one submission plugin; plugin names are Moodle's "frankenstyle" (file, onlinetext,
# comments, editpdf, a third party's).
MOODLE_FOLDER = re.compile(r"^(?P<name>.+)_(?P<id>\d+)_assign(?:submission|feedback)_[a-z][a-z0-9_]*$")
# A file of Moodle's download with "Download submissions in folders" unticked: every participant's files at the top,
# each named <full name>_<participant id>_assignsubmission_<plugin>_<the student's file name>.
FLAT_FILE = re.compile(r"^.+_\d+_assignsubmission_[a-z][a-z0-9]*_.+$")
MAX_UNZIPPED_BYTES = 512 * 2**20  # a student's zip whose entries say they unpack to more is refused as a zip bomb
MAX_STUDENT_BYTES = 512 * 2**20  # unpacked per student, all archives together (the class download included)
MAX_STUDENT_FILES = 10_000  # files unpacked per student (a zip of a million empty files fills no disk, but inodes)
MAX_NESTED_ZIPS = 20  # zips unpacked per student (a zip may contain itself: a "zip quine" never ends otherwise)
MAX_ZIP_DEPTH = 5  # zips within zips: an honest student's is two deep (a folder zipped with a zip inside)
MAX_NOTEBOOK_BYTES = 50 * 2**20  # a notebook larger than this is not read
CHUNK = 2**20  # bytes copied at a time: an entry may be gigabytes, memory holds one chunk
# The folders under ``scratch`` that hold what was unpacked: the class download, and each student's zips.
MOODLE, UNZIPPED = "moodle", "unzipped"
# A disk that is full is the machine's trouble, not a student's: it stops ingest rather than zero the class.
MACHINE_TROUBLE = {errno.ENOSPC, errno.EDQUOT}
# What a student id never holds, as formgrader writes ids into its pages unescaped (HTML's special characters) and
# people read them in a terminal (control, bidi and invisible characters, undecodable bytes): each becomes "_". The
# folder's own name stays the name people read, made printable wherever it is written (text.py).
UNSAFE_IN_ID = re.compile(r"[<>&\"'`\\\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f"
                          r"\ufeff\ud800-\udfff]")
EXTRA_FILES_NAMED = 5  # extra files named in the one note about them; the rest are counted
ENCRYPTED_FLAG = 0x1  # general purpose bit 0 of a zip entry (traditional PKWARE and WinZip's AES alike)
# Compression methods Python's zipfile cannot unpack, by their number in the zip format (APPNOTE 4.4.5).
METHODS = {1: "Shrink", 2: "Reduce", 3: "Reduce", 4: "Reduce", 5: "Reduce", 6: "Implode", 9: "Deflate64",
           10: "PKWARE Implode", 18: "IBM TERSE", 19: "IBM LZ77", 93: "Zstandard", 95: "XZ", 98: "PPMd"}

# Why an entry was left out, worded for one entry and for several ("entry 'a' ...", "3 entries ...").
Reason = tuple[str, str]
ESCAPES: Reason = ("points outside the archive", "point outside the archive")
ENCRYPTED: Reason = ("is encrypted (password-protected)", "are encrypted (password-protected)")
CLASHES: Reason = ("is a file where the archive also has a folder of that name",
                   "are files where the archive also has folders of those names")
DAMAGED: Reason = ("is damaged and cannot be unpacked", "are damaged and cannot be unpacked")


class DownloadError(ValueError):
    """The class download as a whole cannot be read (not a folder or zip, unreadable, unsafe, encrypted): nothing is
    graded, and the message says what to do."""


class DownloadNotFound(DownloadError, FileNotFoundError):
    """No folder or zip file at the path given."""


@dataclass
class Submission:
    """One student's work, ready to grade."""

    student_id: str  # nbgrader student id (Moodle: the participant number)
    name: str  # full name where known, else the id
    notebooks: dict[str, Path] = field(default_factory=dict)  # assignment notebook name -> readable file
    notes: list[str] = field(default_factory=list)  # what was odd about the files, for the report

    @property
    def handed_in(self) -> str:
        """When the newest notebook was uploaded (UTC, ISO 8601; a Moodle zip's entries keep their upload times,
        which ingest gives the unpacked files), or "" where no notebook says."""
        times = []
        for path in self.notebooks.values():
            with contextlib.suppress(OSError):
                times.append(path.stat().st_mtime)
        return datetime.fromtimestamp(max(times), timezone.utc).isoformat(timespec="seconds") if times else ""

    @property
    def digest(self) -> str:
        """Changes whenever a notebook's content, or the set of notebooks, changes."""
        h = hashlib.sha256()
        for name in sorted(self.notebooks):
            h.update(name.encode())
            h.update(self.notebooks[name].read_bytes())
        return h.hexdigest()


@dataclass
class Unpacking:
    """One student's unpacking: how much of the per-student caps it used, and what it noted on the way."""

    folder: Path  # this student's zips are unpacked here, a numbered folder each
    bytes: int = 0
    files: int = 0
    archives: int = 0
    stopped: str = ""  # once a byte or file cap is reached: which, and the rest of the archives is skipped
    notes: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)  # files that are not notebooks (named, never read)

    def charge(self, size: int, what: str) -> None:
        """Count one more file of ``size`` bytes (``what``: archive and entry), or stop at a cap (_CapReached)."""
        if self.files + 1 > MAX_STUDENT_FILES:
            self._stop(f"{MAX_STUDENT_FILES} files", what)
        if self.bytes + size > MAX_STUDENT_BYTES:
            self._stop(f"{MAX_STUDENT_BYTES / 2**20:g} MB", what)
        self.files += 1
        self.bytes += size

    def _stop(self, limit: str, what: str) -> None:
        self.stopped = f"the limit of {limit} unpacked per student was reached"
        self.notes.append(f"{what} not unpacked: {self.stopped}; the rest of this student's archives was skipped")
        raise _CapReached


class _CapReached(Exception):
    """A student's byte or file cap is reached: nothing more of theirs is unpacked (the note is written)."""


class _Skipped(Exception):
    """One archive entry is left out, for ``reason``."""

    def __init__(self, reason: Reason):
        super().__init__(reason[0])
        self.reason = reason


@dataclass
class _Participant:
    student_id: str
    name: str
    folders: list[Path]
    unpacking: Unpacking


# ---- matching files to notebooks -------------------------------------------------------------------------------


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


def collect(folders: Path | Sequence[Path], student_id: str, name: str, scratch: Path,
            unpacking: Unpacking | None = None) -> Submission:
    """Match the files under ``folders`` (one student's: nested folders and zips included) to the assignment's
    notebooks. Zips are unpacked under ``scratch``; ``unpacking`` carries what ``ingest`` already unpacked and
    noted for this student (a fresh one otherwise)."""
    folders = [folders] if isinstance(folders, (str, os.PathLike)) else list(folders)
    if unpacking is None:
        unpacking = Unpacking(Path(scratch).resolve() / UNZIPPED / _scratch_name(student_id))
        shutil.rmtree(unpacking.folder, ignore_errors=True)  # a previous collect's copies never mix in
    candidates = _walk([Path(folder).resolve() for folder in folders], unpacking)
    submission = Submission(student_id, name, notes=list(unpacking.notes))
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
    if unpacking.extras:
        submission.notes.append(_extra_files_note(unpacking.extras))
    submission.notes = cap_list(submission.notes, NOTES_LIMIT, NOTE_LIMIT)
    return submission


def _walk(folders: list[Path], unpacking: Unpacking) -> dict[str, list[Path]]:
    """Notebook name -> the files that may be it, from ``folders`` and the zips in them (unpacked as found)."""
    candidates: dict[str, list[Path]] = {}
    pending = [(folder, 0) for folder in reversed(folders)]  # (folder, how many zips deep), taken from the end
    while pending:
        current, depth = pending.pop()
        for path in sorted(current.rglob("*")):
            relative = path.relative_to(current)
            if not path.is_file() or _ignored(relative.parts):
                continue
            if path.suffix.lower() == ".zip":
                target = _unpack_nested(path, str(relative), depth + 1, unpacking)
                if target:
                    pending.append((target, depth + 1))
            elif path.suffix.lower() == ".ipynb":
                _add_candidate(path, relative, candidates, unpacking.notes)
            else:
                unpacking.extras.append(str(relative))
    return candidates


def _add_candidate(path: Path, relative: Path, candidates: dict[str, list[Path]], notes: list[str]) -> None:
    notebook = notebook_name(path.name)
    if notebook is None:
        notes.append(f"notebook {relative} matches none of {', '.join(NOTEBOOKS)}, ignored")
        return
    if path.name != f"{notebook}.ipynb":
        notes.append(f"misnamed {relative} taken as {notebook}.ipynb")
    candidates.setdefault(notebook, []).append(path)


def _ignored(parts: Sequence[str]) -> bool:
    """macOS's resource forks and hidden files: never a student's work, never noted."""
    return not parts or "__MACOSX" in parts or parts[-1].startswith(".")


def _extra_files_note(names: list[str]) -> str:
    if len(names) == 1:
        return f"extra file {names[0]} ignored"
    return cap(f"{len(names)} extra files ignored: {_some(names)}", NOTE_LIMIT)


def _some(names: list[str]) -> str:
    """The first few of ``names`` and how many more."""
    more = f" and {len(names) - EXTRA_FILES_NAMED} more" if len(names) > EXTRA_FILES_NAMED else ""
    return ", ".join(names[:EXTRA_FILES_NAMED]) + more


def student_id(folder_name: str) -> str:
    """The student id of a folder in nbgrader's layout: its name, without what is unsafe in an id (UNSAFE_IN_ID)."""
    return UNSAFE_IN_ID.sub("_", unicodedata.normalize("NFC", folder_name))[:NAME_LIMIT] or "student"


def _report_unreadable(path: Path, submission: Submission) -> bool:
    reason = _readable(path)
    if reason:
        submission.notes.append(f"unreadable {path.name}: {reason}; its cells score 0")
    return reason is not None


# ---- a student's own zips --------------------------------------------------------------------------------------


def _unpack_nested(archive: Path, label: str, depth: int, unpacking: Unpacking) -> Path | None:
    """Unpack a student's zip (``label``: its name in their files) into a folder of its own; None, with a note,
    when nothing of it is to be read."""
    refusal = _refusal(label, depth, unpacking)
    if refusal:
        unpacking.notes.append(refusal)
        return None
    unpacking.archives += 1
    target = unpacking.folder / str(unpacking.archives)
    try:
        with zipfile.ZipFile(archive) as zf:
            read = _unpack_entries(zf, label, target, unpacking)
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with a student's zip is their note, not the batch's
        if _machine_trouble(exc):
            raise
        unpacking.notes.append(f"unreadable zip {label} ({_plainly(exc)}), ignored")
        return None
    if read:
        unpacking.notes.append(f"unpacked nested zip {label}")
    return target if read else None


def _refusal(label: str, depth: int, unpacking: Unpacking) -> str:
    if unpacking.stopped:
        return f"{label} not unpacked: {unpacking.stopped}"
    if unpacking.archives == MAX_NESTED_ZIPS:
        return f"more than {MAX_NESTED_ZIPS} nested zips: {label} ignored"
    if depth > MAX_ZIP_DEPTH:
        return f"{label} ignored: zips are unpacked at most {MAX_ZIP_DEPTH} levels deep"
    return ""


def _unpack_entries(zf: zipfile.ZipFile, label: str, target: Path, unpacking: Unpacking) -> bool:
    """Write the notebooks and zips of a student's zip under ``target``, name its other files; True if any entry
    was taken."""
    members = [m for m in zf.infolist() if not m.is_dir()]
    if sum(m.file_size for m in members if _written(m.filename)) > MAX_UNZIPPED_BYTES:
        unpacking.notes.append(f"{label}: unpacks to more than {MAX_UNZIPPED_BYTES / 2**20:g} MB, not extracted")
        return False
    target.mkdir(parents=True, exist_ok=True)
    clashes, skipped, taken = _clashing_files(zf.infolist()), {}, False
    for member in members:
        parts = _parts(member.filename)
        try:
            if parts is None:
                raise _Skipped(ESCAPES)
            if _ignored(parts):
                continue
            if parts in clashes:
                raise _Skipped(CLASHES)
            if _written(member.filename):
                _unpack_entry(zf, member, target.joinpath(*parts), unpacking, f"{label}: {member.filename}")
            else:
                unpacking.extras.append("/".join(parts))
            taken = True
        except _Skipped as skip:
            skipped.setdefault(skip.reason, []).append(member.filename)
        except _CapReached:
            break
    unpacking.notes.extend(_skipped_notes(label, skipped))
    return taken


def _written(name: str) -> bool:
    """Whether an entry of a student's zip is written out: only what is read again (notebooks, zips)."""
    return name.lower().endswith((".ipynb", ".zip"))


# ---- one entry -------------------------------------------------------------------------------------------------


def _unpack_entry(zf: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, unpacking: Unpacking,
                  what: str) -> None:
    """Stream one entry to ``target``, charged to the student's caps; _Skipped says why it could not be."""
    if unpacking.stopped:
        raise _CapReached
    try:
        with _open_entry(zf, member) as source:
            unpacking.charge(member.file_size, what)
            _write(source, target)
    except (_Skipped, _CapReached):
        raise
    except Exception as exc:  # noqa: BLE001 - the last guard: a student's entry never ends the batch
        if _machine_trouble(exc):
            raise
        reason = f"could not be unpacked ({_plainly(exc)})"
        raise _Skipped((reason, reason)) from exc
    stamp = time.mktime((*member.date_time, 0, 0, -1))  # the upload's own time: "the newest of two uploads"
    os.utime(target, (stamp, stamp))


def _open_entry(zf: zipfile.ZipFile, member: zipfile.ZipInfo) -> IO[bytes]:
    """The entry as a stream, or _Skipped: encrypted, a method zipfile lacks (Deflate64), a contradicting header."""
    if member.flag_bits & ENCRYPTED_FLAG:
        raise _Skipped(ENCRYPTED)
    try:
        return zf.open(member)
    except NotImplementedError as exc:  # a compression method (or strong encryption) zipfile lacks
        method = METHODS.get(member.compress_type, f"compression method {member.compress_type}")
        raise _Skipped((f"is compressed with {method}, which cannot be unpacked here",
                        f"are compressed with {method}, which cannot be unpacked here")) from exc
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:  # a header that contradicts the directory
        raise _Skipped(DAMAGED) from exc


def _write(source: IO[bytes], target: Path) -> None:
    """``source`` written to ``target``; a partial file never stays, what the disk refuses is _Skipped."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as sink:
            _copy(source, sink)
    except _Skipped:
        _discard(target)
        raise
    except OSError as exc:
        _discard(target)
        if _machine_trouble(exc):
            raise
        reason = f"cannot be written here ({exc.strerror or exc})"  # a name too long, a file where a folder goes
        raise _Skipped((reason, reason)) from exc


def _copy(source: IO[bytes], sink: IO[bytes]) -> None:
    """A chunk at a time: memory holds one chunk of an entry of any size."""
    while True:
        try:
            chunk = source.read(CHUNK)
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError, ValueError) as exc:
            raise _Skipped(DAMAGED) from exc  # a bad CRC, a broken stream (bz2 says OSError)
        if not chunk:
            return
        sink.write(chunk)


def _discard(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


def _parts(name: str) -> tuple[str, ...] | None:
    """An entry's path as its parts, or None if it could point outside the folder it is unpacked into."""
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    return None if name.startswith("/") or ".." in parts else parts


def _clashing_files(members: list[zipfile.ZipInfo]) -> set[tuple[str, ...]]:
    """Entries that are files where another entry needs a folder of that name (``a`` beside ``a/b.ipynb``)."""
    paths = [(member, parts) for member in members if (parts := _parts(member.filename))]
    folders = {parts[:end] for _, parts in paths for end in range(1, len(parts))}
    folders |= {parts for member, parts in paths if member.is_dir()}
    return {parts for member, parts in paths if not member.is_dir() and parts in folders}


def _skipped_notes(archive: str, skipped: dict[Reason, list[str]]) -> list[str]:
    """One note per reason: "abgabe.zip: entry 'a' is ..., skipped" or "abgabe.zip: 3 entries are ...: ..."."""
    notes = []
    for (one, many), names in skipped.items():
        if len(names) == 1:
            notes.append(f"{archive}: entry {names[0]!r} {one}, skipped")
        else:
            notes.append(cap(f"{archive}: {len(names)} entries {many}, skipped: "
                             f"{_some([repr(name) for name in names])}", NOTE_LIMIT))
    return notes


def _plainly(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:120] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _machine_trouble(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in MACHINE_TROUBLE


# ---- the class -------------------------------------------------------------------------------------------------


def ingest(source: Path, scratch: Path) -> list[Submission]:
    """Submissions from a Moodle zip, a folder of Moodle folders, or nbgrader's ``<student>/<assignment>/``
    layout. What is unpacked lives under ``scratch`` until ``remove_unpacked(scratch)``."""
    source, scratch = Path(source).resolve(), Path(scratch).resolve()
    remove_unpacked(scratch)  # the previous run's copies: stale files never mix into this run's
    scratch.mkdir(parents=True, exist_ok=True)
    unpackings: dict[tuple, Unpacking] = {}
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise DownloadError(f"{source} is neither a folder nor a zip file")
        folders = _unpack_class_zip(source, scratch, unpackings)
    elif source.is_dir():
        folders = [(p.name, p) for p in source.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
        _refuse_flat(source, [p.name for p in source.iterdir() if not p.is_dir()], bool(folders))
    else:
        raise DownloadNotFound(f"{source}: no such folder or zip file")
    participants = _participants(folders, scratch, unpackings)
    _give_distinct_ids(participants)
    return [collect(p.folders, p.student_id, p.name, scratch, p.unpacking) for p in participants]


def remove_unpacked(scratch: Path) -> None:
    """Remove everything ``ingest`` (or ``collect``) unpacked under ``scratch``: the class download and every
    student's zips. The submissions' notebooks may live there: call it once grading no longer reads them."""
    for name in (MOODLE, UNZIPPED):
        folder = Path(scratch) / name
        if folder.exists():
            shutil.rmtree(folder)


def _participant(folder_name: str) -> tuple[tuple, str, str]:
    """(key, student id, name) of a top-level folder: a participant's Moodle folders share one key."""
    moodle = MOODLE_FOLDER.match(unicodedata.normalize("NFC", folder_name))
    if moodle:
        return ("moodle", moodle.group("id"), moodle.group("name")), moodle.group("id"), moodle.group("name")
    return ("folder", folder_name), student_id(folder_name), folder_name


def _new_unpacking(scratch: Path, key: tuple) -> Unpacking:
    return Unpacking(scratch / UNZIPPED / _scratch_name(" ".join(key[1:]), repr(key)))


def _participants(folders: list[tuple[str, Path]], scratch: Path,
                  unpackings: dict[tuple, Unpacking]) -> list[_Participant]:
    """The top-level folders grouped by participant, in the order of their names."""
    participants: dict[tuple, _Participant] = {}
    for folder_name, path in sorted(folders, key=lambda item: item[0]):
        key, student, name = _participant(folder_name)
        if key[0] == "folder" and (path / ASSIGNMENT).is_dir():
            path = path / ASSIGNMENT  # nbgrader's submitted/<student>/<assignment>/ layout
        unpacking = unpackings.get(key) or _new_unpacking(scratch, key)
        participants.setdefault(key, _Participant(student, name, [], unpacking)).folders.append(path)
    return list(participants.values())


def _give_distinct_ids(participants: list[_Participant]) -> None:
    """A later participant whose id is taken gets the id with "-2" (or "-3", ...); both are told."""
    taken: dict[str, _Participant] = {}
    for participant in participants:
        given = participant.student_id
        if given in taken:
            participant.student_id = _free_id(given, taken)
            first = taken[given]
            first.unpacking.notes.append(f"student id {given} also came from {participant.name!r}, "
                                         f"who is graded as {participant.student_id}")
            participant.unpacking.notes.append(f"student id {given} already came from {first.name!r}: "
                                               f"graded as {participant.student_id}")
        taken[participant.student_id] = participant


def _free_id(given: str, taken: dict) -> str:
    number = 2
    while f"{given[:NAME_LIMIT - len(str(number)) - 1]}-{number}" in taken:
        number += 1
    return f"{given[:NAME_LIMIT - len(str(number)) - 1]}-{number}"


def _scratch_name(readable: str, unique: str | None = None) -> str:
    """A folder name for student text: short plain ASCII, distinct for distinct ``unique`` (default: readable)."""
    digest = hashlib.sha256((unique or readable).encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{re.sub(r'[^A-Za-z0-9_-]+', '_', readable)[:40]}-{digest}"


# ---- the class download ----------------------------------------------------------------------------------------


def _unpack_class_zip(source: Path, scratch: Path, unpackings: dict[tuple, Unpacking]) -> list[tuple[str, Path]]:
    """Unpack Moodle's download entry by entry, each participant's entries charged to their own caps (filled in
    ``unpackings``); (top-level folder name, where it was unpacked) for each folder."""
    try:
        zf = zipfile.ZipFile(source)
    except Exception as exc:  # noqa: BLE001 - any reason the download cannot be read is the instructor's error
        raise DownloadError(f"{source} cannot be read as a zip file ({_plainly(exc)})") from exc
    with zf:
        members = zf.infolist()
        _check_class_zip(source, members)
        folders: dict[str, Path] = {}
        skipped: dict[tuple, dict[Reason, list[str]]] = {}
        clashes = _clashing_files(members)
        for member in members:
            parts = _parts(member.filename)
            if member.is_dir() or len(parts) < 2 or _ignored(parts) or parts[0].startswith("."):
                continue  # files outside a participant's folder belong to no one
            key = _participant(parts[0])[0]
            unpacking = unpackings.setdefault(key, _new_unpacking(scratch, key))
            folder = folders.setdefault(parts[0], scratch / MOODLE / _scratch_name(parts[0]))
            relative = "/".join(parts[1:])
            try:
                if parts in clashes:
                    raise _Skipped(CLASHES)
                _unpack_entry(zf, member, folder.joinpath(*parts[1:]), unpacking, f"{source.name}: {relative}")
            except _Skipped as skip:
                skipped.setdefault(key, {}).setdefault(skip.reason, []).append(relative)
            except _CapReached:
                continue
    for key, reasons in skipped.items():
        unpackings[key].notes.extend(_skipped_notes(source.name, reasons))
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)  # a participant whose every entry was skipped still exists
    return list(folders.items())


def _refuse_flat(source: Path, top_level_files: list[str], has_folders: bool) -> None:
    """Moodle's download without a folder per participant loses who handed in what once a student's file is
    renamed, and a zip a student uploaded arrives as one more flat file: refused with the fix, rather than grading
    nobody."""
    flat = [name for name in top_level_files if FLAT_FILE.match(unicodedata.normalize("NFC", name))]
    if flat and not has_folders:
        raise DownloadError(f"{source.name} is Moodle's download without folders ({len(flat)} files such as "
                            f"{cap(flat[0], NAME_LIMIT)!r}): in the assignment's \"Download all submissions\", tick "
                            f"\"Download submissions in folders\" and download it again")


def _check_class_zip(source: Path, members: list[zipfile.ZipInfo]) -> None:
    """A download that is not Moodle's (an entry escaping it) or that is password-protected is refused whole."""
    escaping = [member.filename for member in members if _parts(member.filename) is None]
    if escaping:
        raise DownloadError(f"{source.name}: entry {escaping[0]!r} points outside the archive; nothing unpacked")
    files = [member for member in members if not member.is_dir()]
    parts = [p for member in files if (p := _parts(member.filename)) and not _ignored(p)]
    _refuse_flat(source, [p[0] for p in parts if len(p) == 1], any(len(p) > 1 for p in parts))
    if files and all(member.flag_bits & ENCRYPTED_FLAG for member in files):
        raise DownloadError(f"{source.name} is encrypted (password-protected): unpack it with its password, then "
                         "grade the folder")
