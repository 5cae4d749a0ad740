"""Repairing a submitted notebook against the release: answers kept, tests restored, tampering reported, and only
valid nbformat 4 written (nbgrader fails a whole submission on one invalid cell)."""

import nbformat
import pytest

from autograder.course import release_dir, source_dir
from autograder.submission import sanitize
from autograder.submission.sanitize import INVALID, repair, sanitize_all


def grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


@pytest.fixture
def release():
    return nbformat.read(release_dir() / "problem7.ipynb", as_version=4)


@pytest.fixture
def student():
    return nbformat.read(source_dir() / "problem7.ipynb", as_version=4)  # the reference answers, hidden tests too


def index(nb, wanted):
    return next(i for i, c in enumerate(nb.cells) if grade_id(c) == wanted)


def test_honest_submission_needs_no_repair_and_keeps_its_answers(release, student):
    result = repair(student, release, "problem7")
    assert (result.notes, result.tampered) == ([], False)
    assert [grade_id(c) for c in result.notebook.cells] == [grade_id(c) for c in release.cells]
    answer = result.notebook.cells[index(result.notebook, "relu_chain_gradient")]
    released = release.cells[index(release, "relu_chain_gradient")]
    assert "Heaviside" in answer.source and answer.metadata == released.metadata
    nbformat.validate(result.notebook)


def test_edited_deleted_and_duplicated_test_cells_are_restored_and_reported(release, student):
    student.cells[index(student, "p7_gradient_tests")].source = "pass"
    del student.cells[index(student, "p7_stability_tests")]
    twin = nbformat.from_dict(student.cells[index(student, "p7_activation_tests")])
    twin.source, twin["id"] = "assert True", "twin"
    student.cells.insert(index(student, "p7_activation_tests"), twin)
    result = repair(student, release, "problem7")
    assert result.tampered
    text = " ".join(result.notes)
    assert "'p7_gradient_tests' was changed" in text and "'p7_stability_tests' was deleted" in text
    assert "'p7_activation_tests' appears more than once" in text
    for wanted in ("p7_gradient_tests", "p7_stability_tests", "p7_activation_tests"):
        restored = [c for c in result.notebook.cells if grade_id(c) == wanted]
        assert len(restored) == 1 and restored[0].source == release.cells[index(release, wanted)].source


def test_student_cells_keep_their_place_and_lose_any_claimed_metadata(release, student):
    mine = nbformat.v4.new_code_cell("helper = 42")
    fake = nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": "bonus", "grade": True, "points": 99}})
    position = index(student, "relu_chain_gradient") + 1
    student.cells[position:position] = [mine, fake]
    result = repair(student, release, "problem7")
    cells = result.notebook.cells
    at = index(result.notebook, "relu_chain_gradient")
    assert [c.source for c in cells[at + 1: at + 3]] == ["helper = 42", "x = 1"]
    assert all("nbgrader" not in c.metadata for c in cells[at + 1: at + 3])
    assert "unknown id 'bonus'" in " ".join(result.notes) and not result.tampered
    assert len({c["id"] for c in cells}) == len(cells)  # ids unique
    nbformat.validate(result.notebook)


def test_missing_or_retyped_answers_and_fake_outputs(release, student):
    del student.cells[index(student, "gradient_is_stable")]
    retyped = student.cells[index(student, "relu_chain_gradient")]
    student.cells[index(student, "relu_chain_gradient")] = nbformat.v4.new_markdown_cell(
        retyped.source, metadata=retyped.metadata)
    tests = student.cells[index(student, "p7_activation_tests")]
    tests.outputs = [nbformat.v4.new_output("stream", text="all passed")]
    result = repair(student, release, "problem7")
    text = " ".join(result.notes)
    assert "'gradient_is_stable' is missing; the starter version was put back" in text
    assert "was turned into a markdown cell" in text
    assert result.notebook.cells[index(result.notebook, "relu_chain_gradient")].cell_type == "code"
    assert all(not c.get("outputs") for c in result.notebook.cells)
    assert not result.tampered  # answers only: nothing a test depends on was touched


def student_cell(**fields) -> nbformat.NotebookNode:
    """A cell as nbformat reads it from a student's file: it only logs what is invalid."""
    return nbformat.from_dict({"id": "my-own-cell", "metadata": {}, **fields})


INVALID_EXTRAS = {
    "dict source": student_cell(cell_type="code", source={"lines": "x = 1"}, outputs=[], execution_count=None),
    "unknown type": student_cell(cell_type="widget", source="x = 2"),
    "no source": student_cell(cell_type="markdown"),
    "invalid metadata": student_cell(cell_type="markdown", source="# notes", metadata={"tags": "not a list"}),
}


@pytest.mark.parametrize("cell", INVALID_EXTRAS.values(), ids=INVALID_EXTRAS.keys())
def test_an_invalid_cell_of_the_students_own_is_left_out_with_its_position(release, student, cell):
    position = index(student, "relu_chain_gradient") + 1
    student.cells.insert(position, cell)
    student.cells.insert(position + 1, nbformat.v4.new_code_cell("helper = 42"))
    result = repair(student, release, "problem7")
    assert result.notes == [f"problem7: cell {position + 1} of the notebook handed in is {INVALID}; it was left out"]
    assert not result.tampered
    at = index(result.notebook, "relu_chain_gradient")
    assert result.notebook.cells[at + 1].source == "helper = 42"  # the valid one after it keeps its place
    assert len(result.notebook.cells) == len(release.cells) + 1
    nbformat.validate(result.notebook)


@pytest.mark.parametrize("fields", [{"source": {"lines": "return 1"}}, {"cell_type": "widget", "source": {"x": 1}},
                                    {"source": None}], ids=["dict source", "unknown type", "no text"])
def test_an_invalid_answer_cell_gives_way_to_the_starter_cell(release, student, fields):
    answer = student.cells[index(student, "relu_chain_gradient")]
    answer.update(fields)
    result = repair(student, release, "problem7")
    assert f"problem7: answer cell 'relu_chain_gradient' is {INVALID}; the starter version was put back" in result.notes
    assert result.notebook.cells[index(result.notebook, "relu_chain_gradient")].source == \
        release.cells[index(release, "relu_chain_gradient")].source
    assert not result.tampered
    nbformat.validate(result.notebook)


def test_an_answer_of_an_unknown_type_with_a_valid_source_is_kept_as_the_cell_it_was(release, student):
    answer = student.cells[index(student, "relu_chain_gradient")]
    answer.cell_type = "widget"
    result = repair(student, release, "problem7")
    kept = result.notebook.cells[index(result.notebook, "relu_chain_gradient")]
    assert kept.cell_type == "code" and "Heaviside" in kept.source
    assert result.notes == ["problem7: answer cell 'relu_chain_gradient' was turned into a widget cell; it is graded "
                            "as the code cell it was"]


def test_sanitize_all_writes_only_valid_notebooks_each_on_its_own(tmp_path, monkeypatch):
    """nbgrader fails a whole submission on one invalid notebook: one that still is not valid once repaired is
    replaced by the release's (its cells score 0), the student's others are kept."""
    submitted = {}
    for name in ("problem6", "problem7"):
        submitted[name] = tmp_path / "in" / f"{name}.ipynb"
        submitted[name].parent.mkdir(exist_ok=True)
        notebook = nbformat.read(source_dir() / f"{name}.ipynb", as_version=4)
        notebook.cells.insert(1, INVALID_EXTRAS["dict source"])
        nbformat.write(notebook, submitted[name], version=nbformat.NO_CONVERT)
    real_repair = sanitize.repair

    def repair_that_misses_something(student, release, name):
        result = real_repair(student, release, name)
        if name == "problem7":
            result.notebook.cells.append(INVALID_EXTRAS["unknown type"])
        return result
    monkeypatch.setattr(sanitize, "repair", repair_that_misses_something)
    repaired, notes, tampered, _ = sanitize_all(submitted, release_dir(), tmp_path / "out")
    assert notes == [f"problem6: cell 2 of the notebook handed in is {INVALID}; it was left out",
                     f"problem7: cell 2 of the notebook handed in is {INVALID}; it was left out",
                     "problem7: could not be repaired into a valid notebook; the release's notebook was graded in its "
                     "place, and its cells score 0"]
    assert nbformat.read(repaired["problem7"], as_version=4) == nbformat.read(release_dir() / "problem7.ipynb",
                                                                               as_version=4)
    six = nbformat.read(repaired["problem6"], as_version=4)
    nbformat.validate(six)
    assert "delta_output" in "".join(c.source for c in six.cells) and not tampered


def test_a_failure_of_the_starter_code_put_back_says_so_and_a_pass_says_nothing():
    """A re-typed notebook (no cell carries nbgrader's metadata): the grader put the starter code back, so a test's
    failure is the starter's NotImplementedError, and its message must say that, not blame the student's code."""
    from autograder.judge.verdicts import CellVerdict
    from autograder.submission.score import STARTER_GRADED, score
    from autograder.submission.scratch import CellGrade

    grades = [CellGrade("problem6", "p6_backward_tests", 1.0, 1.0, False),
              CellGrade("problem7", "p7_stability_tests", 1.0, 1.0, False)]
    failed = CellVerdict(False, "conv_net_backward failed on a 6x6 input: NotImplementedError", mistake="raised",
                         scrubbed="conv_net_backward failed on a 6x6 input: …")
    verdicts = {"p6_backward_tests": failed, "p7_stability_tests": CellVerdict(True)}
    cells, _ = score(grades, verdicts, {}, restored={"conv_net_backward", "gradient_is_stable"})
    prefix = STARTER_GRADED.format("conv_net_backward")
    assert cells[0].message == prefix + failed.message and cells[0].scrubbed.startswith(prefix)
    assert "typed into a new notebook" in cells[0].message and cells[1].message == ""
    cells, _ = score(grades, verdicts, {})
    assert cells[0].message == failed.message


def test_the_answers_put_back_are_named(release):
    student = nbformat.v4.new_notebook()
    student.cells = [nbformat.v4.new_code_cell(c.source) for c in release.cells if c.cell_type == "code"]
    result = repair(student, release, "problem7")  # re-typed: the same code, no nbgrader metadata
    answers = {grade_id(c) for c in release.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    assert result.restored == answers and answers
