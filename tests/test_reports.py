"""The reports of a graded batch as instructors and students read them: grades.csv, the Moodle grading worksheet,
Gradescope's results.json, the feedback pages and the summary table (results built by hand, nothing is graded)."""

import csv
import json
import zipfile
from html.parser import HTMLParser

import pytest

from autograder.cells import CELLS, JUDGED
from autograder.outputs.gradebook import STALE
from autograder.outputs.moodle import NEW_HEADER, Comment, fill_worksheet
from autograder.outputs.reports import (FEEDBACK_FILE, FEEDBACK_ZIP, gradescope_results, moodle_rows, summary_table,
                                         write_all)
from autograder.results import CellResult, SubmissionResult, blank_cells


def with_points(result: SubmissionResult, messages: dict[str, str] | None = None, **points) -> SubmissionResult:
    for cell in result.cells:
        if cell.grade_id in points:
            cell.points = points[cell.grade_id]
        cell.message = (messages or {}).get(cell.grade_id, cell.message)
    return result


def partly_right() -> SubmissionResult:
    """A run that stopped early: 3.5 automatic points, a note, a reason for review, outside the sandbox."""
    result = SubmissionResult("1001", "Zoë Müller-Lüdenscheidt", "incomplete", blank_cells("the cell did not run"),
                              notes=["missing problem5.ipynb: its cells score 0"], seconds=12.34,
                              review=["the kernel and the grader disagree on 5a"], contained=False)
    return with_points(result, {"p7_gradient_tests": "expected 0 < x & y > 1"},
                       p5a_tests=2, p6_delta_output_tests=1, p6_grad_conv_bias_tests=0.5)


def full_marks() -> SubmissionResult:
    """Every automatic cell right; the written answers (3.5 points) wait for a person."""
    cells = [CellResult(c.notebook, c.grade_id, None if c.written else c.points, c.points) for c in CELLS]
    return SubmissionResult("1002", "Jan de Vries", "graded", cells, seconds=30.0)


@pytest.fixture
def reports(tmp_path):
    write_all(tmp_path, [partly_right(), full_marks()])
    return tmp_path


def read_csv(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


def test_grades_csv_has_a_column_per_cell_in_the_table_order(reports):
    with open(reports / "grades.csv", newline="", encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert header == ["student", "name", *(c.label for c in CELLS), "problem 5", "problem 6", "problem 7",
                      "automatic total", "manual pending", "hand graded", "total", "final", "maximum", "status",
                      "seconds", "notes", "review", "contained", "comments"]


def test_grades_csv_values(reports):
    zoe, jan = read_csv(reports / "grades.csv")
    assert (zoe["student"], zoe["name"], zoe["5a"], zoe["5b auto"], zoe["6 grad_b"], zoe["5b manual"]) == \
        ("1001", "Zoë Müller-Lüdenscheidt", "2", "0", "0.5", "0")
    assert [zoe[f"problem {n}"] for n in "567"] == ["2", "1.5", "0"]
    assert (zoe["automatic total"], zoe["manual pending"], zoe["maximum"]) == ("3.5", "0", "16")
    assert (zoe["hand graded"], zoe["total"], zoe["final"]) == ("0", "3.5", "yes")
    assert (zoe["status"], zoe["seconds"], zoe["contained"]) == ("incomplete", "12.3", "no")
    assert zoe["notes"] == "missing problem5.ipynb: its cells score 0"
    assert zoe["review"] == "the kernel and the grader disagree on 5a"

    assert [jan[c.label] for c in CELLS if c.written] == ["pending"] * 4
    assert [jan[c.label] for c in JUDGED] == [f"{c.points:g}" for c in JUDGED]
    assert [jan[f"problem {n}"] for n in "567"] == ["4", "5.5", "3"]  # pending written answers count 0 for now
    assert (jan["automatic total"], jan["manual pending"], jan["maximum"]) == ("12.5", "3.5", "16")
    assert (jan["hand graded"], jan["total"], jan["final"]) == ("0", "12.5", "no")
    assert (jan["status"], jan["notes"], jan["review"], jan["contained"]) == ("graded", "", "", "yes")


def hand_graded() -> SubmissionResult:
    """full_marks after a TA graded every written answer (half points), commenting on 5b (once graded stale)."""
    result = full_marks()
    for cell in result.cells:
        if cell.written:
            cell.points = cell.max_points / 2
    next(c for c in result.cells if c.grade_id == "p5b_answer").comment = f"{STALE} Cite the accuracies."
    return result


def test_moodle_worksheet_gives_final_grades_only(reports):
    with open(reports / "moodle_grading_worksheet.csv", newline="", encoding="utf-8-sig") as fh:
        assert tuple(next(csv.reader(fh))) == NEW_HEADER
    zoe, jan = read_csv(reports / "moodle_grading_worksheet.csv")
    assert (zoe["Identifier"], zoe["Full name"], zoe["Grade"], zoe["Maximum Grade"]) == \
        ("Participant 1001", "Zoë Müller-Lüdenscheidt", "3.50", "16.00")
    assert zoe["Feedback comments"].startswith("Problem set 3: 3.5 of 16 points (automatic 3.5, written answers "
                                               "0).<br>")
    assert "<br>7a gradient: 0 of 1 points: expected 0 &lt; x &amp; y &gt; 1<br>" in zoe["Feedback comments"]
    assert (jan["Identifier"], jan["Grade"], jan["Feedback comments"]) == ("Participant 1002", "", "")  # pending


def test_moodle_rows_with_hand_grades_partial_grades_and_failures():
    failed = SubmissionResult("1003", "Søren Kierkegård", "error", blank_cells("not graded"))
    final, pending, error = moodle_rows([hand_graded(), full_marks(), failed])
    assert (final.grade, final.comment) == (14.25, Comment(total=14.25, maximum=16, automatic=12.5, written=1.75,
                                                           remarks=(("5b manual", "Cite the accuracies."),)))
    assert (pending.grade, error.grade) == (None, None)
    partial = moodle_rows([full_marks(), failed], partial=True)
    assert [row.grade for row in partial] == [12.5, 0]
    assert (partial[0].comment.pending, partial[0].comment.failed) == (3.5, False)
    assert partial[1].comment.failed and len(partial[1].comment.lost) == 12
    assert {message for _, _, _, message in partial[1].comment.lost} == {"not graded"}


def test_moodle_worksheet_as_an_instructor_uploads_it(tmp_path):
    names = {"1001": "Zoë Müller-Lüdenscheidt", "1002": "François Lefèvre", "1003": "Søren Kierkegård"}
    results = [with_points(SubmissionResult(sid, name, "graded", blank_cells("")), p5a_tests=2, p5b_tests=1,
                           p5c_tests=1, p6_delta_output_tests=1, p6_delta_pool_tests=1, p6_delta_conv_tests=1,
                           p6_grad_conv_weight_tests=1, p6_grad_conv_bias_tests=0.5)
               for sid, name in names.items()]
    fill_worksheet(moodle_rows(results), tmp_path / "worksheet.csv")
    rows = read_csv(tmp_path / "worksheet.csv")
    assert [(r["Identifier"], r["Full name"], r["Grade"]) for r in rows] == [
        ("Participant 1001", "Zoë Müller-Lüdenscheidt", "8.50"),
        ("Participant 1002", "François Lefèvre", "8.50"),
        ("Participant 1003", "Søren Kierkegård", "8.50")]
    assert {(r["Status"], r["Maximum Grade"], r["Grade can be changed"]) for r in rows} == \
        {("Submitted for grading", "16.00", "Yes")}


def test_gradescope_results_score_automatic_cells_only(reports):
    jan = json.loads((reports / "gradescope" / "1002" / "results.json").read_text())
    assert jan["score"] == 12.5
    assert [t["name"] for t in jan["tests"]] == [f"{c.notebook}: {c.label}" for c in JUDGED]
    assert {t["status"] for t in jan["tests"]} == {"passed"}
    assert sum(t["score"] for t in jan["tests"]) == jan["score"]
    assert "3.5 points of written answers are graded by hand" in jan["output"]

    zoe = json.loads((reports / "gradescope" / "1001" / "results.json").read_text())
    assert zoe["score"] == 3.5
    assert len(zoe["tests"]) == len(CELLS)  # nothing pending: every cell is a test
    failed = {t["name"]: t["output"] for t in zoe["tests"] if t["status"] == "failed"}
    assert failed["problem7: 7a gradient"] == "expected 0 < x & y > 1"
    assert "problem5: 5a" not in failed
    assert "the kernel and the grader disagree on 5a" in zoe["output"]


class TableText(HTMLParser):
    """The text of each table row, cell by cell, as a browser shows it."""

    def __init__(self, page: str):
        super().__init__()
        self.rows, self.in_cell = [], False
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self.in_cell = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.in_cell = False

    def handle_data(self, data):
        if self.in_cell:
            self.rows[-1][-1] += data


def test_feedback_page_shows_each_cell(reports):
    rows = TableText((reports / "feedback" / "1002.html").read_text(encoding="utf-8")).rows
    assert rows[0] == ["notebook", "part", "points", "result", "message"]
    assert [row[:4] for row in rows[1:]] == [
        [c.notebook, c.label, f"pending / {c.points:g}" if c.written else f"{c.points:g} / {c.points:g}",
         "graded by hand later" if c.written else "passed"] for c in CELLS]

    zoe = {row[1]: row for row in TableText((reports / "feedback" / "1001.html").read_text(encoding="utf-8")).rows}
    assert zoe["7a gradient"][2:] == ["0 / 1", "failed", "expected 0 < x & y > 1"]
    assert zoe["5a"][2:4] == ["2 / 2", "passed"]


def test_feedback_page_shows_hand_points_and_the_tas_comment(tmp_path):
    write_all(tmp_path, [hand_graded()])
    page = (tmp_path / "feedback" / "1002.html").read_text(encoding="utf-8")
    rows = {row[1]: row for row in TableText(page).rows}
    assert rows["5b manual"][2:] == ["0.5 / 1", "graded by hand", "Cite the accuracies."]  # no stale mark
    assert rows["6 manual"][2:] == ["0.25 / 0.5", "graded by hand", ""]
    assert "Points: <b>14.25</b> of 16 (automatic 12.5, written\nanswers 1.75)" in page
    results = json.loads((tmp_path / "gradescope" / "1002" / "results.json").read_text())
    assert results["score"] == 14.25
    assert {t["name"]: t["output"] for t in results["tests"]}["problem5: 5b manual"] == "Cite the accuracies."


def test_feedback_page_escapes_names_and_messages(tmp_path):
    hostile = with_points(SubmissionResult("1004", "<script>alert(1)</script>", "graded", blank_cells(""),
                                           notes=["<b>extra</b> file ignored"]),
                          {"p5a_tests": "<img src=x onerror=alert(2)>"})
    write_all(tmp_path, [hostile])
    page = (tmp_path / "feedback" / "1004.html").read_text(encoding="utf-8")
    for raw in ("<script>", "<img", "<b>extra"):
        assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(2)&gt;" in page
    assert ["problem5", "5a", "0 / 2", "failed", "<img src=x onerror=alert(2)>"] in TableText(page).rows


def moodle_reads_feedback_zip(path, participants: set[int]) -> dict[int, tuple[str, bytes]]:
    """What Moodle's "Upload multiple feedback files in a zip" takes from the zip (assignfeedback_file's importer):
    in each entry's path, the first part that splits at "_" into at least four pieces, the second a number that is
    a participant and the third and fourth the feedback file plugin; the rest of the path is the file's name."""
    taken = {}
    with zipfile.ZipFile(path) as zf:
        for entry in zf.infolist():
            if entry.is_dir() or entry.filename.rsplit("/", 1)[-1].startswith((".", "~")):
                continue
            parts = entry.filename.split("/")
            while parts:
                info = parts.pop(0).split("_", 4)
                if len(info) < 4 or not info[1].isdigit() or int(info[1]) not in participants:
                    continue
                if (info[2], info[3]) != ("assignfeedback", "file"):
                    continue
                taken[int(info[1])] = ("/".join([info[4] if len(info) > 4 else "", *parts]).strip("/"),
                                       zf.read(entry))
                break
    return taken


def test_the_feedback_zip_is_what_moodles_importer_takes(tmp_path):
    """Final grades only (uploading notifies the student), one page each, under the participant's own number, for
    a name with underscores and slashes too; a student graded from a folder (no participant number) is left out."""
    awkward = hand_graded()
    awkward.student_id, awkward.name = "1003", "Jo_Ann/../O'Neil_42_x"
    folder_student = hand_graded()
    folder_student.student_id = "jdoe"
    write_all(tmp_path, [awkward, full_marks(), folder_student])
    taken = moodle_reads_feedback_zip(tmp_path / "feedback" / FEEDBACK_ZIP, {int(awkward.student_id), 1002})
    assert sorted(taken) == [int(awkward.student_id)]  # 1002's written answers still wait for a person
    name, page = taken[int(awkward.student_id)]
    assert name == FEEDBACK_FILE and page.decode() == (tmp_path / "feedback" / f"{awkward.student_id}.html").read_text()
    partial = tmp_path / "partial"
    partial.mkdir()
    write_all(partial, [awkward, full_marks(), folder_student], partial=True)
    assert sorted(moodle_reads_feedback_zip(partial / "feedback" / FEEDBACK_ZIP, {1001, 1002, 1003})) == \
        sorted({int(awkward.student_id), 1002})


def test_summary_table_has_a_line_per_student():
    lines = summary_table([partly_right(), full_marks()]).splitlines()
    assert len(lines) == 3
    assert lines[0].split() == ["student", "name", "auto", "hand", "pending", "status", "time", "review"]
    assert lines[1].split() == ["1001", "Zoë", "Müller-Lüdenscheidt", "3.5", "0", "0", "incomplete", "12.3s", "yes"]
    assert lines[2].split() == ["1002", "Jan", "de", "Vries", "12.5", "0", "3.5", "graded", "30.0s"]


def test_gradescope_tests_carry_the_visibility_asked_for():
    result = SubmissionResult("s1", "S One", "graded", [CellResult("problem7", "p7_gradient_tests", 1.0, 1.0)])
    assert {t["visibility"] for t in gradescope_results(result)["tests"]} == {"visible"}
    assert {t["visibility"] for t in gradescope_results(result, "after_due_date")["tests"]} == {"after_due_date"}
    with pytest.raises(ValueError, match="visibility must be one of"):
        gradescope_results(result, "tomorrow")
