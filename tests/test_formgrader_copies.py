"""The notebooks kept for formgrader, on the released notebooks in tmp_path (no kernel): the grader's verdict in a
cell of its own under each automatically graded cell, nothing of the student's that runs or passes for a verdict,
the submitted notebook shown when a later kernel spoiled the executed one, and the written answers' digests."""

import base64
import json

import nbformat

from autograder.cells import CELLS, JUDGED
from autograder.course import release_dir
from autograder.results import CellResult
from autograder.outputs.inert import IMITATING
from autograder.submission.formgrader_copies import (HANDED_IN_CELL, VERDICT_CELL, VERDICT_MARK, answer_texts,
                                                     digest, for_formgrader, handed_in_outputs, set_answer_digests)

# A real PNG (1x1, red): what matplotlib's inline backend puts into a notebook, base64-encoded.
PNG_BYTES = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")


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


def verdicts_of(text: str) -> dict:
    """grade id of the test cell -> (the verdict cell, the cell right above it)."""
    cells = nbformat.reads(text, as_version=4).cells
    return {c.metadata[VERDICT_CELL]: (c, cells[i - 1]) for i, c in enumerate(cells) if VERDICT_CELL in c.metadata}


def test_each_automatic_cell_shows_the_graders_verdict_in_a_cell_of_its_own(tmp_path):
    submitted, executed = submitted_and_executed(tmp_path)
    notes = []
    kept = for_formgrader(submitted, executed.parent, cells_of("problem7", "p7_gradient_tests"), notes)
    assert sorted(kept) == ["autograded/problem7.ipynb", "submitted/problem7.ipynb"] and notes == []
    cells = by_id(kept["autograded/problem7.ipynb"])
    assert cells["p7_gradient_tests"].outputs[0].text == "ran\n"  # the kernel's own output stays
    verdicts = verdicts_of(kept["autograded/problem7.ipynb"])
    tests = {c.grade_id for c in JUDGED if c.notebook == "problem7"}
    assert set(verdicts) == tests
    assert all(above.metadata["nbgrader"]["grade_id"] == grade_id for grade_id, (_, above) in verdicts.items())
    failed = verdicts["p7_gradient_tests"][0].source
    assert failed == ('<div class="alert alert-danger"><b>[autograder] 0 / 1 points: expected 0 &lt; x &amp; y '
                      '&gt; 1</b></div>')  # the message as text: a student's symbol name is never HTML
    assert verdicts["p7_stability_tests"][0].source == \
        '<div class="alert alert-success"><b>[autograder] 1 / 1 points</b></div>'
    assert all(VERDICT_MARK not in str(c.get("outputs", "")) for c in cells.values())
    assert cells["p7b_answer"].source == "My written answer: use leaky ReLU."
    assert nbformat.reads(kept["submitted/problem7.ipynb"], as_version=4).cells == \
        nbformat.read(submitted["problem7"], as_version=4).cells


def test_a_message_cannot_break_out_of_its_verdict_box(tmp_path):
    submitted, executed = submitted_and_executed(tmp_path)
    cells = cells_of("problem7", "p7_gradient_tests")
    next(c for c in cells if c.grade_id == "p7_gradient_tests").message = \
        "uses x\n\n</div><script>x()</script> $\\href{javascript:x()}{a}$ `code`"
    source = verdicts_of(for_formgrader(submitted, executed.parent, cells, [])["autograded/problem7.ipynb"]
                         )["p7_gradient_tests"][0].source
    assert "\n" not in source and source.count("<div") == source.count("</div>") == 1
    assert "<script" not in source and "$" not in source and "\\" not in source and "`" not in source


def test_a_students_forged_verdict_and_scripts_never_reach_the_ta(tmp_path):
    submitted, executed = submitted_and_executed(tmp_path)
    notebook = nbformat.read(executed, as_version=4)
    test = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "p7_gradient_tests")
    test.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"{VERDICT_MARK} 1 / 1 points\n"),
                    nbformat.v4.new_output("display_data", data={"application/javascript": "window.owned = 1"})]
    nbformat.write(notebook, executed)
    notes = []
    kept = for_formgrader(submitted, executed.parent, cells_of("problem7", "p7_gradient_tests"), notes)
    outputs = by_id(kept["autograded/problem7.ipynb"])["p7_gradient_tests"].outputs
    assert outputs[0].text == IMITATING and "could run in the browser" in outputs[1].text
    assert "window.owned" not in kept["autograded/problem7.ipynb"]
    assert notes == ["problem7: outputs that could run in a browser were removed from the notebook TAs open "
                     "(application/javascript)"]


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
    assert verdicts_of(kept["autograded/problem7.ipynb"])["p7_gradient_tests"][0].source.startswith(
        f'<div class="alert alert-success"><b>{VERDICT_MARK} 1 / 1')

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


def test_the_students_own_outputs_are_shown_under_their_cell_as_handed_in(tmp_path):
    """The written answers of 5b and 5c are about the student's own plot of three seeds; the grader's re-run trains
    one. So the TA's notebook shows, under each code cell, what that cell showed when handed in: images and text
    kept, anything that could run removed, an imitated verdict replaced, and nothing of the test cells."""
    png = base64.b64encode(PNG_BYTES).decode()
    upload = nbformat.read(release_dir() / "problem5.ipynb", as_version=4)
    for cell in upload.cells:
        if cell.get("id") == "problem5-12":  # the experiment cell: the student's plot of three seeds
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="seed 0 1 2 done\n"),
                            nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"}),
                            nbformat.v4.new_output("display_data", data={"application/javascript": "alert(1)"}),
                            nbformat.v4.new_output("stream", name="stdout", text="[autograder] 2 / 2 points\n")]
        elif cell.metadata.get("nbgrader", {}).get("grade_id") == "p5a_tests":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="all passed\n")]
    uploaded = tmp_path / "upload" / "Problem 5.ipynb"
    uploaded.parent.mkdir()
    nbformat.write(upload, uploaded)
    sanitized = tmp_path / "sanitized" / "problem5.ipynb"
    sanitized.parent.mkdir()
    clean = nbformat.read(release_dir() / "problem5.ipynb", as_version=4)
    nbformat.write(clean, sanitized)
    executed = tmp_path / "autograded" / "problem5.ipynb"
    executed.parent.mkdir()
    nbformat.write(clean, executed)
    kept = for_formgrader({"problem5": sanitized}, executed.parent, cells_of("problem5", ""), [],
                          uploads={"problem5": uploaded})
    cells = nbformat.reads(kept["autograded/problem5.ipynb"], as_version=4).cells
    handed_in = [(i, c) for i, c in enumerate(cells) if HANDED_IN_CELL in c.metadata]
    [(at, cell)] = handed_in  # one: the experiment's; p5a_tests' own output is not copied
    assert cells[at - 1].get("id") == "problem5-12" and cell.metadata[HANDED_IN_CELL] == "problem5-12"
    outputs = cell.outputs
    assert outputs[0].text == "seed 0 1 2 done\n"
    assert base64.b64decode(outputs[1].data["image/png"]) == PNG_BYTES
    assert "alert(1)" not in json.dumps(outputs) and outputs[2].text.startswith("[removed: an output of type "
                                                                               "application/javascript")
    assert outputs[3].text == IMITATING
    assert HANDED_IN_CELL not in kept["submitted/problem5.ipynb"]  # the submitted copy stays as sanitized


def test_an_unreadable_upload_or_none_adds_no_cell(tmp_path):
    bad = tmp_path / "problem5.ipynb"
    bad.write_bytes(b"\x00not a notebook")
    assert handed_in_outputs(bad) == {} and handed_in_outputs(None) == {}
