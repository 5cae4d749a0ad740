"""A course's grading to the end, as an instructor and a TA do it, with the real commands: `python -m autograder
grade` a student, formgrader in headless Chromium (the TA reads the written answer and the grader's message on a
failed cell, enters a score and a comment), `export` with a worksheet downloaded from Moodle, the feedback page in
the browser; then the student regraded with --force (the hand grade stays) and with a changed answer (stale).

The tests run in order on one grading folder. Screenshots go to test-artifacts/course-grading/ (not committed).
"""

import base64
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from browser import FormgraderPage, chromium_paths, formgrader_server, open_browser

from autograder.course import ASSIGNMENT, ROOT, open_gradebook, run_nbgrader
from autograder.outputs import grading_folder
from autograder.outputs.gradebook import STALE

pytestmark = pytest.mark.slow

STUDENT, NAME = "4711", "Zoë Müller-Lüdenscheidt"
EXPERIMENT_CELL = "problem5-12"  # the release's cell that runs the experiment and draws its plot
ANSWER_5B = "More distinct images beat more epochs: 30000 x 2 generalises best at the same number of steps."
SCORE, COMMENT = 0.5, "Clear argument, but cite the measured accuracies."
ARTIFACTS = Path(os.environ.get("PS3_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "course-grading"
# Moodle's worksheet as downloaded (English interface): the graded student, and one who handed in nothing here.
WORKSHEET = ("Identifier,Full name,Email address,Status,Grade,Maximum Grade,Grade can be changed,"
             "Last modified (submission),Last modified (grade),Feedback comments\n"
             f"Participant {STUDENT},{NAME},zoe@example.org,Submitted for grading - Graded,,16.00,Yes,"
             '"Monday, 30 November 2026, 9:14 PM",-,\n'
             "Participant 4712,Jan de Vries,jan@example.org,No submission,,16.00,Yes,-,-,\n")


def cli(*args, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "autograder", *map(str, args)], capture_output=True, text=True,
                          timeout=900)
    if check:
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def students_own_plot(folder: Path) -> str:
    """The lab's plot of a three-seed experiment as the student's run drew it (base64 PNG, as the notebook keeps
    it): the accuracies are the student's, made up here, with a spread the grader's one-seed re-run cannot show."""
    from mnist_lab.experiment import plot_budget_experiment, summarise

    epochs = {"10000": 6, "20000": 3, "30000": 2}
    runs = [{"condition": condition, "n_examples": int(n), "seed": seed,
             "test_accuracy": 0.975 + 0.002 * i + 0.0015 * seed - (0.004 if condition == "augmented" else 0)}
            for condition in ("plain", "augmented") for i, n in enumerate(epochs) for seed in (0, 1, 2)]
    path = folder / "students-plot.png"
    plot_budget_experiment({"runs": runs, "summary": summarise(runs), "epochs": epochs}, path)
    return base64.b64encode(path.read_bytes()).decode()


def submit(folder: Path, answer_5b: str) -> Path:
    """The crop_only example's problem 5 (5c's automatic test fails: crops without rotation) with its own 5b, and
    the experiment cell's outputs as the student's own run left them (their plot of three seeds)."""
    notebook = nbformat.read(ROOT / "tests" / "examples" / "crop_only" / ASSIGNMENT / "problem5.ipynb", as_version=4)
    folder.mkdir(parents=True, exist_ok=True)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "p5b_answer":
            cell.source = answer_5b
        if cell.get("id") == EXPERIMENT_CELL:
            cell.outputs = [nbformat.v4.new_output("display_data", data={"image/png": students_own_plot(folder),
                                                                         "text/plain": "<Figure size 700x450>"})]
    target = folder / f"{NAME}_{STUDENT}_assignsubmission_file_"  # as Moodle's zip names it, unpacked
    target.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, target / "problem5.ipynb")
    return folder


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A grading folder with one student graded by `python -m autograder grade`."""
    base = tmp_path_factory.mktemp("course")
    submissions = submit(base / "submissions", ANSWER_5B)
    out = base / "grading"
    cli("grade", submissions, "--out", out, "--no-progress", "--workers", "1")
    (base / "worksheet.csv").write_text(WORKSHEET, encoding="utf-8")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    return base


@pytest.fixture
def formgrader(course):
    """`python -m autograder formgrader` on the grading folder: (base address, token)."""
    with formgrader_server(course / "grading") as server:
        yield server


def read_csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return {row.get("student") or row["Identifier"]: row for row in csv.DictReader(fh)}


def test_the_grading_folder_is_an_nbgrader_course(course):
    out = course / "grading"
    for kind in ("submitted", "autograded"):
        assert (out / kind / STUDENT / ASSIGNMENT / "problem5.ipynb").is_file()
    assert (out / "source" / ASSIGNMENT / "problem5.ipynb").is_file()
    assert grading_folder.db_url(out) == f"sqlite:///{out / 'gradebook.db'}"
    before = read_csv(out / "grades.csv")[STUDENT]
    # 5c's automatic test fails; the written answers 5b and 5c wait for a person
    assert (before["automatic total"], before["manual pending"], before["final"]) == ("3", "2", "no")


@pytest.mark.skipif(chromium_paths() is None, reason="needs chromium, chromium-driver (apt) and selenium (pip)")
def test_a_ta_grades_in_formgrader_and_the_export_gives_the_final_grade(course, formgrader):
    base_url, token = formgrader
    out = course / "grading"
    with open_browser(ARTIFACTS) as browser:
        page = FormgraderPage(browser, base_url, token)
        page.open()
        browser.shot("assignments")
        page.open_notebook(ASSIGNMENT, STUDENT, "problem5")
        assert ANSWER_5B in page.cell_text("p5b_answer")
        browser.shot("written-answer-5b", page.cell("p5b_answer"))
        message = page.verdict_text("p5c_tests")
        assert message.startswith("[autograder] 0 / 1 points:") and "rotat" in message, message
        assert page.verdict_text("p5a_tests").startswith("[autograder] 2 / 2 points")
        plots = browser.driver.find_elements("css selector", ".output_png img")
        assert plots and all(p.size["width"] > 100 for p in plots)  # the grader's re-run's plot
        own = page.handed_in_cell(EXPERIMENT_CELL)  # the student's own plot of three seeds, under the same cell
        assert "As handed in" in own.text
        [image] = own.find_elements("css selector", ".output_png img")
        assert image.size["width"] > 300 and image.get_attribute("src").startswith("data:image/png;base64,")
        browser.shot("students-own-plot", own)
        browser.shot("grader-message-5c", page.cell("p5c_tests"))
        page.set_grade("p5b_answer", score=SCORE, comment=COMMENT)
        page.reload()
        assert (page.score("p5b_answer"), page.comment("p5b_answer")) == (SCORE, COMMENT)
        browser.shot("graded-5b", page.cell("p5b_answer"))

        # 5c's written answer too: then nothing is pending and the export gives a final grade.
        page.set_grade("p5c_answer", score=1)
        exported = cli("export", "--out", out, "--worksheet", course / "worksheet.csv")
        assert "1 of 1 students have a final grade" in exported.stdout, exported.stdout

        total = 3 + SCORE + 1
        row = read_csv(out / "grades.csv")[STUDENT]
        assert (row["automatic total"], row["hand graded"], row["total"], row["final"]) == ("3", "1.5", f"{total:g}",
                                                                                           "yes")
        assert row["5b manual"] == f"{SCORE:g}" and COMMENT in row["comments"]
        worksheet = read_csv(out / "moodle_grading_worksheet.csv")
        assert worksheet[f"Participant {STUDENT}"]["Grade"] == f"{total:.2f}"
        assert COMMENT in worksheet[f"Participant {STUDENT}"]["Feedback comments"]
        assert worksheet["Participant 4712"] == read_csv(course / "worksheet.csv")["Participant 4712"]
        results = json.loads((out / "gradescope" / STUDENT / "results.json").read_text())
        assert results["score"] == total

        browser.driver.get((out / "feedback" / f"{STUDENT}.html").as_uri())
        text = browser.driver.find_element("tag name", "body").text
        assert COMMENT in text and f"Points: {total:g} of 16" in text
        assert "check_" not in text and "HIDDEN" not in text  # no hidden test code reaches a student
        browser.shot("feedback-page")


def hand_grade(course) -> tuple:
    with open_gradebook(grading_folder.db_url(course / "grading")) as gb:
        grade = gb.find_grade("p5b_answer", "problem5", ASSIGNMENT, STUDENT)
        comment = gb.find_comment("p5b_answer", "problem5", ASSIGNMENT, STUDENT)
        flagged = gb.find_submission_notebook("problem5", ASSIGNMENT, STUDENT).flagged
        return grade.manual_score, grade.needs_manual_grade, comment.manual_comment, flagged


def test_regrading_with_force_keeps_the_hand_grade(course):
    if hand_grade(course)[0] is None:
        pytest.skip("the formgrader test did not grade (no browser here)")
    cli("grade", course / "submissions", "--out", course / "grading", "--no-progress", "--force")
    assert hand_grade(course) == (SCORE, False, COMMENT, False)
    assert read_csv(course / "grading" / "grades.csv")[STUDENT]["final"] == "yes"


def test_a_changed_answer_keeps_the_grade_marked_stale_and_flags_review(course):
    if hand_grade(course)[0] is None:
        pytest.skip("the formgrader test did not grade (no browser here)")
    submit(course / "submissions", ANSWER_5B + " (Edited after the deadline.)")
    cli("grade", course / "submissions", "--out", course / "grading", "--no-progress")
    assert hand_grade(course) == (SCORE, True, f"{STALE} {COMMENT}", True)
    exported = cli("export", "--out", course / "grading", "--worksheet", course / "worksheet.csv")
    assert f"written answers still to grade in formgrader (1): {STUDENT}" in exported.stdout
    assert f"flagged for review (1): {STUDENT}" in exported.stdout
    row = read_csv(course / "grading" / "grades.csv")[STUDENT]
    assert (row["5b manual"], row["final"]) == ("pending", "no")
    assert read_csv(course / "grading" / "moodle_grading_worksheet.csv")[f"Participant {STUDENT}"]["Grade"] == ""


def test_formgraders_own_feedback_shows_no_hidden_test(course):
    """A TA may click "Generate Feedback" in formgrader: nbgrader's pages must not quote the hidden tests."""
    out = course / "grading"
    run_nbgrader(out, "generate_feedback", ASSIGNMENT, "--force", db_url=grading_folder.db_url(out))
    page = (out / "feedback" / STUDENT / ASSIGNMENT / "problem5.html").read_text(encoding="utf-8")
    assert "make_augmentation" in page  # the student's own code is there
    for hidden in ("BEGIN HIDDEN TESTS", "handin.", "Traceback (most recent call last)"):
        assert hidden not in page, hidden
    assert "[autograder] 0 / 1 points:" in page  # the grader's own verdicts are the student's to read
