"""The class report (outputs/class_report.py): its numbers against the results they come from, no names unless asked
for, never a submission's own text; and, on the graded example submissions, against grades.csv and in Chromium.
Screenshots go to test-artifacts/class-report/ (not committed)."""

import copy
import csv
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from autograder import cli
from autograder.cells import CELLS
from autograder.mistakes import OTHER, QUOTE
from autograder.outputs.class_report import FOLDER, NOT_SCORED, PAGE, summarise, write_report
from autograder.results import ResultStore, SubmissionResult
from autograder.testing.synthetic import STUDENT_TEXT, synthetic_results

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("PS3_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "class-report"


def expected_mistakes(results) -> dict:
    """(grade id, mistake) -> count, straight from the results: every failed automatic cell of a scored result."""
    return Counter((c.grade_id, c.mistake or OTHER) for r in results if r.status not in NOT_SCORED
                   for c in r.cells if not c.written and c.points is not None and c.points < c.max_points)


def reported_mistakes(summary) -> dict:
    return {(cell["grade_id"], g["mistake"]): g["count"] for cell in summary["mistakes"] for g in cell["groups"]}


def expected_runs(results, anonymous: dict | None = None) -> list:
    return sorted(((anonymous or {}).get(r.student_id, r.student_id), run["condition"], run["n_examples"],
                   run["accuracy"]) for r in results if r.status not in NOT_SCORED for run in r.clean_runs)


def reported_runs(summary) -> list:
    return sorted((run["submission"], run["condition"], run["n_examples"], run["accuracy"])
                  for run in summary["experiment"]["runs"])


def files_text(folder: Path) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()) if p.suffix != ".png")


def test_the_numbers_are_the_results(tmp_path):
    results = synthetic_results(80, seed=3)
    summary = summarise(results, names=True)
    scored = [r for r in results if r.status not in NOT_SCORED]
    assert summary["scored"] == len(scored) and summary["students"] == 80
    assert sum(summary["statuses"].values()) == 80
    for scope, rows in summary["scores"].items():  # every scored student in exactly one bin
        assert sum(row["final"] + row["pending"] for row in rows) == len(scored), scope
    total = {row["points"]: row["final"] + row["pending"] for row in summary["scores"]["total"]}
    assert total == {b: sum(1 for r in scored if int(2 * r.total_points) / 2 == b) for b in total}
    for cell in summary["cells"]:
        assert sum(cell[o] for o in ("full points", "partial", "no points", "waits for a person")) == len(scored)
        pending = sum(1 for r in scored for c in r.cells if c.grade_id == cell["grade_id"] and c.points is None)
        assert cell["waits for a person"] == pending
    assert reported_mistakes(summary) == expected_mistakes(results)
    assert any(key[1] == OTHER for key in reported_mistakes(summary))
    for cell in summary["mistakes"]:
        assert cell["failed"] == sum(g["count"] for g in cell["groups"])
        assert [g["mistake"] for g in cell["groups"]][-1:] != [OTHER] or cell["groups"][-1]["example"] == ""
    assert reported_runs(summary) == expected_runs(results)
    trained = {r.student_id for r in scored if r.clean_runs}
    assert summary["experiment"]["without_runs"] == len(scored) - len(trained)
    class_n = summary["experiment"]["class"]["plain"]["10000"]["count"]
    assert class_n == sum(1 for r in scored for run in r.clean_runs
                          if (run["condition"], run["n_examples"]) == ("plain", 10000) and run["accuracy"] >= 0.9)
    assert summary["experiment"]["reference"] and summary["experiment"]["reference_gains"]["plain"]["30000"]["count"]


def test_no_names_and_never_the_submissions_text(tmp_path):
    results = synthetic_results(60, seed=1)
    page = write_report(tmp_path, results)
    folder = page.parent
    assert page == tmp_path / FOLDER / PAGE
    assert {p.name for p in folder.iterdir()} == {PAGE, "scores.png", "cells.png", "experiment.png", "summary.json",
                                                  "cells.csv", "mistakes.csv", "runs.csv", "scores.csv"}
    text = files_text(folder)
    assert STUDENT_TEXT not in text and "STUDENT-TEXT" not in text
    assert not any(r.student_id in text for r in results)
    assert QUOTE in text  # the scrubbed messages are shown
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 3 and "<script" not in html
    assert all((folder / name).read_bytes().startswith(b"\x89PNG") for name in ("scores.png", "cells.png",
                                                                               "experiment.png"))
    summary = json.loads((folder / "summary.json").read_text())
    anonymous = {run["submission"] for run in summary["experiment"]["runs"]}
    assert anonymous and all(a.startswith("S") for a in anonymous)
    # the same numbers as with names, only the labels differ
    named = summarise(results, names=True)
    assert reported_mistakes(summary) == reported_mistakes(named)
    assert sorted(r[1:] for r in reported_runs(summary)) == sorted(r[1:] for r in reported_runs(named))

    write_report(tmp_path, results, names=True)
    text = files_text(folder)
    assert STUDENT_TEXT not in text and "STUDENT-TEXT" not in text  # names: the ids, never the names typed in
    failed = {r.student_id for r in results if r.status not in NOT_SCORED for c in r.cells
              if c.grade_id == "p6_delta_conv_tests" and c.points == 0}
    assert failed and all(student in text for student in failed)


def test_results_saved_before_named_mistakes_still_load_and_count_as_other(tmp_path):
    result = synthetic_results(1, seed=5)[0]
    data = result.to_json()
    for cell in data["cells"]:
        for key in ("mistake", "scrubbed", "runs"):
            del cell[key]
    data["status"] = "graded"
    old = SubmissionResult.from_json(data)
    summary = summarise([old])
    failed = [c for c in old.cells if not c.written and c.points is not None and c.points < c.max_points]
    assert sum(cell["failed"] for cell in summary["mistakes"]) == len(failed)
    assert all(g["mistake"] == OTHER and g["example"] == "" for cell in summary["mistakes"] for g in cell["groups"])
    assert summary["experiment"]["without_runs"] == 1 and not summary["experiment"]["runs"]


def test_the_report_command(tmp_path, capsys):
    store = ResultStore(tmp_path / "results")
    for result in synthetic_results(12, seed=2):
        store.save(result)
    assert cli.main(["report", "--out", str(tmp_path)]) == 0
    assert (tmp_path / FOLDER / PAGE).is_file() and "class report:" in capsys.readouterr().out
    assert cli.main(["report", "--out", str(tmp_path / "nothing")]) == 2


def test_an_empty_class(tmp_path):
    page = write_report(tmp_path, [])
    assert "0 submissions" in page.read_text()


# ------------------------------------------------------------------------------------- the graded examples

def grades_rows(out: Path) -> list[dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_the_report_of_the_graded_examples(examples):
    """The report the batch wrote (the examples, graded once for the whole run) against grades.csv and the
    results; opened in headless Chromium without console errors."""
    folder = examples.out / FOLDER
    summary = json.loads((folder / "summary.json").read_text())
    rows = [row for row in grades_rows(examples.out) if row["status"] not in NOT_SCORED]
    results = list(examples.results.values())
    assert summary["scored"] == len(rows) == 9 and not summary["names"]

    # histograms and cells: grades.csv's columns, counted
    total = Counter(int(2 * float(row["total"])) / 2 for row in rows)
    assert {r["points"]: r["final"] + r["pending"] for r in summary["scores"]["total"] if r["final"] + r["pending"]} \
        == dict(total)
    for name in ("problem5", "problem6", "problem7"):
        column = f"problem {name.removeprefix('problem')}"
        counted = Counter(int(2 * float(row[column])) / 2 for row in rows)
        assert {r["points"]: r["final"] + r["pending"] for r in summary["scores"][name] if r["final"] + r["pending"]} \
            == dict(counted), name
    for cell, reported in zip(CELLS, summary["cells"]):
        values = [row[cell.label] for row in rows]
        assert reported["waits for a person"] == values.count("pending"), cell.label
        assert reported["full points"] == sum(1 for v in values if v != "pending" and float(v) == cell.points)
        assert reported["no points"] == sum(1 for v in values if v != "pending" and float(v) == 0)

    # the named mistakes: counted from the results; the examples' own mistakes by name
    assert reported_mistakes(summary) == expected_mistakes(results)
    mistakes = reported_mistakes(summary)
    assert mistakes[("p6_delta_conv_tests", "no_sigma_prime")] == 1  # partial: sigma' forgotten
    assert mistakes[("p5c_tests", "no_rotation")] == 1  # crop_only
    assert mistakes[("p7_activation_tests", "not_implemented")] >= 2  # partial and untouched
    assert mistakes[("p7_stability_tests", "stopped")] == 1  # infinite_loop
    assert all(cell["failed"] <= 9 for cell in summary["mistakes"])
    examples_text = {g["example"] for cell in summary["mistakes"] for g in cell["groups"]}
    assert any(e.startswith("delta_conv(") and "missing the factor sigma'(z1[x, y])" in e for e in examples_text)
    assert "leaky_relu(x, alpha=0.01) failed: …" in examples_text  # memory_hog's MemoryError, scrubbed

    # the pooled runs: the grader's measurements. Every submission whose problem 5 passed contributes its six;
    # crop_only the plain three (its augmentation fails 5c's rules first); untouched and invalid_json nothing.
    # (Under load a cell can run out of time: the counts follow the results, not a fixed number.)
    assert sorted(r[1:] for r in reported_runs(summary)) == sorted(r[1:] for r in expected_runs(results))
    by_student = {r.student_id: r.clean_runs for r in results}
    for r in results:
        if all(c.points == c.max_points for c in r.cells if c.grade_id in ("p5a_tests", "p5b_tests", "p5c_tests")):
            assert len(by_student[r.student_id]) == 6, r.student_id
    assert sorted((run["condition"], run["n_examples"]) for run in by_student["crop_only"]) == \
        [("plain", 10000), ("plain", 20000), ("plain", 30000)]
    assert by_student["untouched"] == by_student["invalid_json"] == []
    trained = [runs for runs in by_student.values() if runs]
    assert summary["experiment"]["submissions"] == len(trained) >= 5
    assert summary["experiment"]["without_runs"] == 2
    assert summary["experiment"]["some_runs"] == sum(1 for runs in trained if len(runs) < 6) >= 1
    assert all(run["above_floor"] for run in summary["experiment"]["runs"])
    for run in summary["experiment"]["runs"]:  # never the kernel's own report
        assert 0.9 <= run["accuracy"] <= 1.0

    # code similarity: the examples are the reference with one defect each, so problem 6's answers are alike
    assert summary["similarity"]["students"] >= 8 and summary["similarity"]["flagged"]["problem6"]

    text = files_text(folder)
    # "reference" and "partial" are also words of the report itself ("the reference solution", partial points)
    ids = [student for student in examples.results if student not in ("reference", "partial")]
    assert len(ids) >= 7 and not [student for student in ids if student in text]

    from browser import chromium_paths, open_browser
    if chromium_paths() is None:
        pytest.skip("needs chromium, chromium-driver (apt) and selenium (pip)")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    with open_browser(ARTIFACTS) as browser:
        browser.get((folder / PAGE).as_uri())
        heights = browser.execute_script(
            "return [document.documentElement.scrollHeight, ...Array.from(document.images).map("
            "i => i.complete && i.naturalWidth > 0 ? 1 : 0)]")
        assert heights[1:] == [1, 1, 1]  # every figure decoded
        assert browser.find_element("css selector", "h1").text.startswith("Problem set 3")
        browser.shot("top")
        for section in ("mistakes", "experiment"):  # each section at the top of the window
            browser.execute_script(f"document.getElementById('{section}').scrollIntoView()")
            browser.shot(section)
        # the instructor's part, folded: opened as the instructor does (the examples share the reference's code)
        browser.execute_script("document.getElementById('similarity-details').open = true;"
                               "document.getElementById('similarity').scrollIntoView()")
        assert browser.find_element("css selector", "#similarity-details mark").is_displayed()
        browser.shot("similarity")
        heights = browser.execute_script("return [document.documentElement.scrollHeight]")
        browser.set_window_size(1400, heights[0] + 120)
        browser.shot("whole-page")
        assert browser.console_errors() == []


def test_the_reports_copy_of_the_experiment_is_the_labs():
    """The report repeats problem 5's budgets, epochs, conditions and accuracy floor (it must not need torch): they
    must stay the lab's."""
    from autograder.outputs import class_report
    from mnist_lab import experiment, handin

    assert class_report.BUDGETS == experiment.BUDGETS and class_report.EPOCHS == experiment.REFERENCE_EPOCHS
    assert class_report.CONDITIONS == experiment.CONDITIONS and class_report.FLOOR == handin.ACCURACY_FLOOR


def test_the_page_reads_right_for_one_student_identical_runs_and_pending_answers(tmp_path):
    """"1 student", not "1 students"; a gain every submission shares is said so, not "± 0.00"; while written
    answers wait, the mean says that they count 0 so far and gives the final grades' mean beside it."""
    graded = [r for r in synthetic_results(40, seed=5) if r.status == "graded" and len(r.clean_runs) == 6]
    one, other = copy.deepcopy(graded[0]), copy.deepcopy(graded[1])
    for cell in one.cells:
        if cell.written:
            cell.points = None  # one student's written answers wait for a person
    for cell in other.cells:
        if cell.written:
            cell.points = cell.max_points
    for cell in other.cells:  # the same runs (clean_runs come from the cells): every gain the same
        if cell.grade_id.startswith("p5"):
            cell.runs = copy.deepcopy(next(c.runs for c in one.cells if c.grade_id == cell.grade_id))
    text = write_report(tmp_path, [one, other]).read_text(encoding="utf-8")
    assert "(1 student)" in text and "1 students" not in text
    assert "± 0.00" not in text and "every submission gained the same" in text
    assert "written answers still to grade count 0 here (1 student)" in text
    assert f"the 1 final grade alone: mean {other.total_points:.2f}" in text
