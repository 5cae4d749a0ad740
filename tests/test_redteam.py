"""The red-team suite: adversarial submissions (autograder/testing/redteam.py) graded in one batch beside an honest
student.

Every attack must get exactly its expected points and message (an attack that may spoil its own answers: at most
its points), never the status ``error``, within its time limit plus 30 s; none may change the honest student's
grade, the gradebook or files outside its own folder, and nothing it started may outlive the batch.
"""

import csv
import html
import json
import os
import shutil
from pathlib import Path

import nbformat

import psutil
import pytest

from autograder.isolation import sandbox
from autograder.batch import grade_batch
from autograder.course import ASSIGNMENT, ROOT, open_gradebook
from autograder.testing.examples import EXAMPLES
from autograder.cells import JUDGED
from autograder.outputs import similarity
from autograder.outputs.inert import IMITATING, KEPT_MIME, MARK
from autograder.outputs.reports import summary_table
from autograder.submission.formgrader_copies import HANDED_IN_CELL, VERDICT_CELL
from autograder.testing.redteam import (ATTACKS, CANARY, CANARY_VARIABLE, ESCAPE_FOLDER, FORGED, FORMULA_FOLDER,
                                        OWNED, SCRIPT, SECOND_COPY, SYMLINK_TARGET, build)
from autograder.text import FORMULA_START
from helpers import FAST_LIMITS, fast, ps3_folders

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sandbox.available(),
                                 reason="containment needs root, bubblewrap and user namespaces")]


@pytest.fixture(scope="module")
def second_copy():
    """A world-readable copy of the reference answers outside every folder the grader knows of (a second clone,
    a backup): the kernel's allow-list view must not show it."""
    copy = Path(SECOND_COPY)
    shutil.copytree(ROOT / "solutions", copy / "solutions", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield copy
    shutil.rmtree(copy)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, second_copy):
    submissions = tmp_path_factory.mktemp("redteam-submissions")
    build(submissions)
    shutil.copytree(EXAMPLES / "reference", submissions / "honest")
    (submissions / "honest" / "canary.txt").write_text("untouched")
    out = tmp_path_factory.mktemp("redteam-graded")
    before = ps3_folders()
    os.environ[CANARY_VARIABLE] = CANARY  # a secret of the grader's: the env_canary attack looks for it
    try:
        by_folder = {r.name: r for r in grade_batch(submissions, out, fast())}
    finally:
        del os.environ[CANARY_VARIABLE]
    results = {name: by_folder[attack.student_folder(name)] for name, attack in ATTACKS.items()}
    results["honest"] = by_folder["honest"]
    return submissions, out, results, ps3_folders() - before


def test_there_are_at_least_twenty_attacks():
    assert len(ATTACKS) >= 20


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_gets_its_expected_score_and_message(graded, name):
    attack, result = ATTACKS[name], graded[2][name]
    texts = [c.message for c in result.cells] + result.notes + result.review
    cells = [(c.grade_id, c.points, c.message) for c in result.cells]
    if attack.spoils_itself:  # its own answers may be lost, never the grading
        assert result.automatic_points <= attack.automatic, (name, cells)
    else:
        assert result.automatic_points == attack.automatic, (name, cells)
    assert result.status != "error", (name, result.notes)
    assert result.seconds <= FAST_LIMITS.submission_seconds("cpu") + 30, (name, result.seconds)
    if attack.message:
        assert any(attack.message in text for text in texts), (name, texts)
    assert bool(result.review) == attack.review, (name, result.review)
    assert result.contained


def test_student_html_stays_text_in_every_report(graded):
    out, result = graded[1], graded[2]["html_in_symbol"]
    assert any(SCRIPT in c.message for c in result.cells)  # the message quotes the symbol's name...
    page = (out / "feedback" / "html_in_symbol.html").read_text()
    assert "<script>" not in page and html.escape(SCRIPT) in page  # ...escaped in the feedback page
    report = json.loads((out / "gradescope" / "html_in_symbol" / "results.json").read_text())
    assert report["output_format"] == report["test_output_format"] == "text"  # ...and plain text on Gradescope
    assert all(test["output_format"] == "text" for test in report["tests"])
    assert any(SCRIPT in test["output"] for test in report["tests"])
    # ...and its answer code, compared with the class's in the class report's code similarity, stays text there
    sim = similarity.compare(similarity.read_folder(out))
    assert "html_in_symbol" in sim.students
    section = similarity.section(sim, {student: student for student in sim.students})
    assert SCRIPT not in section and SCRIPT not in (out / "class-report" / "class-report.html").read_text()


def test_no_runtime_folder_is_left_on_the_machine(graded):
    assert graded[3] == set()


def test_honest_student_and_shared_files_are_untouched(graded):
    submissions, out, results, _ = graded
    honest = results["honest"]
    assert (honest.automatic_points, honest.pending_points, honest.status, honest.review) == (12.5, 3.5, "graded", [])
    assert (submissions / "honest" / "canary.txt").read_text() == "untouched"
    assert not (submissions / "honest" / ASSIGNMENT / "canary.txt").exists()
    assert not (out / "results" / "canary.txt").exists()
    for name in ("/tmp/left-behind.txt", "/var/tmp/left-behind.txt", "/dev/shm/left-behind.txt"):
        assert not shutil.os.path.exists(name), f"a submission wrote {name} on the grading machine"
    assert not shutil.os.path.lexists(SYMLINK_TARGET), "root wrote through a symlink a kernel planted"


def test_gradebook_holds_exactly_the_clean_grades(graded):
    _, out, results, _ = graded
    with open_gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        for student, result in results.items():
            submission = gb.find_submission(ASSIGNMENT, result.student_id)
            recorded = sum(g.auto_score or 0 for nb in submission.notebooks for g in nb.grades)
            assert recorded == pytest.approx(result.automatic_points), student
            assert all((g.auto_score or 0) <= g.max_score for nb in submission.notebooks for g in nb.grades), student


def test_nothing_a_submission_started_outlives_the_batch(graded):
    _, out, _, _ = graded  # every kernel (and every fork of one) names its connection file under the batch folder
    leftovers = [p.info for p in psutil.process_iter(["pid", "uids", "cmdline", "status"])
                 if p.info["uids"] and p.info["uids"].real >= sandbox.UID_BASE
                 and p.info["status"] != psutil.STATUS_ZOMBIE and str(out) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []


def autograded(out: Path, result) -> list:
    """The notebooks formgrader shows for ``result``, as nbformat nodes."""
    return [nbformat.read(path, as_version=4) for path in sorted((out / "autograded" / result.student_id).rglob(
        "*.ipynb"))]


def test_no_output_that_could_run_reaches_the_notebooks_people_open(graded):
    _, out, results, _ = graded
    for name, result in results.items():
        for notebook in autograded(out, result):
            outputs = [o for c in notebook.cells for o in c.get("outputs", [])]
            assert all(mime in KEPT_MIME for o in outputs for mime in o.get("data", {})), name
            assert all(not o.get("metadata") for o in outputs), name
            html = " ".join(o.get("data", {}).get("text/html", "") for o in outputs).lower()
            for active in ("<script", "onerror", "onload", "<svg", "javascript:"):
                assert active not in html, (name, active)  # (a traceback may say "onerror" as plain text)
            assert OWNED not in json.dumps([o.get("data", {}) for o in outputs]), name


def test_a_forged_verdict_is_marked_and_only_the_graders_verdicts_carry_the_mark(graded):
    _, out, results, _ = graded
    [notebook] = autograded(out, results["forged_verdict"])
    verdicts = [c for c in notebook.cells if VERDICT_CELL in c.metadata]
    assert len(verdicts) == len([c for c in JUDGED if c.notebook == "problem7"])
    assert all(MARK in c.source for c in verdicts)
    others = [c for c in notebook.cells if VERDICT_CELL not in c.metadata]
    assert not any(MARK in json.dumps(c.get("outputs", [])) for c in others)
    test = next(c for c in others if c.metadata.get("nbgrader", {}).get("grade_id") == "p7_gradient_tests")
    assert IMITATING in [o.get("text") for o in test.outputs] and FORGED not in json.dumps(test.outputs)


def test_outputs_as_handed_in_are_shown_inert_under_their_cells(graded):
    """The TA sees what the student's own run showed, in the grader's cells: plain text kept, nothing that runs,
    the forged verdict replaced (the whole-folder checks above hold for these cells too)."""
    _, out, results, _ = graded
    [notebook] = autograded(out, results["handed_in_outputs"])
    shown = [c for c in notebook.cells if HANDED_IN_CELL in c.metadata]
    assert shown, "no cell shows the outputs as handed in"
    texts = [o.get("text", "") for c in shown for o in c.outputs]
    assert "my own run\n" in texts and IMITATING in texts
    assert not any(MARK in json.dumps(c.outputs) or OWNED in json.dumps(c.outputs) for c in shown)


def test_the_graders_secrets_never_reach_any_output(graded):
    _, out, results, _ = graded
    assert results["env_canary"].automatic_points == ATTACKS["env_canary"].automatic  # the attack did run
    leaked = [path for path in out.rglob("*") if path.is_file() and CANARY.encode() in path.read_bytes()]
    assert leaked == []


def test_names_and_notes_people_open_are_inert(graded):
    _, out, results, _ = graded
    raw = (out / "grades.csv").read_bytes()
    for hidden in ("\x1b", "\x07", "\u202e"):
        assert hidden.encode() not in raw, repr(hidden)
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    assert all(not cell.startswith(FORMULA_START) for row in rows.values() for cell in row.values())
    formula = rows["'" + results["csv_formula"].student_id]
    assert formula["name"] == "'" + FORMULA_FOLDER and formula["automatic total"] == "3"
    escaped = rows[results["bidi_and_escape_names"].student_id]
    assert escaped["name"] == r"\u202eann\x1b]0;owned\x07\x1b[2J16 of 16"  # visible, inert
    assert "\x1b" not in summary_table(list(results.values()))
    huge = rows[results["huge_notes"].student_id]
    assert len(huge["notes"]) < 2000 and "30000 extra files ignored" in huge["notes"]
    assert (out / "feedback" / f"{results['huge_notes'].student_id}.html").stat().st_size < 20_000
