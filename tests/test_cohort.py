"""The acceptance cohort (tests/cohort.py): realistic students, graded in one batch by the real command line, must
get exactly the points decided for them before grading. A fast test checks the cohort itself."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.ingest import ingest
from cohort import (NOTEBOOKS, PROBLEM5_SAMPLE, RELEASE, STUDENTS, TESTED, ci_cohort, expected, fill_answer,
                    graded_cells, markdown_table, notebook, write_moodle_zip)

# No student loops forever, so the limit only has to fit honest work: an augmentation the lab cannot batch
# (nn.Sequential, Resize, CenterCrop) runs image by image, about a minute for part (c)'s three runs on one core.
CELL_TIMEOUT = 300


def _solution_cells(name: str) -> dict[str, str]:
    """grade id -> source of every answer cell the release hands out in notebook ``name``."""
    cells = nbformat.read(RELEASE / f"{name}.ipynb", as_version=4).cells
    return {c.metadata.nbgrader.grade_id: c.source for c in cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def _points(value) -> str:
    return "pending" if value is None else f"{value:g}"


def differences(results: dict, students=STUDENTS, notebooks=NOTEBOOKS) -> list[str]:
    """Every student/cell whose result differs from its expectation (points, or a message that must name the
    mistake), and every student missing, extra or not fully graded. ``results``: student id -> result JSON."""
    rows = []
    for s in students:
        result = results.get(str(s.pid))
        if result is None:
            rows.append(f"{s.name} ({s.pid}): no result")
            continue
        if result["status"] != "graded":
            rows.append(f"{s.name} ({s.pid}): status {result['status']}, expected graded ({result['notes']})")
        cells = {c["grade_id"]: c for c in result["cells"]}
        for grade_id, want in expected(s, notebooks).items():
            got = cells.get(grade_id, {"points": "absent", "message": ""})
            message = got.get("message") or ""
            if got["points"] == want.points and want.says.lower() in message.lower():
                continue
            because = want.reason or ("answered: for a person" if want.points is None else "full marks")
            says = f"; message must contain {want.says!r}" if want.says else ""
            rows.append(f"{s.name} ({s.pid}) {grade_id}: expected {_points(want.points)} ({because}{says}), "
                        f"got {_points(got['points'])}: {message!r}")
    for extra in sorted(set(results) - {str(s.pid) for s in students}):
        rows.append(f"{extra}: graded but not in the cohort")
    return rows


def test_the_cohort_is_complete_and_decided():
    """At least 32 students with unique ids; every graded cell of every submitted notebook has an expectation,
    with a reason where it is not full marks; every answer cell of a submitted notebook is answered on purpose."""
    cells = graded_cells()
    assert set(TESTED) == {g for g, (_, _, automatic) in cells.items() if automatic}, \
        "every automatically graded test cell must name the answer cell it judges"
    assert len(STUDENTS) >= 32
    assert len({s.pid for s in STUDENTS}) == len(STUDENTS), "participant ids must be unique"
    assert len({s.name for s in STUDENTS}) == len(STUDENTS), "names must be unique"
    problems = []
    for s in STUDENTS:
        expect = expected(s)
        for grade_id, (name, points, _) in cells.items():
            want = expect.get(grade_id)
            if want is None:
                problems.append(f"{s.name}: no expectation for {grade_id}")
            elif want.points is not None and want.points != points and not want.reason:
                problems.append(f"{s.name}: {grade_id} loses points without a reason ({want.reason!r})")
        answers = {a.cell for a in s.answers}
        for name in s.files:
            handed_out = _solution_cells(name)
            problems += [f"{s.name}: no answer picked for {name}/{cell}" for cell in handed_out if cell not in answers]
        known = {cell for name in NOTEBOOKS for cell in _solution_cells(name)}
        problems += [f"{s.name}: {cell} is no answer cell of the release" for cell in answers - known]
    assert not problems, "\n".join(problems)
    with_mistakes = [s.name for s in STUDENTS if any(e.reason and e.points == 0 for e in expected(s).values()
                                                     if e.reason != "notebook not submitted")]
    assert len(with_mistakes) >= 10


def test_every_answer_is_python_that_compiles():
    """Mistakes in the cohort are mistakes of substance: no answer is broken by the way it was pasted in."""
    sources = {cell: src for name in NOTEBOOKS for cell, src in _solution_cells(name).items()}
    broken = []
    for s in STUDENTS:
        for answer in s.answers:
            if isinstance(answer.code, (str, tuple)) and not answer.cell.endswith("_answer"):
                try:
                    compile(fill_answer(sources[answer.cell], answer.code), f"{s.name}/{answer.cell}", "exec")
                except SyntaxError as exc:
                    broken.append(f"{s.name}/{answer.cell}: {exc}")
    assert not broken, "\n".join(broken)


def test_the_moodle_zip_ingests_into_exactly_the_cohort(tmp_path):
    archive = write_moodle_zip(tmp_path / "ps3-download-all.zip")
    submissions = ingest(archive, tmp_path / "scratch")
    assert {s.student_id: s.name for s in submissions} == {str(s.pid): s.name for s in STUDENTS}
    by_id = {s.student_id: s for s in submissions}
    for student in STUDENTS:
        got = by_id[str(student.pid)]
        assert set(got.notebooks) == set(student.files), (student.name, got.notes)
        for name, path in got.notebooks.items():  # nested folders and zips arrive intact
            assert path.read_text() == notebook(student, name), (student.name, name)


def _grade_and_compare(tmp_path: Path, students) -> None:
    """``students`` in one Moodle zip through `python -m autograder grade`, then the whole table at once."""
    archive = write_moodle_zip(tmp_path / "ps3-download-all.zip", students)
    out = tmp_path / "graded"
    command = [sys.executable, "-m", "autograder", "grade", str(archive), "--out", str(out), "--workers", "2",
               "--no-progress", "--cell-timeout", str(CELL_TIMEOUT)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3 * 3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = {r["student_id"]: r for r in (json.loads(p.read_text()) for p in (out / "results").glob("*.json"))}
    wrong = differences(results, students)
    assert not wrong, f"{len(wrong)} differences from the cohort's expectations:\n" + "\n".join(wrong)


@pytest.mark.slow
def test_the_cohort_gets_its_grades(tmp_path):
    """CI's cohort (cohort.ci_cohort): every student's problems 6 and 7, problem 5 of the sample."""
    _grade_and_compare(tmp_path, ci_cohort())


@pytest.mark.slow
@pytest.mark.acceptance
def test_the_whole_cohort_gets_its_grades(tmp_path):
    """Every notebook of every student (`make acceptance`: about 50 minutes on the 2-core machine)."""
    _grade_and_compare(tmp_path, STUDENTS)


def test_the_ci_cohort_keeps_every_student_and_samples_each_kind_of_problem5():
    """CI's cohort leaves nobody out, and its problem-5 sample holds both valid networks and each kind of 5a, 5b
    and 5c mistake (a sample of only right answers would pass a grader that gives everyone full marks)."""
    ci = ci_cohort()
    assert [s.pid for s in ci] == [s.pid for s in STUDENTS]
    assert set(PROBLEM5_SAMPLE) <= {s.pid for s in STUDENTS}
    sampled = [s for s in ci if "problem5" in s.files]
    assert {s.pid for s in sampled} == set(PROBLEM5_SAMPLE)
    lost = {g for s in sampled for g, e in expected(s).items() if g.startswith("p5") and e.points == 0}
    kept = {g for s in sampled for g, e in expected(s).items() if g.startswith("p5") and e.points}
    assert {"p5a_tests", "p5b_tests", "p5c_tests"} <= lost & kept
    for s in ci:
        if s.pid not in PROBLEM5_SAMPLE:
            assert all(e.reason == "notebook not submitted" for g, e in expected(s).items() if g.startswith("p5"))


def test_the_readme_shows_the_cohort_as_it_is():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert markdown_table() in readme, "README's cohort table is stale: paste `python tests/cohort.py --table`"
