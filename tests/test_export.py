"""`export` on a grading folder built without kernels (results saved, recorded into a sqlite gradebook, a TA's grades
written as formgrader writes them): final grades from the gradebook, a German worksheet downloaded from Moodle
filled, pending and failed students left blank and listed."""

import csv
import shutil
import subprocess
import sys
from datetime import datetime

import pytest

from autograder.cells import CELLS
from autograder.course import ASSIGNMENT, generated_course, open_gradebook
from autograder.outputs import grading_folder
from autograder.outputs.export import DOWNLOADED, export
from autograder.outputs.moodle import WorksheetError
from autograder.outputs.gradebook import prepare, record
from autograder.results import CellResult, ResultStore, SubmissionResult, blank_cells
from autograder.submission.formgrader_copies import digest

GERMAN_DOWNLOAD = (
    '\ufeffID,"Vollständiger Name",E-Mail-Adresse,Status,Bewertung,Bestwertung,"Bewertung kann geändert werden",'
    '"Zuletzt geändert (Abgabe)","Zuletzt geändert (Bewertung)","Feedback als Kommentar"\n'
    'Teilnehmer/in1001,"Zoë Müller",zoe@example.org,"Zur Bewertung abgegeben",,"16,00",Ja,'
    '"Montag, 30. November 2026, 21:14",-,\n'
    'Teilnehmer/in1002,"Jan de Vries",jan@example.org,"Zur Bewertung abgegeben",,"16,00",Ja,'
    '"Montag, 30. November 2026, 22:01",-,\n'
    'Teilnehmer/in1003,"Søren Kierkegård",soren@example.org,"Zur Bewertung abgegeben",,"16,00",Ja,'
    '"Dienstag, 1. Dezember 2026, 08:30",-,\n'
    'Teilnehmer/in1004,"Grace Hopper",grace@example.org,"Keine Abgabe",,"16,00",Ja,-,-,\n')


def graded(student, name, status="graded") -> SubmissionResult:
    cells = [CellResult(c.notebook, c.grade_id, None if c.written else c.points, c.points,
                        answer_digest=digest(f"answer {c.label}") if c.written else "") for c in CELLS]
    if status == "error":
        cells = blank_cells("not graded")
    return SubmissionResult(student, name, status, cells)


@pytest.fixture
def folder(tmp_path):
    """1001 fully hand-graded, 1002 still waiting for 5b, 1003 whose grading failed."""
    out = tmp_path / "grading"
    db_url = f"sqlite:///{out / 'gradebook.db'}"
    out.mkdir()
    prepare(db_url, generated_course())
    grading_folder.prepare(out, generated_course(), db_url)
    store = ResultStore(out / "results")
    for result in (graded("1001", "Zoë Müller"), graded("1002", "Jan de Vries"),
                   graded("1003", "Søren Kierkegård", "error")):
        record(db_url, result)
        store.save(result)
    with open_gradebook(db_url) as gb:  # as formgrader saves a TA's work
        for student, cells in (("1001", [c for c in CELLS if c.written]),
                               ("1002", [c for c in CELLS if c.written and c.grade_id != "p5b_answer"])):
            for cell in cells:
                grade = gb.find_grade(cell.grade_id, cell.notebook, ASSIGNMENT, student)
                grade.manual_score, grade.needs_manual_grade = cell.points, False
        gb.find_comment("p6_answer", "problem6", ASSIGNMENT, "1001").manual_comment = "Sehr gut."
        gb.db.commit()
    (tmp_path / "download.csv").write_text(GERMAN_DOWNLOAD, encoding="utf-8")
    return out


def rows(path) -> dict:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return {row.get("student") or row["ID"]: row for row in csv.DictReader(fh)}


def test_export_fills_the_downloaded_german_worksheet_with_final_grades_only(folder):
    done = export(folder, worksheet=folder.parent / "download.csv")
    sheet = rows(folder / "moodle_grading_worksheet.csv")
    assert sheet["Teilnehmer/in1001"]["Bewertung"] == "16,00"
    assert "<br>6 manual (Kommentar): Sehr gut." in sheet["Teilnehmer/in1001"]["Feedback als Kommentar"]
    assert "Übungsblatt 3: 16 von 16 Punkten" in sheet["Teilnehmer/in1001"]["Feedback als Kommentar"]
    assert sheet["Teilnehmer/in1001"]["Zuletzt geändert (Bewertung)"] == "-"  # as downloaded: Moodle's own check
    for blank in ("Teilnehmer/in1002", "Teilnehmer/in1003"):  # pending; failed
        assert (sheet[blank]["Bewertung"], sheet[blank]["Zuletzt geändert (Bewertung)"]) == ("", "-")
    original = GERMAN_DOWNLOAD.split("\n")
    written = (folder / "moodle_grading_worksheet.csv").read_text(encoding="utf-8").split("\n")
    assert written[0] == original[0] and written[4] == original[4]  # the header; a participant not graded here

    assert done.worksheet.filled == ["1001"] and sorted(done.worksheet.blank) == ["1002", "1003"]
    summary = done.summary()
    assert "1 of 3 students have a final grade." in summary
    assert "written answers still to grade in formgrader (1): 1002" in summary
    assert "grading failed or unfinished (1): 1003" in summary
    assert "feedback/moodle-feedback-files.zip: the feedback pages of 1 student (Moodle" in summary
    assert "--partial" not in summary
    grades = rows(folder / "grades.csv")
    assert [(grades[s]["total"], grades[s]["final"]) for s in ("1001", "1002", "1003")] == \
        [("16", "yes"), ("15", "no"), ("0", "no")]


def test_partial_grades_only_when_asked(folder):
    done = export(folder, worksheet=folder.parent / "download.csv", partial=True)
    assert "--partial: the points so far were written for 2 students without a final grade" in done.summary()
    assert "the feedback pages of 3 students" in done.summary()
    sheet = rows(folder / "moodle_grading_worksheet.csv")
    assert [sheet[f"Teilnehmer/in{s}"]["Bewertung"] for s in (1001, 1002, 1003)] == ["16,00", "15,00", "0,00"]


def test_the_export_command_says_who_is_left_blank(folder):
    done = subprocess.run([sys.executable, "-m", "autograder", "export", "--out", str(folder), "--worksheet",
                           str(folder.parent / "download.csv")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "left blank in the Moodle worksheet (Moodle keeps what it had): 1002, 1003" in done.stdout
    assert "Upload grading worksheet" in done.stdout


def test_a_filled_worksheet_is_never_replaced_by_a_new_one(folder):
    """The download given once is kept in the folder: a later export (or grade) without --worksheet fills the same
    German download again, with Moodle's rows of students who handed in nothing and their e-mail addresses."""
    export(folder, worksheet=folder.parent / "download.csv")
    (folder.parent / "download.csv").unlink()  # the instructor's copy is gone: the folder has its own
    export(folder)
    sheet = rows(folder / "moodle_grading_worksheet.csv")
    assert sorted(sheet) == ["Teilnehmer/in1001", "Teilnehmer/in1002", "Teilnehmer/in1003", "Teilnehmer/in1004"]
    assert sheet["Teilnehmer/in1004"]["E-Mail-Adresse"] == "grace@example.org"
    assert sheet["Teilnehmer/in1001"]["Bewertung"] == "16,00"
    assert (folder / DOWNLOADED).read_text(encoding="utf-8") == GERMAN_DOWNLOAD


def test_a_refused_export_leaves_no_stale_worksheet_to_upload(folder):
    export(folder, worksheet=folder.parent / "download.csv")
    assert (folder / "moodle_grading_worksheet.csv").exists()
    (folder.parent / "small.csv").write_text(GERMAN_DOWNLOAD.replace('"16,00"', '"10,00"'), encoding="utf-8")
    with pytest.raises(WorksheetError, match="earlier moodle_grading_worksheet.csv was removed"):
        export(folder, worksheet=folder.parent / "small.csv")
    assert not (folder / "moodle_grading_worksheet.csv").exists()
    assert (folder / DOWNLOADED).read_text(encoding="utf-8") == GERMAN_DOWNLOAD  # the refused file is not kept


def test_a_grade_above_the_worksheets_maximum_is_refused(folder):
    (folder.parent / "small.csv").write_text(GERMAN_DOWNLOAD.replace('"16,00"', '"10,00"'), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "autograder", "export", "--out", str(folder), "--worksheet",
                           str(folder.parent / "small.csv")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "1001" in done.stderr and "10,00" in done.stderr, done.stderr
    assert not (folder / "moodle_grading_worksheet.csv").exists()


def test_export_needs_a_grading_folder(tmp_path):
    done = subprocess.run([sys.executable, "-m", "autograder", "export", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "is not a grading folder" in done.stderr


def test_every_report_lists_the_students_in_one_order(folder):
    """grades.csv in the order of the participant numbers, whatever order the batch finished them in."""
    store = ResultStore(folder / "results")
    shuffled = [store.load(s) for s in ("1003", "1001", "1002")]
    export(folder, results=shuffled)
    assert list(rows(folder / "grades.csv")) == ["1001", "1002", "1003"]


def test_a_moved_grading_folder_uses_its_own_gradebook(folder, tmp_path):
    """A TA copies the folder to their machine (or the instructor moves it): its nbgrader configuration names no
    absolute path, so formgrader and export there read and write the copy's gradebook, never the original's."""
    moved = tmp_path / "elsewhere" / "grading-copy"
    shutil.copytree(folder, moved)
    assert str(folder) not in (moved / grading_folder.CONFIG).read_text()
    assert grading_folder.db_url(moved) == f"sqlite:///{moved / 'gradebook.db'}"
    with open_gradebook(grading_folder.db_url(moved)) as gb:  # a TA's grade in the copy
        grade = gb.find_grade("p5b_answer", "problem5", ASSIGNMENT, "1002")
        grade.manual_score, grade.needs_manual_grade = 1.0, False
        gb.db.commit()
    export(moved)
    assert rows(moved / "grades.csv")["1002"]["final"] == "yes"
    with open_gradebook(grading_folder.db_url(folder)) as gb:  # the original is untouched
        assert gb.find_grade("p5b_answer", "problem5", ASSIGNMENT, "1002").needs_manual_grade


def test_formgrader_counts_a_result_with_its_hand_in_time_as_autograded(folder):
    """formgrader makes a student's name a link to grade only while the gradebook's timestamp equals the one in
    submitted/<id>/<assignment>/timestamp.txt: the folder keeps both, from the same hand-in time."""
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    result = graded("1001", "Zoë Müller")
    result.handed_in = "2026-11-30T21:14:05+01:00"
    result.notebooks = {f"{kind}/problem7.ipynb": "{}" for kind in ("submitted", "autograded")}
    grading_folder.file_result(folder, grading_folder.db_url(folder), ResultStore(folder / "results"), result)
    config = PyFileConfigLoader(grading_folder.CONFIG, path=str(folder)).load_config()
    api = NbGraderAPI(CourseDirectory(config=config), config=config)
    assert api.get_autograded_students(ASSIGNMENT) == {"1001"}
    assert api.get_submitted_timestamp(ASSIGNMENT, "1001") == datetime(2026, 11, 30, 20, 14, 5)
