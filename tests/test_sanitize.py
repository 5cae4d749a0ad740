"""Repairing a submitted notebook against the release: answers kept, tests restored, tampering reported."""

import nbformat
import pytest

from autograder.course import release_dir, source_dir
from autograder.submission.sanitize import repair


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
