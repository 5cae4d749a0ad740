"""A person's grades in the gradebook (what a TA saves in formgrader) survive regrading: kept when the answer is the
same, kept but stale and flagged when it changed; the reports read them (sqlite gradebooks in tmp_path)."""

from autograder.cells import CELLS
from autograder.course import ASSIGNMENT, open_gradebook
from autograder.outputs.gradebook import STALE, final_results, record
from autograder.results import CellResult, SubmissionResult
from autograder.submission.formgrader_copies import digest


def result(answers: dict[str, str] | None = None, student="1001") -> SubmissionResult:
    """Every automatic cell right; each written answer has a text (``answers`` changes some) and waits for a person."""
    texts = {c.grade_id: f"my answer to {c.label}" for c in CELLS if c.written} | (answers or {})
    cells = [CellResult(c.notebook, c.grade_id, None if c.written else c.points, c.points,
                        answer_digest=digest(texts[c.grade_id]) if c.written else "") for c in CELLS]
    return SubmissionResult(student, "Zoë Müller", "graded", cells)


def save_in_formgrader(db_url, grade_id, notebook, score=None, comment=None, student="1001"):
    """What formgrader's API does when a TA saves a score or a comment (nbgrader's formgrader apihandlers)."""
    with open_gradebook(db_url) as gb:
        if score is not None:
            grade = gb.find_grade(grade_id, notebook, ASSIGNMENT, student)
            grade.manual_score = score
            grade.needs_manual_grade = grade.manual_score is None and grade.auto_score is None
        if comment is not None:
            gb.find_comment(grade_id, notebook, ASSIGNMENT, student).manual_comment = comment
        gb.db.commit()


def stored(db_url, grade_id, notebook, student="1001"):
    with open_gradebook(db_url) as gb:
        grade = gb.find_grade(grade_id, notebook, ASSIGNMENT, student)
        comment = gb.find_comment(grade_id, notebook, ASSIGNMENT, student) if grade_id.endswith("answer") else None
        flagged = gb.find_submission_notebook(notebook, ASSIGNMENT, student).flagged
        return grade.manual_score, grade.needs_manual_grade, comment and comment.manual_comment, flagged


def test_a_regrade_of_the_same_answers_keeps_the_hand_grade(db_url):
    first = result()
    record(db_url, first)
    save_in_formgrader(db_url, "p5b_answer", "problem5", 0.5, "Cite the measured accuracies.")
    record(db_url, result(), previous=first)  # --force, or a mended hidden test: the same answers
    assert stored(db_url, "p5b_answer", "problem5") == (0.5, False, "Cite the measured accuracies.", False)
    assert stored(db_url, "p5c_answer", "problem5")[:2] == (None, True)  # never graded: still waiting


def test_a_changed_answer_keeps_the_grade_but_marks_it_stale_and_flags_the_notebook(db_url):
    first = result()
    record(db_url, first)
    save_in_formgrader(db_url, "p5b_answer", "problem5", 0.5, "Cite the measured accuracies.")
    save_in_formgrader(db_url, "p7b_answer", "problem7", 1.0, "Good.")
    changed = result({"p5b_answer": "a new answer, written after the deadline"})
    record(db_url, changed, previous=first)
    score, needs, comment, flagged = stored(db_url, "p5b_answer", "problem5")
    assert (score, needs, flagged) == (0.5, True, True)
    assert comment == f"{STALE} Cite the measured accuracies."
    assert stored(db_url, "p7b_answer", "problem7") == (1.0, False, "Good.", False)  # unchanged answer

    record(db_url, changed, previous=changed)  # graded again: marked once, still waiting for the TA
    assert stored(db_url, "p5b_answer", "problem5")[1:3] == (True, f"{STALE} Cite the measured accuracies.")
    final, = final_results(db_url, [changed])
    cell = next(c for c in final.cells if c.grade_id == "p5b_answer")
    assert cell.points is None and not final.final and any("flagged" in r for r in final.review)

    save_in_formgrader(db_url, "p5b_answer", "problem5", 1.0)  # the TA looks again and saves
    final, = final_results(db_url, [changed])
    assert next(c for c in final.cells if c.grade_id == "p5b_answer").points == 1.0


def test_a_hand_override_of_an_automatic_cell_survives_regrading(db_url):
    record(db_url, result())
    save_in_formgrader(db_url, "p6_delta_pool_tests", "problem6", 0.0)
    record(db_url, result(), previous=result())
    assert stored(db_url, "p6_delta_pool_tests", "problem6")[:2] == (0.0, False)


def test_final_results_add_the_hand_points_and_comments(db_url):
    graded = result()
    record(db_url, graded)
    for cell in CELLS:
        if cell.written:
            save_in_formgrader(db_url, cell.grade_id, cell.notebook, cell.points / 2, f"comment on {cell.label}")
    final, = final_results(db_url, [graded])
    assert (final.automatic_points, final.hand_points, final.total_points, final.pending_points) == (12.5, 1.75,
                                                                                                     14.25, 0)
    assert final.final
    assert {c.grade_id: c.comment for c in final.cells if c.comment} == \
        {c.grade_id: f"comment on {c.label}" for c in CELLS if c.written}


def test_a_student_the_gradebook_lacks_is_reported_as_graded(db_url):
    graded = result(student="2002")
    assert final_results(db_url, [graded]) == [graded]
