"""Ingesting what instructors collect: a Moodle "Download all submissions" zip and nbgrader's folder layout.

Checks which student each submission belongs to (a Moodle participant's plugin folders make one; ids that come out
the same stay distinct), which notebooks were taken (and that they are the uploaded bytes), what is reported about
odd files, the guards against hostile zips (entries that cannot be unpacked, caps per student: each a note of that
student's, never the class's end), removing what was unpacked, and the submission digest. The zips Python cannot
write (encrypted, Deflate64) are built by patching the headers of stored ones.
"""

import io
import struct
import unicodedata
import zipfile
from pathlib import Path

import pytest
from helpers import fast, gradebook_rows

import autograder.ingest
from autograder.batch import grade_batch
from autograder.course import ASSIGNMENT
from autograder.ingest import DownloadError, collect, ingest, notebook_name, remove_unpacked

REFERENCE = Path(__file__).parent / "examples" / "reference" / ASSIGNMENT
PROBLEM6 = (REFERENCE / "problem6.ipynb").read_bytes()
PROBLEM7 = (REFERENCE / "problem7.ipynb").read_bytes()
MISSING_PROBLEM5 = "missing problem5.ipynb: its cells score 0"

ZOE = "Zoë Müller-Lüdenscheidt_1001_assignsubmission_file_"
JAN = "Jan de Vries_1002_assignsubmission_file_"
ANA = "Ana Pérez_1003_assignsubmission_file_"


def zip_bytes(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def moodle_zip(tmp_path) -> Path:
    """What Moodle's "Download all submissions" gives for three students with awkward uploads."""
    abgabe = zip_bytes({"ps3/problem6.ipynb": PROBLEM6, "ps3/problem7.ipynb": PROBLEM7,
                        "../escape.txt": b"written outside the archive"})
    path = tmp_path / "ps3-submissions.zip"
    path.write_bytes(zip_bytes({
        f"{ZOE}/problem6.ipynb": PROBLEM6,
        f"{ZOE}/problem7.ipynb": PROBLEM7,
        f"{JAN}/abgabe.zip": abgabe,
        f"{ANA}/problem6.ipynb": b"{}",  # an older upload that is not a notebook
        f"{ANA}/Problem 6 (1).ipynb": PROBLEM6,
        f"{ANA}/problem7.ipynb": PROBLEM7,
        f"{ANA}/notes.txt": b"I worked with Jan.",
    }))
    return path


def test_moodle_zip_gives_one_submission_per_student_with_id_and_full_name(moodle_zip, tmp_path):
    submissions = ingest(moodle_zip, tmp_path / "scratch")
    assert {s.student_id: s.name for s in submissions} == {
        "1001": "Zoë Müller-Lüdenscheidt", "1002": "Jan de Vries", "1003": "Ana Pérez"}


def test_moodle_zip_takes_the_uploaded_notebooks(moodle_zip, tmp_path):
    by_id = {s.student_id: s for s in ingest(moodle_zip, tmp_path / "scratch")}
    for student in ("1001", "1002", "1003"):
        notebooks = by_id[student].notebooks
        assert sorted(notebooks) == ["problem6", "problem7"], student
        assert notebooks["problem6"].read_bytes() == PROBLEM6, student
        assert notebooks["problem7"].read_bytes() == PROBLEM7, student
    assert by_id["1003"].notebooks["problem6"].name == "Problem 6 (1).ipynb"  # not the unreadable problem6.ipynb


def test_moodle_zip_reports_what_was_odd_per_student(moodle_zip, tmp_path):
    by_id = {s.student_id: s for s in ingest(moodle_zip, tmp_path / "scratch")}
    assert by_id["1001"].notes == [MISSING_PROBLEM5]
    assert by_id["1002"].notes == ["abgabe.zip: entry '../escape.txt' points outside the archive, skipped",
                                   "unpacked nested zip abgabe.zip", MISSING_PROBLEM5]
    ana = by_id["1003"].notes
    unreadable = [note for note in ana if note.startswith("unreadable problem6.ipynb: not a readable notebook")]
    assert len(unreadable) == 1 and unreadable[0].endswith("; its cells score 0")
    assert [note for note in ana if note not in unreadable] == [
        "misnamed Problem 6 (1).ipynb taken as problem6.ipynb", MISSING_PROBLEM5, "extra file notes.txt ignored"]


def test_zip_entries_escaping_the_archive_are_not_written(moodle_zip, tmp_path):
    ingest(moodle_zip, tmp_path / "scratch")
    assert not list(tmp_path.rglob("escape.txt"))


def test_moodle_zip_with_an_escaping_entry_at_the_top_is_refused(tmp_path):
    archive = tmp_path / "hostile.zip"
    archive.write_bytes(zip_bytes({f"{ZOE}/problem6.ipynb": PROBLEM6, "../../escape.txt": b"x"}))
    with pytest.raises(ValueError, match="points outside the archive"):
        ingest(archive, tmp_path / "scratch")
    assert not list(tmp_path.rglob("escape.txt"))


def test_decomposed_moodle_names_come_out_composed(tmp_path):
    """Zips made on macOS store 'ë' as 'e' plus a combining diaeresis."""
    archive = tmp_path / "mac.zip"
    archive.write_bytes(zip_bytes({f"{unicodedata.normalize('NFD', ZOE)}/problem6.ipynb": PROBLEM6}))
    [submission] = ingest(archive, tmp_path / "scratch")
    assert (submission.student_id, submission.name) == ("1001", "Zoë Müller-Lüdenscheidt")
    assert submission.notebooks["problem6"].read_bytes() == PROBLEM6


def test_nbgrader_layout_uses_folder_names_as_student_ids(tmp_path):
    submitted = tmp_path / "submitted"
    for student, notebooks in {"alice": {"problem6": PROBLEM6, "problem7": PROBLEM7},
                               "bob": {"problem6": b'{"cells": [', "problem7": PROBLEM7}}.items():
        (submitted / student / ASSIGNMENT).mkdir(parents=True)
        for name, data in notebooks.items():
            (submitted / student / ASSIGNMENT / f"{name}.ipynb").write_bytes(data)
    alice, bob = ingest(submitted, tmp_path / "scratch")
    assert (alice.student_id, alice.name, sorted(alice.notebooks)) == ("alice", "alice", ["problem6", "problem7"])
    assert alice.notes == [MISSING_PROBLEM5]
    assert (bob.student_id, sorted(bob.notebooks)) == ("bob", ["problem7"])
    [unreadable] = [note for note in bob.notes if note.startswith("unreadable problem6.ipynb")]
    assert bob.notes == [MISSING_PROBLEM5, unreadable]  # an unreadable notebook is not called missing
    assert bob.notebooks["problem7"] == (submitted / "bob" / "ps3" / "problem7.ipynb").resolve()


def test_a_source_that_is_neither_folder_nor_zip_is_refused(tmp_path):
    text = tmp_path / "grades.txt"
    text.write_text("not a zip")
    with pytest.raises(ValueError, match="neither a folder nor a zip file"):
        ingest(text, tmp_path / "scratch")
    with pytest.raises(FileNotFoundError, match="no such folder or zip file"):
        ingest(tmp_path / "does-not-exist", tmp_path / "scratch")


def test_a_download_without_folders_is_refused_with_the_fix(tmp_path):
    """Moodle's download with "Download submissions in folders" unticked, as a zip and unpacked: refused (not zero
    students and exit 0); the same files in folders are graded."""
    flat = {f"{ZOE}problem6.ipynb": PROBLEM6, f"{ZOE}problem7.ipynb": PROBLEM7, f"{JAN}Problem 6 (1).ipynb": PROBLEM6}
    download = tmp_path / "flat.zip"
    download.write_bytes(zip_bytes(flat))
    with pytest.raises(DownloadError, match='tick "Download submissions in folders"') as refused:
        ingest(download, tmp_path / "scratch")
    assert "3 files such as" in str(refused.value)
    unpacked = tmp_path / "flat"
    unpacked.mkdir()
    for name, data in flat.items():
        (unpacked / name).write_bytes(data)
    with pytest.raises(DownloadError, match="download without folders"):
        ingest(unpacked, tmp_path / "scratch")
    in_folders = tmp_path / "folders.zip"
    in_folders.write_bytes(zip_bytes({f"{ZOE}/problem6.ipynb": PROBLEM6, "README.txt": b"not a student's"}))
    assert [s.student_id for s in ingest(in_folders, tmp_path / "scratch")] == ["1001"]


@pytest.mark.parametrize("filename, notebook", [
    ("problem5.ipynb", "problem5"),
    ("Problem 6 (1).ipynb", "problem6"),
    ("ps3_p7.ipynb", "problem7"),
    ("Aufgabe_5.ipynb", "problem5"),
    ("exercise-6.ipynb", "problem6"),
    ("problem57.ipynb", None),
    ("problem4.ipynb", None),
    ("notes.ipynb", None),
])
def test_notebook_name_is_lenient_but_not_careless(filename, notebook):
    assert notebook_name(filename) == notebook


def test_nested_zip_bomb_is_not_extracted(tmp_path, monkeypatch):
    monkeypatch.setattr(autograder.ingest, "MAX_UNZIPPED_BYTES", 10_000)
    student = tmp_path / "submitted" / "carol"
    student.mkdir(parents=True)
    (student / "abgabe.zip").write_bytes(zip_bytes({"problem6.ipynb": b" " * 100_000}))  # compresses to ~100 bytes
    [carol] = ingest(tmp_path / "submitted", tmp_path / "scratch")
    assert any(n.startswith("abgabe.zip: unpacks to more than 0.00953") and n.endswith("MB, not extracted")
               for n in carol.notes), carol.notes
    assert not any(n.startswith("unpacked nested zip") for n in carol.notes), carol.notes
    assert carol.notebooks == {}
    assert not list((tmp_path / "scratch").rglob("problem6.ipynb"))


def test_a_bomb_in_the_class_zip_costs_only_its_student(tmp_path, monkeypatch):
    """The class download is unpacked under each student's own caps: one student's bomb is that student's note."""
    monkeypatch.setattr(autograder.ingest, "MAX_STUDENT_BYTES", 12_000)
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bytes({f"{ZOE}/problem6.ipynb": b" " * 100_000, f"{JAN}/problem7.ipynb": PROBLEM7}))
    jan, zoe = ingest(archive, tmp_path / "scratch")
    assert zoe.student_id == "1001" and zoe.notebooks == {}
    assert zoe.notes[0] == (f"bomb.zip: problem6.ipynb not unpacked: the limit of {12_000 / 2**20:g} MB unpacked "
                            "per student was reached; the rest of this student's archives was skipped")
    assert jan.notebooks["problem7"].read_bytes() == PROBLEM7
    assert not any("limit" in note for note in jan.notes), jan.notes
    assert not list((tmp_path / "scratch").rglob("problem6.ipynb"))


def test_digest_follows_notebook_content_only(tmp_path):
    folder = tmp_path / "dave"
    folder.mkdir()
    (folder / "problem6.ipynb").write_bytes(PROBLEM6)
    (folder / "problem7.ipynb").write_bytes(PROBLEM7)
    first = collect(folder, "dave", "Dave", tmp_path / "scratch").digest

    (folder / "problem7.ipynb").write_bytes(PROBLEM7)  # same bytes, new modification time
    (folder / "notes.txt").write_text("an extra file is not graded")
    assert collect(folder, "dave", "Dave", tmp_path / "other-scratch").digest == first

    (folder / "problem7.ipynb").write_bytes(PROBLEM7 + b"\n")
    changed = collect(folder, "dave", "Dave", tmp_path / "scratch").digest
    assert changed != first

    (folder / "problem6.ipynb").unlink()
    assert collect(folder, "dave", "Dave", tmp_path / "scratch").digest not in (first, changed)


def test_a_zip_inside_a_zip_of_the_same_name_is_unpacked_once_each(tmp_path):
    inner = zip_bytes({"problem7.ipynb": PROBLEM7})
    student = tmp_path / "submitted" / "dave"
    student.mkdir(parents=True)
    (student / "abgabe.zip").write_bytes(zip_bytes({"abgabe.zip": inner, "problem6.ipynb": PROBLEM6}))
    [dave] = ingest(tmp_path / "submitted", tmp_path / "scratch")
    assert sorted(dave.notebooks) == ["problem6", "problem7"]
    assert sum(n.startswith("unpacked nested zip") for n in dave.notes) == 2


def test_a_zip_that_contains_itself_stops(tmp_path, monkeypatch):
    monkeypatch.setattr(autograder.ingest, "MAX_NESTED_ZIPS", 3)
    archive = zip_bytes({"problem6.ipynb": PROBLEM6})
    for _ in range(5):  # five levels deep, as a zip that contains itself would be
        archive = zip_bytes({"abgabe.zip": archive})
    student = tmp_path / "submitted" / "erin"
    student.mkdir(parents=True)
    (student / "abgabe.zip").write_bytes(archive)
    [erin] = ingest(tmp_path / "submitted", tmp_path / "scratch")
    assert "more than 3 nested zips: abgabe.zip ignored" in erin.notes and erin.notebooks == {}


def test_of_two_uploads_the_newest_by_its_upload_time_is_kept(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(zipfile.ZipInfo(f"{ZOE}/problem7 (1).ipynb", (2024, 5, 2, 10, 0, 0)), PROBLEM7)
        zf.writestr(zipfile.ZipInfo(f"{ZOE}/problem7.ipynb", (2024, 5, 1, 10, 0, 0)), PROBLEM6)  # unpacked last
    (tmp_path / "moodle.zip").write_bytes(buffer.getvalue())
    [zoe] = ingest(tmp_path / "moodle.zip", tmp_path / "scratch")
    assert zoe.notebooks["problem7"].name == "problem7 (1).ipynb", zoe.notes
    assert "duplicate problem7.ipynb: kept the newest (problem7 (1).ipynb), ignored problem7.ipynb" in zoe.notes


def test_a_folder_name_gives_an_id_safe_for_html_and_terminals_and_keeps_its_name(tmp_path):
    hostile = "\u202eann\x1b]0;owned\x07<img src=x onerror=\"x()\">"
    (tmp_path / "submitted" / hostile / "ps3").mkdir(parents=True)
    [submission] = ingest(tmp_path / "submitted", tmp_path / "scratch")
    assert submission.student_id == "_ann_]0;owned__img src=x onerror=_x()__"
    assert submission.name == hostile  # the name people read: made printable where it is written (text.py)


def test_thousands_of_extra_files_make_one_short_note(tmp_path):
    folder = tmp_path / "submitted" / "erin" / "ps3"
    folder.mkdir(parents=True)
    with zipfile.ZipFile(folder / "data.zip", "w") as archive:
        for number in range(30_000):
            archive.writestr(f"data/sample-{number:05d}.txt", "")
    [erin] = ingest(tmp_path / "submitted", tmp_path / "scratch")
    assert len(erin.notes) <= 12 and sum(map(len, erin.notes)) < 2000
    assert "30000 extra files ignored: data/sample-00000.txt" in erin.notes[-1] and "and 29995 more" in erin.notes[-1]


# ---- Moodle's plugin folders and ids given twice ---------------------------------------------------------------

ZOE_ONLINE_TEXT = "Zoë Müller-Lüdenscheidt_1001_assignsubmission_onlinetext_"
ZOE_COMMENTS = "Zoë Müller-Lüdenscheidt_1001_assignsubmission_comments_"
ONLINE_TEXT = b"<p>My plots are in problem 5.</p>"


@pytest.mark.parametrize("packed", [True, False], ids=["class zip", "unpacked folder"])
def test_a_participants_plugin_folders_make_one_submission(tmp_path, packed):
    files = {f"{ZOE}/problem6.ipynb": PROBLEM6, f"{ZOE}/problem7.ipynb": PROBLEM7,
             f"{ZOE_ONLINE_TEXT}/onlinetext.html": ONLINE_TEXT}
    source = tmp_path / "download.zip"
    source.write_bytes(zip_bytes(files))
    if not packed:
        with zipfile.ZipFile(source) as zf:
            zf.extractall(tmp_path / "download")
        source = tmp_path / "download"
    [zoe] = ingest(source, tmp_path / "scratch")
    assert (zoe.student_id, zoe.name, sorted(zoe.notebooks)) == ("1001", "Zoë Müller-Lüdenscheidt",
                                                                 ["problem6", "problem7"])
    assert zoe.notes == [MISSING_PROBLEM5, "extra file onlinetext.html ignored"]


def test_any_plugin_folder_joins_its_participant_whatever_the_order(tmp_path):
    archive = tmp_path / "download.zip"
    archive.write_bytes(zip_bytes({f"{ZOE_ONLINE_TEXT}/onlinetext.html": ONLINE_TEXT,  # before the notebooks
                                   f"{ZOE}/ps3.zip": zip_bytes({"problem6.ipynb": PROBLEM6}),
                                   f"{ZOE_COMMENTS}/comments.txt": b"late because of illness",
                                   f"{JAN}/problem7.ipynb": PROBLEM7}))
    jan, zoe = ingest(archive, tmp_path / "scratch")
    assert [jan.student_id, zoe.student_id] == ["1002", "1001"]
    assert zoe.notebooks["problem6"].read_bytes() == PROBLEM6
    assert "2 extra files ignored: comments.txt, onlinetext.html" in zoe.notes


def test_folders_giving_the_same_id_never_overwrite_each_other(tmp_path):
    """'a<b' and 'a_b' both give the id 'a_b'; each keeps its own notebooks, nested zips included."""
    submitted = tmp_path / "submitted"
    for folder, notebook in {"a<b": PROBLEM6, "a_b": PROBLEM7}.items():
        (submitted / folder).mkdir(parents=True)
        (submitted / folder / "abgabe.zip").write_bytes(zip_bytes({"problem6.ipynb": notebook}))
    first, second = ingest(submitted, tmp_path / "scratch")
    assert [(first.student_id, first.name), (second.student_id, second.name)] == [("a_b", "a<b"), ("a_b-2", "a_b")]
    assert first.notebooks["problem6"].read_bytes() == PROBLEM6
    assert second.notebooks["problem6"].read_bytes() == PROBLEM7  # its own upload, not the other folder's
    assert "student id a_b also came from 'a_b', who is graded as a_b-2" in first.notes
    assert "student id a_b already came from 'a<b': graded as a_b-2" in second.notes


def test_a_participant_number_given_twice_gives_two_students(tmp_path):
    archive = tmp_path / "download.zip"
    archive.write_bytes(zip_bytes({f"{ZOE}/problem6.ipynb": PROBLEM6,
                                   "Zoe Miller_1001_assignsubmission_file_/problem7.ipynb": PROBLEM7}))
    miller, zoe = ingest(archive, tmp_path / "scratch")
    assert [(s.student_id, s.name, sorted(s.notebooks)) for s in (miller, zoe)] == [
        ("1001", "Zoe Miller", ["problem7"]), ("1001-2", "Zoë Müller-Lüdenscheidt", ["problem6"])]
    assert any("graded as 1001-2" in note for note in miller.notes)
    assert any("graded as 1001-2" in note for note in zoe.notes)


# ---- archives that cannot be unpacked --------------------------------------------------------------------------

LI = "Li Wei_1004_assignsubmission_file_"
SAM = "Sam Okafor_1005_assignsubmission_file_"
DEFLATE64 = 9  # the method Windows Explorer uses for large files; Python can read it but not unpack it


def patched_zip(entries: dict[str, bytes], flag_bits: int = 0, method: int | None = None) -> bytes:
    """A stored zip whose every entry says (in its local and its central header) what zipfile cannot write:
    general purpose ``flag_bits`` set (1: encrypted), compression ``method``."""
    data = bytearray(zip_bytes(entries, zipfile.ZIP_STORED))
    count, position = struct.unpack_from("<10xH4xL", data, data.rfind(b"PK\x05\x06"))  # the end record
    for _ in range(count):  # each central header, and the local header it points to
        names, extras, comments = struct.unpack_from("<3H", data, position + 28)
        [local] = struct.unpack_from("<L", data, position + 42)
        for flags_at in (position + 8, local + 6):  # the method follows the flags in both headers
            flags, old_method = struct.unpack_from("<2H", data, flags_at)
            struct.pack_into("<2H", data, flags_at, flags | flag_bits, old_method if method is None else method)
        position += 46 + names + extras + comments
    return bytes(data)


ENCRYPTED = patched_zip({"problem6.ipynb": PROBLEM6, "problem7.ipynb": PROBLEM7}, flag_bits=0x1)
DEFLATED64 = patched_zip({"problem6.ipynb": PROBLEM6, "problem7.ipynb": PROBLEM7}, method=DEFLATE64)


def test_the_hand_built_zips_are_what_they_say():
    """What zipfile itself does with them (and what took the old ingest, and the whole class, down)."""
    with pytest.raises(RuntimeError, match="encrypted"):
        zipfile.ZipFile(io.BytesIO(ENCRYPTED)).read("problem6.ipynb")
    with pytest.raises(NotImplementedError, match="compression method is not supported"):
        zipfile.ZipFile(io.BytesIO(DEFLATED64)).read("problem6.ipynb")


def test_a_class_zip_with_broken_nested_zips_ingests_every_student(tmp_path):
    archive = tmp_path / "download.zip"
    archive.write_bytes(zip_bytes({
        f"{ZOE}/problem6.ipynb": PROBLEM6, f"{ZOE}/problem7.ipynb": PROBLEM7,
        f"{ANA}/abgabe.zip": zip_bytes({"problem6.ipynb": PROBLEM6, "problem7.ipynb": PROBLEM7}),
        f"{JAN}/abgabe.zip": ENCRYPTED,
        f"{LI}/abgabe.zip": DEFLATED64,
        f"{SAM}/abgabe.zip": zip_bytes({"a": b"a file", "a/problem6.ipynb": PROBLEM6, "problem7.ipynb": PROBLEM7}),
    }))
    by_id = {s.student_id: s for s in ingest(archive, tmp_path / "scratch")}
    assert sorted(by_id) == ["1001", "1002", "1003", "1004", "1005"]
    for good in ("1001", "1003", "1005"):
        assert sorted(by_id[good].notebooks) == ["problem6", "problem7"], by_id[good].notes
    assert by_id["1002"].notebooks == by_id["1004"].notebooks == {}
    assert ("abgabe.zip: 2 entries are encrypted (password-protected), skipped: 'problem6.ipynb', 'problem7.ipynb'"
            in by_id["1002"].notes)
    assert ("abgabe.zip: 2 entries are compressed with Deflate64, which cannot be unpacked here, skipped: "
            "'problem6.ipynb', 'problem7.ipynb'" in by_id["1004"].notes)
    assert ("abgabe.zip: entry 'a' is a file where the archive also has a folder of that name, skipped"
            in by_id["1005"].notes)
    assert by_id["1001"].notes == [MISSING_PROBLEM5]


def test_damaged_and_unwritable_entries_are_their_students_notes(tmp_path):
    damaged = bytearray(zip_bytes({"problem7.ipynb": PROBLEM7}, zipfile.ZIP_STORED))
    middle = damaged.find(PROBLEM7) + len(PROBLEM7) // 2
    damaged[middle] ^= 0xFF  # the stored bytes no longer match their CRC
    long_name = "x" * 300 + ".ipynb"  # a name the disk refuses (255 bytes at most)
    archive = tmp_path / "download.zip"
    archive.write_bytes(zip_bytes({f"{JAN}/abgabe.zip": zip_bytes({long_name: PROBLEM6}),
                                   f"{ANA}/abgabe.zip": bytes(damaged),
                                   f"{LI}/problem7.ipynb": PROBLEM7}))
    by_id = {s.student_id: s for s in ingest(archive, tmp_path / "scratch")}
    assert "abgabe.zip: entry 'problem7.ipynb' is damaged and cannot be unpacked, skipped" in by_id["1003"].notes
    assert (f"abgabe.zip: entry {long_name!r} cannot be written here (File name too long), skipped"
            in by_id["1002"].notes)
    assert by_id["1003"].notebooks == by_id["1002"].notebooks == {}
    assert list((tmp_path / "scratch").rglob("problem7.ipynb")) == [by_id["1004"].notebooks["problem7"]]  # no half


def test_a_damaged_entry_of_the_class_zip_is_its_students_note(tmp_path):
    archive = bytearray(zip_bytes({f"{ZOE}/problem7.ipynb": PROBLEM7, f"{JAN}/problem6.ipynb": PROBLEM6},
                                  zipfile.ZIP_STORED))
    middle = archive.find(PROBLEM7) + len(PROBLEM7) // 2
    archive[middle] ^= 0xFF
    (tmp_path / "download.zip").write_bytes(bytes(archive))
    jan, zoe = ingest(tmp_path / "download.zip", tmp_path / "scratch")
    assert "download.zip: entry 'problem7.ipynb' is damaged and cannot be unpacked, skipped" in zoe.notes
    assert zoe.notebooks == {} and sorted(jan.notebooks) == ["problem6"]


@pytest.mark.parametrize("content, reason", [
    (b"not a zip at all", "neither a folder nor a zip file"),
    (bytes(64) + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 46, 0, 0), "cannot be read as a zip file"),
    (patched_zip({f"{ZOE}/problem6.ipynb": PROBLEM6, f"{JAN}/problem7.ipynb": PROBLEM7}, flag_bits=0x1),
     "download.zip is encrypted"),
])
def test_a_class_zip_that_cannot_be_read_at_all_is_a_clear_error(tmp_path, content, reason):
    (tmp_path / "download.zip").write_bytes(content)
    with pytest.raises(ValueError, match=reason):
        ingest(tmp_path / "download.zip", tmp_path / "scratch")


# ---- caps per student ------------------------------------------------------------------------------------------

def test_the_byte_cap_counts_all_of_a_students_archives_together(tmp_path, monkeypatch):
    monkeypatch.setattr(autograder.ingest, "MAX_STUDENT_BYTES", len(PROBLEM6) + len(PROBLEM7) - 1)
    carol, dave = (tmp_path / "submitted" / name for name in ("carol", "dave"))
    carol.mkdir(parents=True)
    dave.mkdir()
    (carol / "a.zip").write_bytes(zip_bytes({"problem6.ipynb": PROBLEM6}))  # each zip fits the cap alone
    (carol / "b.zip").write_bytes(zip_bytes({"problem7.ipynb": PROBLEM7}))
    (carol / "c.zip").write_bytes(zip_bytes({"problem5.ipynb": b"{}"}))
    (dave / "b.zip").write_bytes(zip_bytes({"problem7.ipynb": PROBLEM7}))
    (dave / "problem6.ipynb").write_bytes(PROBLEM6)  # on disk already: nothing to unpack
    carol_, dave_ = ingest(tmp_path / "submitted", tmp_path / "scratch")
    assert sorted(carol_.notebooks) == ["problem6"] and sorted(dave_.notebooks) == ["problem6", "problem7"]
    limit = f"the limit of {(len(PROBLEM6) + len(PROBLEM7) - 1) / 2**20:g} MB unpacked per student was reached"
    assert carol_.notes[:4] == [
        "unpacked nested zip a.zip",
        f"b.zip: problem7.ipynb not unpacked: {limit}; the rest of this student's archives was skipped",
        f"c.zip not unpacked: {limit}",
        MISSING_PROBLEM5]
    assert not any("limit" in note for note in dave_.notes), dave_.notes


def test_the_file_cap_stops_only_its_student(tmp_path, monkeypatch):
    monkeypatch.setattr(autograder.ingest, "MAX_STUDENT_FILES", 3)
    archive = tmp_path / "download.zip"
    archive.write_bytes(zip_bytes({  # six files in the class zip, three each
        f"{ZOE}/problem5.ipynb": b"{}", f"{ZOE}/problem6.ipynb": PROBLEM6, f"{ZOE}/problem7.ipynb": PROBLEM7,
        f"{JAN}/abgabe.zip": zip_bytes({"problem6.ipynb": PROBLEM6, "problem7.ipynb": PROBLEM7,
                                        "problem5.ipynb": b"{}"}),
    }))
    jan, zoe = ingest(archive, tmp_path / "scratch")
    assert sorted(zoe.notebooks) == ["problem6", "problem7"] and not any("limit" in n for n in zoe.notes)
    assert sorted(jan.notebooks) == ["problem6", "problem7"]
    assert jan.notes[0] == ("abgabe.zip: problem5.ipynb not unpacked: the limit of 3 files unpacked per student was "
                            "reached; the rest of this student's archives was skipped")


def test_zips_nested_past_the_depth_cap_are_not_unpacked(tmp_path, monkeypatch):
    monkeypatch.setattr(autograder.ingest, "MAX_ZIP_DEPTH", 2)
    student = tmp_path / "submitted" / "erin"
    student.mkdir(parents=True)
    deepest = zip_bytes({"problem7.ipynb": PROBLEM7})
    (student / "outer.zip").write_bytes(zip_bytes({"problem6.ipynb": PROBLEM6,
                                                   "inner.zip": zip_bytes({"deepest.zip": deepest})}))
    [erin] = ingest(tmp_path / "submitted", tmp_path / "scratch")
    assert sorted(erin.notebooks) == ["problem6"]
    assert "deepest.zip ignored: zips are unpacked at most 2 levels deep" in erin.notes


def test_a_class_zip_larger_than_the_per_archive_cap_still_ingests(tmp_path, monkeypatch):
    """300 students x 20 MB is a 6 GB download: only each student's own caps apply to it, entry by entry."""
    monkeypatch.setattr(autograder.ingest, "MAX_UNZIPPED_BYTES", 10_000)
    monkeypatch.setattr(autograder.ingest, "CHUNK", 4096)  # streamed a chunk at a time, every byte arrives
    archive = tmp_path / "download.zip"
    archive.write_bytes(zip_bytes({f"{folder}/{name}.ipynb": data for folder in (ZOE, JAN, ANA)
                                   for name, data in (("problem6", PROBLEM6), ("problem7", PROBLEM7))}))
    with zipfile.ZipFile(archive) as zf:
        assert sum(m.file_size for m in zf.infolist()) > 5 * autograder.ingest.MAX_UNZIPPED_BYTES
    submissions = ingest(archive, tmp_path / "scratch")
    assert [s.student_id for s in submissions] == ["1003", "1002", "1001"]
    for submission in submissions:
        assert submission.notebooks["problem6"].read_bytes() == PROBLEM6
        assert submission.notebooks["problem7"].read_bytes() == PROBLEM7
        assert submission.notes == [MISSING_PROBLEM5]


# ---- removing what was unpacked --------------------------------------------------------------------------------

def test_remove_unpacked_leaves_nothing_of_the_class(moodle_zip, tmp_path):
    scratch = tmp_path / "scratch"
    submissions = ingest(moodle_zip, scratch)
    assert all(path.is_relative_to(scratch) for s in submissions for path in s.notebooks.values())
    remove_unpacked(scratch)
    assert not [path for path in scratch.rglob("*") if path.is_file()]


def test_a_second_ingest_never_sees_the_first_ones_files(tmp_path):
    student = tmp_path / "submitted" / "dave"
    student.mkdir(parents=True)
    (student / "abgabe.zip").write_bytes(zip_bytes({"problem6.ipynb": PROBLEM6, "problem7.ipynb": PROBLEM7}))
    ingest(tmp_path / "submitted", tmp_path / "scratch")
    (student / "abgabe.zip").write_bytes(zip_bytes({"problem6.ipynb": PROBLEM6}))  # uploaded again, without 7
    [dave] = ingest(tmp_path / "submitted", tmp_path / "scratch")
    assert sorted(dave.notebooks) == ["problem6"]


@pytest.mark.slow
def test_a_real_moodle_download_grades_every_student_once(tmp_path):
    """The whole path, as `grade` runs it on a download: a participant with a file and an online-text folder is
    graded once with full points; two whose zips cannot be unpacked get their notes and cost no one else."""
    archive = tmp_path / "download.zip"
    archive.write_bytes(zip_bytes({
        f"{ZOE}/problem7.ipynb": PROBLEM7, f"{ZOE_ONLINE_TEXT}/onlinetext.html": ONLINE_TEXT,
        f"{JAN}/abgabe.zip": ENCRYPTED, f"{LI}/abgabe.zip": DEFLATED64}))
    graded = []
    results = {r.student_id: r for r in grade_batch(archive, tmp_path / "out", fast(), on_result=graded.append)}
    assert sorted(r.student_id for r in graded) == ["1001", "1002", "1004"]  # each once
    assert (results["1001"].status, results["1001"].automatic_points) == ("graded", 3.0)
    assert any("onlinetext.html" in note for note in results["1001"].notes)
    assert any("encrypted" in note for note in results["1002"].notes)
    assert any("Deflate64" in note for note in results["1004"].notes)
    assert {results[s].automatic_points for s in ("1002", "1004")} == {0.0}
    rows = gradebook_rows(f"sqlite:///{tmp_path / 'out' / 'gradebook.db'}")
    assert {student: count for student, (count, _) in rows.items()} == {"1001": 1, "1002": 1, "1004": 1}
    assert not (tmp_path / "out" / "work").exists()  # the unpacked copies are gone
