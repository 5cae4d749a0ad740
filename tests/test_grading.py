"""The grader end to end on the example submissions (graded once per run on a loopback Dask cluster into
PostgreSQL: the ``examples`` fixture), resuming a killed batch, the Gradescope mode; and the generated course and
its gradebook."""

import csv
import json
import subprocess
import sys

import nbformat
import pytest

from autograder.batch import grade_batch
from autograder.cells import JUDGED
from autograder.course import (ASSIGNMENT, NOTEBOOKS, ROOT, copy_course, generated_course, open_gradebook, source_dir,
                               tool_environment)
from autograder.outputs import gradebook, grading_folder
from autograder.results import ResultStore
from autograder.submission.formgrader_copies import VERDICT_CELL, VERDICT_MARK
from autograder.testing.examples import EXAMPLE_SUBMISSIONS, EXAMPLES, build, unexpected

from helpers import assert_recorded_exactly_once, fast, kill_after_results, ps3_folders, reference_batch, saved_times


@pytest.mark.slow
def test_every_example_gets_exactly_its_expected_score(examples):
    assert set(examples.results) == set(EXAMPLE_SUBMISSIONS)
    assert unexpected(examples.results.values()) == []


@pytest.mark.parametrize("student, grade_id, words", [
    ("infinite_loop", "p7_stability_tests", "CellTimeoutError"),
    ("kernel_crash", "p6_delta_pool_tests", "kernel died while running this cell"),
    ("kernel_crash", "p6_backward_tests", "kernel died in an earlier cell"),
    ("memory_hog", "p7_activation_tests", "MemoryError"),
    ("syntax_error", "p7_gradient_tests", "NameError"),
    ("partial", "p6_delta_conv_tests", "missing the factor sigma'(z1[x, y])"),
    ("crop_only", "p5c_tests", "rotate"),
])
@pytest.mark.slow
def test_failures_carry_a_clear_message(examples, student, grade_id, words):
    cell = next(c for c in examples.results[student].cells if c.grade_id == grade_id)
    assert cell.points == 0 and words in cell.message, cell


@pytest.mark.slow
def test_unreadable_notebook_is_reported_not_fatal(examples):
    result = examples.results["invalid_json"]
    assert any(p.startswith("unreadable problem5.ipynb") for p in result.notes)
    assert {c.message for c in result.cells if c.notebook == "problem5"} == {"notebook not submitted"}


@pytest.mark.slow
def test_reports_are_written_and_readable(examples):
    out, results = examples.out, examples.results
    with open(out / "grades.csv", newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    assert rows.keys() == results.keys()
    assert rows["reference"]["automatic total"] == "12.5" and rows["reference"]["5b manual"] == "pending"
    assert rows["kernel_crash"]["status"] == "incomplete" and rows["kernel_crash"]["6 delta_pool"] == "0"
    assert not (out / "moodle_grading_worksheet.csv").read_text(encoding="utf-8-sig").splitlines()[1:], \
        "the examples have no Moodle participant numbers: nobody is written into a new worksheet"
    gradescope = json.loads((out / "gradescope" / "partial" / "results.json").read_text())
    assert gradescope["score"] == 10.5 and sum(t["score"] for t in gradescope["tests"]) == 10.5
    page = (out / "feedback" / "partial.html").read_text()
    assert "6 delta_conv" in page and "missing the factor sigma&#x27;(z1[x, y])" in page
    assert "check_delta_conv" not in page and "autograder." not in page  # hidden test code never shows


@pytest.mark.slow
def test_gradebook_holds_every_submission_exactly_once(examples):
    assert_recorded_exactly_once(examples.db_url, examples.results.values())
    with open_gradebook(examples.db_url) as gb:
        for student, result in examples.results.items():
            submission = gb.find_submission(ASSIGNMENT, student)
            assert submission.score == pytest.approx(result.automatic_points)
        assert gb.find_submission(ASSIGNMENT, "reference").needs_manual_grade
    assert not (examples.out / "gradebook.db").exists()  # the batch's gradebook is the PostgreSQL one


def _assignment_structure(db_url: str) -> dict:
    with open_gradebook(db_url) as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        return {nb.name: (sorted((c.name, c.max_score, c.cell_type) for c in nb.grade_cells),
                          sorted((c.name, c.checksum) for c in nb.source_cells),
                          sorted(c.name for c in nb.solution_cells)) for nb in assignment.notebooks}


def test_a_new_sqlite_gradebook_copied_from_the_generated_course_equals_a_generated_one(tmp_path):
    course = generated_course()
    copied, generated = tmp_path / "copied.db", tmp_path / "generated.db"
    gradebook.prepare(f"sqlite:///{copied}", course)  # a new file: copied from the generated course
    generated.touch()  # an existing (empty) file: nbgrader generate_assignment fills it
    gradebook.prepare(f"sqlite:///{generated}", course)
    structure = _assignment_structure(f"sqlite:///{copied}")
    assert structure == _assignment_structure(f"sqlite:///{generated}")
    assert set(structure) == set(NOTEBOOKS) and all(cells for cells, _, _ in structure.values())
    with open_gradebook(f"sqlite:///{copied}") as gb:
        assert gb.students == [] and gb.find_assignment(ASSIGNMENT).submissions == []


@pytest.mark.slow
def test_the_generated_course_is_made_once_per_course_content(tmp_path):
    course, cache = copy_course(ROOT, tmp_path / "course"), tmp_path / "cache"
    first = generated_course(course, cache)
    made = (first / "gradebook.db").stat().st_mtime_ns
    assert generated_course(course, cache) == first and (first / "gradebook.db").stat().st_mtime_ns == made
    notebook = source_dir(course) / "problem7.ipynb"  # an instructor mends a hidden test
    notebook.write_text(notebook.read_text().replace("### BEGIN HIDDEN TESTS", "### BEGIN HIDDEN TESTS\\n# mended", 1))
    second = generated_course(course, cache)
    assert second != first and "# mended" in (source_dir(second) / "problem7.ipynb").read_text()
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.name, second.name])  # nothing half-made left


@pytest.mark.slow
def test_regrading_an_unchanged_batch_grades_nothing(examples):
    out, results = examples.out, examples.results
    graded = []
    again = grade_batch(EXAMPLES, out, fast(db_url=examples.db_url), on_result=graded.append)  # on this machine
    assert graded == [] and [r.automatic_points for r in again] == [results[r.student_id].automatic_points for r in again]


def reference_only(notebooks=("problem6", "problem7")):
    return {n: (EXAMPLES / "reference" / ASSIGNMENT / f"{n}.ipynb").read_bytes() for n in notebooks}


@pytest.mark.slow
def test_killed_batch_resumes_without_losing_or_regrading(tmp_path):
    source = reference_batch(tmp_path / "submissions")
    out = tmp_path / "out"
    before = ps3_folders()
    # relative paths, as an instructor would type them
    command = [sys.executable, "-m", "autograder", "grade", "submissions", "--out", "out", "--workers", "1",
               "--no-progress"]
    process = subprocess.Popen(command, env=tool_environment(), cwd=tmp_path, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = kill_after_results(process, out / "results", 2)
    assert 2 <= len(finished) < 4
    regraded = []
    results = grade_batch(source, out, fast(), on_result=regraded.append)
    assert {r.student_id for r in regraded} == {"s1", "s2", "s3", "s4"} - finished.keys()
    assert {s: t for s, t in saved_times(out / "results").items() if s in finished} == finished
    assert [r.automatic_points for r in results] == [8.5] * 4
    assert ResultStore(out / "results").load("s1").automatic_points == 8.5
    assert ps3_folders() <= before  # the killed batch's runtime folders were removed by the next run


def test_committed_examples_match_their_definitions(tmp_path):
    build(tmp_path)
    for path in tmp_path.rglob("*.ipynb"):
        assert path.read_bytes() == (EXAMPLES / path.relative_to(tmp_path)).read_bytes(), path


@pytest.mark.slow
def test_gradescope_mode_writes_results_json(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    for name, data in reference_only().items():
        (submission / f"{name}.ipynb").write_bytes(data)
    results = tmp_path / "results" / "results.json"
    subprocess.run([sys.executable, "-m", "autograder", "gradescope", "--submission", "submission", "--results",
                    "results/results.json", "--no-progress", "--out", "kept"], check=True, env=tool_environment(),
                   cwd=tmp_path, timeout=600)
    report = json.loads(results.read_text())
    assert report["score"] == 8.5  # problems 6 and 7 complete, problem 5 not submitted
    assert {t["name"] for t in report["tests"] if t["score"] == 0} == {  # not submitted: 0, nothing pending
        "problem5: 5a", "problem5: 5b auto", "problem5: 5c auto", "problem5: 5b manual", "problem5: 5c manual"}
    assert "missing problem5.ipynb" in report["output"]
    kept = tmp_path / "kept"  # --out: a grading folder for formgrader, as a batch leaves it
    assert_formgrader_folder(kept, {"submission": ("problem6", "problem7")}, grading_folder.db_url(kept))


def assert_formgrader_folder(out, students: dict, db_url: str) -> None:
    """``out`` is a course formgrader opens: each student's notebooks as submitted and as autograded (with the
    grader's verdict under every automatic cell), and the gradebook the folder's configuration names."""
    assert grading_folder.db_url(out) == db_url
    assert sorted(p.name for p in (out / "source" / ASSIGNMENT).glob("*.ipynb")) == [f"{n}.ipynb" for n in NOTEBOOKS]
    for student, notebooks in students.items():
        for name in notebooks:
            assert (out / "submitted" / student / ASSIGNMENT / f"{name}.ipynb").is_file(), (student, name)
            executed = nbformat.read(out / "autograded" / student / ASSIGNMENT / f"{name}.ipynb", as_version=4)
            verdicts = [c for c in executed.cells if VERDICT_CELL in c.metadata]  # the grader's own cells
            assert len(verdicts) == len([c for c in JUDGED if c.notebook == name]), (student, name)
            assert all(c.source.count(VERDICT_MARK) == 1 for c in verdicts), (student, name)
    with open_gradebook(db_url) as gb:
        assert {s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions} >= set(students)


@pytest.mark.slow
def test_the_cluster_batch_leaves_a_folder_formgrader_opens(examples):
    submitted = {student: tuple(sorted(p.stem for p in (EXAMPLES / student / ASSIGNMENT).glob("*.ipynb")
                                       if not student == "invalid_json" or p.stem != "problem5"))
                 for student in examples.results}
    assert_formgrader_folder(examples.out, submitted, examples.db_url)
