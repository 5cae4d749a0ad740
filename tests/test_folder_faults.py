"""Faults a semester brings never cost a grade (autograder/outputs/grading_folder.py, autograder/batch.py): two ids
that look alike keep their own results; one command at a time writes a folder; a result finished while the gradebook
is away is saved and recorded later; a submission whose grading failed is graded again; a killed run's scratch
(course copies with the hidden tests) is removed by the next."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import fast, gradebook_rows, reference_batch

from autograder.batch import grade_batch
from autograder.course import ASSIGNMENT, open_gradebook
from autograder.outputs import grading_folder
from autograder.outputs.grading_folder import FolderBusy, GradebookUnavailable
from autograder.results import CellResult, ResultStore, SubmissionResult

HOLD_THE_LOCK = """
import sys, time
from pathlib import Path
from autograder.outputs import grading_folder
with grading_folder.lock(Path(sys.argv[1])):
    print("holding", flush=True)
    time.sleep(600)
"""


def result(student_id: str, status: str = "graded", digest: str = "d") -> SubmissionResult:
    return SubmissionResult(student_id, student_id, status, [CellResult("problem7", "p7_gradient_tests", 1.0, 1.0)],
                            digest=digest)


def test_two_ids_that_look_alike_keep_their_own_results(tmp_path):
    store = ResultStore(tmp_path)
    store.save(result("ann.lee"))
    store.save(result("ann_lee", status="error"))
    assert (store.load("ann.lee").status, store.load("ann_lee").status) == ("graded", "error")
    assert [r.student_id for r in store.load_all()] == ["ann.lee", "ann_lee"]
    assert len(list(tmp_path.glob("*.json"))) == 2


def test_a_result_of_the_earlier_file_naming_is_read_for_its_own_student_and_replaced(tmp_path):
    (tmp_path / "ann_lee.json").write_text(json.dumps(result("ann.lee").to_json()))  # saved by an earlier version
    store = ResultStore(tmp_path)
    assert store.load("ann.lee").student_id == "ann.lee"
    assert store.load("ann_lee") is None  # the same file name, another student's result
    store.save(result("ann.lee", status="incomplete"))
    assert sorted(p.name for p in tmp_path.glob("*.json")) == [store.path("ann.lee").name]
    assert store.load("ann.lee").status == "incomplete"


def test_a_second_command_on_the_same_folder_is_refused_at_once_and_the_lock_dies_with_its_holder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(FolderBusy, match=rf"in use by `python -m autograder grade` \(pid {holder.pid}\)"):
            with grading_folder.lock(tmp_path):
                pass
        refused = subprocess.run([sys.executable, "-m", "autograder", "export", "--out", str(tmp_path)],
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
        assert refused.stderr.startswith(f"error: {tmp_path} is in use by `python -m autograder grade`")
    finally:
        holder.send_signal(signal.SIGKILL)  # killed outright: the lock ends with it
        holder.wait()
    with grading_folder.lock(tmp_path):
        pass


def test_a_result_finished_while_the_gradebook_is_away_is_saved_and_recorded_later(tmp_path, db_url):
    out, store = tmp_path / "out", ResultStore(tmp_path / "out" / "results")
    gradebook = Path(db_url.removeprefix("sqlite:///"))
    gradebook.rename(tmp_path / "away.db")
    gradebook.mkdir()  # sqlite: "unable to open database file"
    assert grading_folder.file_result(out, db_url, store, result("s1")) is False
    assert store.load("s1").status == "graded" and grading_folder.pending_count(out) == 1
    with pytest.raises(GradebookUnavailable, match="1 graded result.* wait for it: run the same command again"):
        grading_folder.record_pending(out, db_url, store)
    gradebook.rmdir()
    (tmp_path / "away.db").rename(gradebook)
    grading_folder.record_pending(out, db_url, store)
    assert grading_folder.pending_count(out) == 0
    with open_gradebook(db_url) as gb:
        assert gb.find_grade("p7_gradient_tests", "problem7", ASSIGNMENT, "s1").auto_score == 1.0


def test_a_gradebook_address_is_shown_without_its_password():
    message = str(grading_folder.unavailable("postgresql+psycopg://ta:s3cret@db.example:5432/ps3",
                                             ConnectionError("refused")))
    assert "s3cret" not in message and "ta:***@db.example" in message


@pytest.mark.slow
def test_a_failed_grading_is_repeated_by_the_next_run_unless_kept(tmp_path):
    source = reference_batch(tmp_path / "submissions", students=("s1",), notebooks=("problem7",))
    out = tmp_path / "out"
    [first] = grade_batch(source, out, fast())
    store = ResultStore(out / "results")
    failed = SubmissionResult.from_json({**first.to_json(), "status": "error", "cells": [],
                                         "notes": ["grading failed: No space left on device"]})
    store.save(failed)  # as a full disk would have left it
    (out / "work" / "left-by-a-killed-run" / "course").mkdir(parents=True)  # a course copy, hidden tests and all
    [kept] = grade_batch(source, out, fast(retry_errors=False))
    assert kept.status == "error"
    [again] = grade_batch(source, out, fast())
    assert (again.status, again.automatic_points) == ("graded", 3.0)
    assert not (out / "work").exists()  # the killed run's scratch and this run's are gone


@pytest.mark.slow
def test_a_gradebook_stopped_mid_batch_loses_no_finished_grade(postgres, tmp_path):
    source = reference_batch(tmp_path / "submissions", students=("s1", "s2", "s3"), notebooks=("problem7",))
    out, url = tmp_path / "out", postgres.create_database("outage")
    stopped = []

    def stop_the_database_after_the_first(_):
        if not stopped:
            postgres.pause()
            stopped.append(time.time())
    try:
        with pytest.raises(GradebookUnavailable, match="2 graded result.*run the same command again"):
            grade_batch(source, out, fast(workers=1, db_url=url), on_result=stop_the_database_after_the_first)
    finally:
        postgres.resume()
    saved = {r.student_id: r.automatic_points for r in ResultStore(out / "results").load_all()}
    assert saved == {"s1": 3.0, "s2": 3.0, "s3": 3.0}  # every finished grade is on disk
    graded_again = []
    results = grade_batch(source, out, fast(workers=1, db_url=url), on_result=graded_again.append)
    assert graded_again == [] and [r.automatic_points for r in results] == [3.0, 3.0, 3.0]
    rows = gradebook_rows(url)
    assert {student: count for student, (count, _) in rows.items()} == {"s1": 1, "s2": 1, "s3": 1}


@pytest.mark.slow
def test_two_grade_commands_on_one_folder_grade_each_student_once(tmp_path):
    source = reference_batch(tmp_path / "submissions", students=("s1", "s2"), notebooks=("problem7",))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(source), "--out", str(out), "--no-progress",
               "--workers", "1", "--cell-timeout", "60"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / grading_folder.LOCK).is_file() or not (out / grading_folder.LOCK).read_text():
            assert first.poll() is None and time.monotonic() < deadline, first.stderr.read()
            time.sleep(0.1)
        second = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2 and "is in use by `python -m autograder grade`" in second.stderr
        assert second.stderr.count("\n") == 1, second.stderr
        assert first.wait(timeout=600) == 0, first.stderr.read()
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    rows = gradebook_rows(f"sqlite:///{out / 'gradebook.db'}")
    assert {student: count for student, (count, _) in rows.items()} == {"s1": 1, "s2": 1}
    assert len(ResultStore(out / "results").load_all()) == 2
