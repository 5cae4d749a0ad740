"""Writing results into nbgrader's gradebook (sqlite files in tmp_path, read back with nbgrader's own API), and the
cells table kept equal to the gradebook nbgrader generates from the source notebooks."""

import os
from datetime import datetime

from nbgrader.api import Grade

from autograder.cells import CELLS
from autograder.course import ASSIGNMENT, open_gradebook
from autograder.outputs.gradebook import missing, prepare, record
from autograder.results import CellResult, SubmissionResult


def result(student_id="1001", name="Zoë Müller-Lüdenscheidt", automatic=1.0) -> SubmissionResult:
    """Each automatic cell at ``automatic`` times its points; written answers wait for a person."""
    cells = [CellResult(c.notebook, c.grade_id, None if c.written else automatic * c.points, c.points) for c in CELLS]
    return SubmissionResult(student_id, name, "graded", cells)


def scores(db_url, student_id) -> dict:
    """grade id -> (auto_score, needs_manual_grade) as nbgrader has them."""
    with open_gradebook(db_url) as gb:
        grades = {c.grade_id: gb.find_grade(c.grade_id, c.notebook, ASSIGNMENT, student_id) for c in CELLS}
        return {grade_id: (grade.auto_score, grade.needs_manual_grade) for grade_id, grade in grades.items()}


def test_prepare_copies_the_course_gradebook(db_url):
    with open_gradebook(db_url) as gb:
        assert [nb.name for nb in gb.find_assignment(ASSIGNMENT).notebooks] == ["problem5", "problem6", "problem7"]
        assert gb.students == []
        assert gb.find_assignment(ASSIGNMENT).num_submissions == 0


def test_prepare_leaves_an_existing_gradebook_alone(db_url, generated):
    record(db_url, result())
    prepare(db_url, generated)
    assert missing(db_url, ["1001"]) == []
    with open_gradebook(f"sqlite:///{generated / 'gradebook.db'}") as gb:
        assert gb.students == []  # the course's own gradebook was copied, not written to


def test_record_writes_student_submission_and_scores(db_url):
    record(db_url, result("1002", "Jan de Vries"))
    with open_gradebook(db_url) as gb:
        student = gb.find_student("1002")
        assert (student.first_name, student.last_name) == ("Jan", "de Vries")
        assert [s.student.id for s in gb.find_assignment(ASSIGNMENT).submissions] == ["1002"]
    assert scores(db_url, "1002") == {c.grade_id: (None, True) if c.written else (c.points, False) for c in CELLS}


def test_recording_the_same_result_twice_changes_nothing(db_url):
    record(db_url, result())
    before = scores(db_url, "1001")
    record(db_url, result())
    assert scores(db_url, "1001") == before
    with open_gradebook(db_url) as gb:
        assert gb.find_assignment(ASSIGNMENT).num_submissions == 1
        assert gb.db.query(Grade).count() == len(CELLS)


def test_recording_a_changed_result_replaces_the_scores(db_url):
    record(db_url, result(automatic=1.0))
    record(db_url, result(automatic=0.0))
    assert scores(db_url, "1001") == {c.grade_id: (None, True) if c.written else (0.0, False) for c in CELLS}
    with open_gradebook(db_url) as gb:
        assert gb.db.query(Grade).count() == len(CELLS)


def test_missing_lists_students_without_a_submission(db_url):
    assert missing(db_url, ["1001", "1002"]) == ["1001", "1002"]
    record(db_url, result("1001"))
    record(db_url, result("1003", "Ana Pérez"))
    assert missing(db_url, ["1001", "1002", "1003", "1004"]) == ["1002", "1004"]


def test_cells_table_equals_the_generated_gradebook(db_url):
    with open_gradebook(db_url) as gb:
        generated = {nb.name: [(g.name, g.max_score) for g in nb.grade_cells]
                     for nb in gb.find_assignment(ASSIGNMENT).notebooks}
    assert generated == {nb: [(c.grade_id, c.points) for c in CELLS if c.notebook == nb] for nb in generated}
    assert sum(len(cells) for cells in generated.values()) == len(CELLS)


def test_cells_table_is_in_the_order_nbgrader_lists_a_submission(db_url):
    record(db_url, result())
    with open_gradebook(db_url) as gb:
        order = [g.name for nb in gb.find_submission(ASSIGNMENT, "1001").notebooks for g in nb.grades]
    assert order == [c.grade_id for c in CELLS]


def test_the_submissions_timestamp_is_when_it_was_handed_in(db_url):
    """formgrader's "Timestamp" column: the upload's time (UTC, as nbgrader keeps times), not "None"; a regrade of
    a newer upload moves it."""
    first = result()
    first.handed_in = "2026-11-30T21:14:05+01:00"
    record(db_url, first)
    with open_gradebook(db_url) as gb:
        assert gb.find_submission(ASSIGNMENT, "1001").timestamp == datetime(2026, 11, 30, 20, 14, 5)
    newer = result()
    newer.handed_in = "2026-12-01T08:30:00+00:00"
    record(db_url, newer)
    with open_gradebook(db_url) as gb:
        assert gb.find_submission(ASSIGNMENT, "1001").timestamp == datetime(2026, 12, 1, 8, 30)


def test_a_submission_is_handed_in_when_its_newest_notebook_was_uploaded(tmp_path):
    from autograder.ingest import Submission

    older, newer = tmp_path / "problem6.ipynb", tmp_path / "problem7.ipynb"
    older.write_text("{}")
    newer.write_text("{}")
    os.utime(older, (1_700_000_000, 1_700_000_000))
    os.utime(newer, (1_700_003_600, 1_700_003_600))
    assert Submission("1001", "Zoë", {"problem6": older, "problem7": newer}).handed_in == "2023-11-14T23:13:20+00:00"
    assert Submission("1002", "Jan").handed_in == ""
