"""The notebooks kept for formgrader, on the released notebooks in tmp_path (no kernel): the grader's verdict
under each automatically graded cell, the submitted notebook shown when a later kernel spoiled the executed one,
and the written answers' digests."""

import nbformat

from autograder.cells import CELLS, JUDGED
from autograder.course import release_dir
from autograder.results import CellResult
from autograder.submission.formgrader_copies import (VERDICT_MARK, answer_texts, digest, for_formgrader,
                                                     set_answer_digests)


def cells_of(notebook: str, failed: str) -> list[CellResult]:
    return [CellResult(c.notebook, c.grade_id, None if c.written else (0.0 if c.grade_id == failed else c.points),
                       c.points, "expected 0 < x & y > 1" if c.grade_id == failed else "")
            for c in CELLS if c.notebook == notebook]


def submitted_and_executed(tmp_path, answer="My written answer: use leaky ReLU."):
    notebook = nbformat.read(release_dir() / "problem7.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "p7b_answer":
            cell.source = answer
    submitted = tmp_path / "sanitized" / "problem7.ipynb"
    submitted.parent.mkdir(parents=True)
    nbformat.write(notebook, submitted)
    executed = tmp_path / "autograded" / "problem7.ipynb"
    executed.parent.mkdir(parents=True)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    nbformat.write(notebook, executed)
    return {"problem7": submitted}, executed


def by_id(text: str) -> dict:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.reads(text, as_version=4).cells
            if "grade_id" in c.metadata.get("nbgrader", {})}


def test_each_automatic_cell_shows_the_graders_verdict(tmp_path):
    submitted, executed = submitted_and_executed(tmp_path)
    notes = []
    kept = for_formgrader(submitted, executed.parent, cells_of("problem7", "p7_gradient_tests"), notes)
    assert sorted(kept) == ["autograded/problem7.ipynb", "submitted/problem7.ipynb"] and notes == []
    cells = by_id(kept["autograded/problem7.ipynb"])
    failed = cells["p7_gradient_tests"].outputs
    assert failed[0].text == "ran\n"  # the kernel's own output stays
    assert failed[-1].name == "stderr"
    assert failed[-1].text == f"{VERDICT_MARK} 0 / 1 points: expected 0 < x & y > 1\n"
    assert cells["p7_stability_tests"].outputs[-1].text == f"{VERDICT_MARK} 1 / 1 points\n"
    tests = {c.grade_id for c in JUDGED if c.notebook == "problem7"}
    assert all(VERDICT_MARK not in str(c.get("outputs", "")) for k, c in cells.items() if k not in tests)
    assert cells["p7b_answer"].source == "My written answer: use leaky ReLU."
    assert kept["submitted/problem7.ipynb"] == submitted["problem7"].read_text()


def test_a_spoiled_executed_notebook_is_replaced_by_the_submitted_one(tmp_path):
    submitted, executed = submitted_and_executed(tmp_path)
    spoiled = nbformat.read(executed, as_version=4)
    next(c for c in spoiled.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "p7b_answer").source = \
        "an answer the student did not hand in"
    nbformat.write(spoiled, executed)
    notes = []
    kept = for_formgrader(submitted, executed.parent, cells_of("problem7", ""), notes)
    assert notes == ["problem7: the executed notebook was changed by the submission's own code; formgrader shows "
                     "the notebook as submitted, without outputs"]
    cells = by_id(kept["autograded/problem7.ipynb"])
    assert cells["p7b_answer"].source == "My written answer: use leaky ReLU."
    assert cells["p7_gradient_tests"].outputs[-1].text.startswith(f"{VERDICT_MARK} 1 / 1")

    executed.write_text("not a notebook")
    notes.clear()
    assert by_id(for_formgrader(submitted, executed.parent, cells_of("problem7", ""), notes)
                 ["autograded/problem7.ipynb"])["p7b_answer"].source == "My written answer: use leaky ReLU."
    assert len(notes) == 1


def test_written_answers_get_the_digest_of_their_text(tmp_path):
    submitted, _ = submitted_and_executed(tmp_path)
    cells = cells_of("problem7", "")
    set_answer_digests(cells, submitted)
    written = next(c for c in cells if c.grade_id == "p7b_answer")
    assert written.answer_digest == digest("My written answer: use leaky ReLU.")
    assert answer_texts(submitted["problem7"])["p7b_answer"] == "My written answer: use leaky ReLU."
    assert all(c.answer_digest == "" for c in cells if not c.written)
    other, _ = submitted_and_executed(tmp_path / "other", answer="My written answer: use leaky ReLU.  \n")
    assert set_answer_digests(again := cells_of("problem7", ""), other) is None
    assert next(c for c in again if c.grade_id == "p7b_answer").answer_digest == written.answer_digest
