"""Ingesting what instructors collect: a Moodle "Download all submissions" zip and nbgrader's folder layout.

Checks which student each submission belongs to, which notebooks were taken (and that they are the uploaded bytes),
what is reported about odd files, the guards against hostile zips, and the submission digest.
"""

import io
import unicodedata
import zipfile
from pathlib import Path

import pytest

import autograder.ingest
from autograder.course import ASSIGNMENT
from autograder.ingest import collect, ingest, notebook_name

REFERENCE = Path(__file__).parent / "examples" / "reference" / ASSIGNMENT
PROBLEM6 = (REFERENCE / "problem6.ipynb").read_bytes()
PROBLEM7 = (REFERENCE / "problem7.ipynb").read_bytes()
MISSING_PROBLEM5 = "missing problem5.ipynb: its cells score 0"

ZOE = "Zoë Müller-Lüdenscheidt_1001_assignsubmission_file_"
JAN = "Jan de Vries_1002_assignsubmission_file_"
ANA = "Ana Pérez_1003_assignsubmission_file_"


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
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


def test_moodle_zip_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(autograder.ingest, "MAX_UNZIPPED_BYTES", 10_000)
    archive = tmp_path / "bomb.zip"
    archive.write_bytes(zip_bytes({f"{ZOE}/problem6.ipynb": b" " * 100_000}))
    with pytest.raises(ValueError, match="not extracted"):
        ingest(archive, tmp_path / "scratch")


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
