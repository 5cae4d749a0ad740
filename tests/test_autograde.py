"""One student's grading pipeline (sanitize, nbgrader's real autograde in contained kernels, clean verdicts) on ps3:
full points for the reference, none for the untouched release, and a wrong answer loses exactly its own
sub-question. Runs real kernels and the full problem 5 training."""

from pathlib import Path

import pytest

from autograder.examples import Edit, edit_reference
from autograder.nbgrader_run import CourseDirectory
from autograder.release import ROOT, source_dir
from autograder.runner import CellResult, run_autograde

pytestmark = pytest.mark.training
NOTEBOOKS = ("problem5", "problem6", "problem7")


def edited(tmp: Path, edit: Edit) -> Path:
    """A copy of the reference notebook with one solution cell changed (a plausible student mistake)."""
    path = tmp / f"{edit.notebook}-{edit.grade_id}.ipynb"
    path.write_text(edit_reference(edit.notebook, [edit]))
    return path


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("submissions")
    reference = {n: source_dir() / f"{n}.ipynb" for n in NOTEBOOKS}
    release = {n: ROOT / "release" / "ps3" / f"{n}.ipynb" for n in NOTEBOOKS}
    wrong_p6 = {**reference, "problem6": edited(tmp, Edit(  # forgot sigma'
        "problem6", "delta_conv", r"\* sigma_prime\(z1\[x, y\]\)", ""))}
    wrong_p5 = {**reference, "problem5": edited(tmp, Edit(  # crops only
        "problem5", "make_augmentation", r"transforms\.RandomRotation\(15\), ", ""))}
    course = CourseDirectory.generate()
    request = {"seed": 12345, "out": str(tmp), "source": str(tmp)}
    try:
        graded = {}
        for student, notebooks in [("reference", reference), ("untouched", release),
                                   ("wrong_p6", wrong_p6), ("wrong_p5", wrong_p5)]:
            result = run_autograde(course.path, tmp / student / "course", student, notebooks, request)
            graded[student] = [CellResult(**c) for c in result["cells"]]
        yield graded
    finally:
        course.remove()


def auto(grades):
    return {g.grade_id: g.points for g in grades if not g.pending}


def test_reference_gets_every_automatic_point_and_manual_cells_are_pending(graded):
    grades = graded["reference"]
    automatic = [g for g in grades if not g.pending]
    assert {g.notebook for g in grades} == set(NOTEBOOKS)
    assert all(g.points == g.max_points == g.kernel_points for g in automatic), [g for g in automatic
                                                                                if g.points != g.max_points]
    assert sum(g.max_points for g in automatic) == 12.5  # 3.5 of the 16 points are graded by hand
    pending = {g.grade_id for g in grades if g.pending}
    assert pending == {"p5b_answer", "p5c_answer", "p6_answer", "p7b_answer"}
    assert sum(g.max_points for g in grades) == 16.0  # 6 + 6 + 4 points


def test_untouched_release_gets_zero_without_crashing(graded):
    grades = graded["untouched"]
    assert {g.grade_id for g in grades} == {g.grade_id for g in graded["reference"]}  # every cell was graded
    assert sum(auto(grades).values()) == 0
    # nbgrader scores a manual answer left as "YOUR ANSWER HERE" as 0 without asking a person
    assert not any(g.pending for g in grades)


@pytest.mark.parametrize("student, lost", [("wrong_p6", "p6_delta_conv_tests"), ("wrong_p5", "p5c_tests")])
def test_one_wrong_answer_loses_exactly_its_sub_question(graded, student, lost):
    reference, got = auto(graded["reference"]), auto(graded[student])
    assert got[lost] == 0
    message = next(g.message for g in graded[student] if g.grade_id == lost)
    assert {"p6_delta_conv_tests": "missing the factor sigma'(z1[x, y])", "p5c_tests": "rotated"}[lost] in message
    assert {k: v for k, v in got.items() if k != lost} == {k: v for k, v in reference.items() if k != lost}
