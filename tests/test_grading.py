"""The grading runner end to end: the example submissions, reports, a Moodle zip, and resuming a killed batch."""

import csv
import json
import subprocess
import sys
import zipfile

import pytest
from nbgrader.api import Gradebook

from autograder.examples import EXAMPLE_SUBMISSIONS, EXAMPLES, build
from autograder.ingest import notebook_name
from autograder.release import tool_environment
from autograder.reports import MOODLE_COLUMNS
from autograder.runner import Options, ResultStore, grade_batch

from helpers import FAST, kill_after_results, reference_batch

pytestmark = pytest.mark.training


def test_every_example_gets_exactly_its_expected_score(examples):
    _, results = examples
    table = {s: (r.automatic_points, r.pending_points, r.status) for s, r in results.items()}
    expected = {s: (e.automatic, e.pending, e.status) for s, (_, e) in EXAMPLE_SUBMISSIONS.items()}
    assert table == expected


@pytest.mark.parametrize("student, grade_id, words", [
    ("infinite_loop", "p7_stability_tests", "CellTimeoutError"),
    ("kernel_crash", "p6_delta_pool_tests", "kernel died while running this cell"),
    ("kernel_crash", "p6_backward_tests", "kernel died in an earlier cell"),
    ("memory_hog", "p7_activation_tests", "MemoryError"),
    ("syntax_error", "p7_gradient_tests", "NameError"),
    ("partial", "p6_delta_conv_tests", "missing the factor sigma'(z1[x, y])"),
])
def test_failures_carry_a_clear_message(examples, student, grade_id, words):
    cell = next(c for c in examples[1][student].cells if c.grade_id == grade_id)
    assert cell.points == 0 and words in cell.message, cell


def test_unreadable_notebook_is_reported_not_fatal(examples):
    result = examples[1]["invalid_json"]
    assert any(p.startswith("unreadable problem5.ipynb") for p in result.problems)
    assert {c.message for c in result.cells if c.notebook == "problem5"} == {"notebook not submitted"}


def test_reports_are_written_and_readable(examples):
    out, results = examples
    with open(out / "grades.csv", newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    assert rows.keys() == results.keys()
    assert rows["reference"]["automatic total"] == "12.5" and rows["reference"]["5b manual"] == "pending"
    assert rows["kernel_crash"]["status"] == "incomplete" and rows["kernel_crash"]["6 delta_pool"] == "0"
    with open(out / "moodle_grading_worksheet.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == MOODLE_COLUMNS
        worksheet = {row["Identifier"]: row for row in reader}
    assert worksheet["Participant reference"]["Grade"] == "12.50"
    assert worksheet["Participant untouched"]["Maximum Grade"] == "16.00"
    gradescope = json.loads((out / "gradescope" / "partial" / "results.json").read_text())
    assert gradescope["score"] == 10.5 and sum(t["score"] for t in gradescope["tests"]) == 10.5
    page = (out / "feedback" / "partial.html").read_text()
    assert "6 delta_conv" in page and "missing the factor sigma&#x27;(z1[x, y])" in page
    assert "check_delta_conv" not in page and "autograder.checks" not in page  # hidden test code never shows


def test_gradebook_holds_every_submission(examples):
    out, results = examples
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for student, result in results.items():
            submission = gb.find_submission("ps3", student)
            assert submission.score == pytest.approx(result.automatic_points)
        assert gb.find_submission("ps3", "reference").needs_manual_grade


def _assignment_structure(db_url: str) -> dict:
    with Gradebook(db_url) as gb:
        assignment = gb.find_assignment("ps3")
        return {nb.name: (sorted((c.name, c.max_score, c.cell_type) for c in nb.grade_cells),
                          sorted((c.name, c.checksum) for c in nb.source_cells),
                          sorted(c.name for c in nb.solution_cells)) for nb in assignment.notebooks}


def test_a_new_sqlite_gradebook_copied_from_the_template_equals_a_generated_one(tmp_path):
    from autograder import gradebook
    from autograder.runner import _template

    template = _template()
    copied, generated = tmp_path / "copied.db", tmp_path / "generated.db"
    gradebook.prepare(f"sqlite:///{copied}", template)  # a new file: copied from the template
    generated.touch()  # an existing (empty) file: nbgrader generate_assignment fills it
    gradebook.prepare(f"sqlite:///{generated}", template)
    structure = _assignment_structure(f"sqlite:///{copied}")
    assert structure == _assignment_structure(f"sqlite:///{generated}")
    assert set(structure) == {"problem5", "problem6", "problem7"} and all(cells for cells, _, _ in structure.values())
    with Gradebook(f"sqlite:///{copied}") as gb:
        assert gb.students == [] and gb.find_assignment("ps3").submissions == []


def test_the_generated_course_is_made_once_per_course_content(tmp_path):
    from autograder.release import ROOT, copy_course
    from autograder.runner import _template

    course, cache = copy_course(ROOT, tmp_path / "course"), tmp_path / "cache"
    first = _template(course, cache)
    made = (first / "gradebook.db").stat().st_mtime_ns
    assert _template(course, cache) == first and (first / "gradebook.db").stat().st_mtime_ns == made
    notebook = course / "source" / "ps3" / "problem7.ipynb"  # an instructor mends a hidden test
    notebook.write_text(notebook.read_text().replace("### BEGIN HIDDEN TESTS", "### BEGIN HIDDEN TESTS\\n# mended", 1))
    second = _template(course, cache)
    assert second != first and "# mended" in (second / "source" / "ps3" / "problem7.ipynb").read_text()
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, second.name])  # nothing half-made left


def test_regrading_an_unchanged_batch_grades_nothing(examples):
    out, results = examples
    graded = []
    again = grade_batch(EXAMPLES, out, Options(**FAST), on_result=graded.append)
    assert graded == [] and [r.automatic_points for r in again] == [results[r.student_id].automatic_points for r in again]


def reference_only(notebooks=("problem6", "problem7")):
    return {n: (EXAMPLES / "reference" / "ps3" / f"{n}.ipynb").read_bytes() for n in notebooks}


def test_moodle_zip_with_odd_names_nested_zip_and_two_uploads(tmp_path):
    notebooks = reference_only()
    archive = tmp_path / "moodle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in notebooks.items():
            zf.writestr(f"Zoë Müller-Lüdenscheidt_1001_assignsubmission_file_/{name}.ipynb", data)
        inner = tmp_path / "inner.zip"
        with zipfile.ZipFile(inner, "w") as nested:
            for name, data in notebooks.items():
                nested.writestr(f"ps3/{name}.ipynb", data)
        zf.write(inner, "Jean Dupont_1002_assignsubmission_file_/abgabe.zip")
        zf.writestr("Ana Silva_1003_assignsubmission_file_/problem6.ipynb", b"{}")  # an older, broken upload
        zf.writestr("Ana Silva_1003_assignsubmission_file_/Problem 6 (1).ipynb", notebooks["problem6"])
        zf.writestr("Ana Silva_1003_assignsubmission_file_/problem7.ipynb", notebooks["problem7"])
        zf.writestr("Ana Silva_1003_assignsubmission_file_/notes.txt", b"thanks!")
    out = tmp_path / "out"
    results = {r.student_id: r for r in grade_batch(archive, out, Options(**FAST))}
    assert results["1001"].name == "Zoë Müller-Lüdenscheidt" and results["1002"].name == "Jean Dupont"
    assert {s: r.automatic_points for s, r in results.items()} == {"1001": 8.5, "1002": 8.5, "1003": 8.5}
    problems = " | ".join(results["1003"].problems)
    assert "misnamed Problem 6 (1).ipynb" in problems and "extra file notes.txt" in problems
    assert "unreadable problem6.ipynb" in problems
    assert any("nested zip" in p for p in results["1002"].problems)
    with open(out / "moodle_grading_worksheet.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted((r["Identifier"], r["Full name"], r["Grade"]) for r in rows) == [
        ("Participant 1001", "Zoë Müller-Lüdenscheidt", "8.50"), ("Participant 1002", "Jean Dupont", "8.50"),
        ("Participant 1003", "Ana Silva", "8.50")]


@pytest.mark.parametrize("filename, notebook", [
    ("problem5.ipynb", "problem5"), ("Problem 6 (1).ipynb", "problem6"), ("ps3_p7.ipynb", "problem7"),
    ("Aufgabe_5.ipynb", "problem5"), ("problem57.ipynb", None), ("notes.ipynb", None),
])
def test_notebook_names_are_matched_leniently(filename, notebook):
    assert notebook_name(filename) == notebook


def test_killed_batch_resumes_without_losing_or_regrading(tmp_path):
    source = reference_batch(tmp_path / "submissions")
    out = tmp_path / "out"
    # relative paths, as an instructor would type them
    command = [sys.executable, "-m", "autograder", "grade", "submissions", "--out", "out", "--workers", "1",
               "--no-progress"]
    process = subprocess.Popen(command, env=tool_environment(), cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = kill_after_results(process, out / "results", 2)
    assert 2 <= len(finished) < 4
    regraded = []
    results = grade_batch(source, out, Options(**FAST), on_result=regraded.append)
    assert {r.student_id for r in regraded} == {"s1", "s2", "s3", "s4"} - finished.keys()
    assert {p.stem: p.stat().st_mtime_ns for p in (out / "results").glob("*.json") if p.stem in finished} == finished
    assert [r.automatic_points for r in results] == [8.5] * 4
    assert ResultStore(out / "results").load("s1").automatic_points == 8.5


def test_committed_examples_match_their_definitions(tmp_path):
    build(tmp_path)
    for path in tmp_path.rglob("*.ipynb"):
        assert path.read_bytes() == (EXAMPLES / path.relative_to(tmp_path)).read_bytes(), path


def test_gradescope_mode_writes_results_json(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    for name, data in reference_only().items():
        (submission / f"{name}.ipynb").write_bytes(data)
    results = tmp_path / "results" / "results.json"
    subprocess.run([sys.executable, "-m", "autograder", "gradescope", "--submission", "submission", "--results",
                    "results/results.json", "--no-progress"], check=True, env=tool_environment(), cwd=tmp_path,
                   timeout=600)
    report = json.loads(results.read_text())
    assert report["score"] == 8.5  # problems 6 and 7 complete, problem 5 not submitted
    assert {t["name"] for t in report["tests"] if t["score"] == 0} == {  # not submitted: 0, nothing pending
        "problem5: 5a", "problem5: 5b auto", "problem5: 5c auto", "problem5: 5b manual", "problem5: 5c manual"}
    assert "missing problem5.ipynb" in report["output"]
