"""Grade a batch: submissions -> one isolated process each -> results -> gradebook -> reports.

The output folder is an nbgrader course that formgrader opens (outputs/grading_folder.py): the gradebook, the
course's source, and each student's notebooks as submitted and autograded. A grade a TA entered there is kept
when the student is graded again (outputs/gradebook.record), and every report includes it (outputs/export.py).

Exactly once: a result is written to the gradebook (replacing that student's grades) before it is saved to
``out/results``, and a saved result the gradebook lacks is written again, so a batch killed at any point, a task
retried or a lost Dask worker never loses a grade nor records one twice. A result finished while the gradebook
cannot be reached is saved and recorded by the next run (grading_folder.record_pending). Re-running grades only
new or changed submissions, and every submission whose grading failed (status ``error``: a full disk, a lost
machine), unless ``retry_errors`` is off. One command at a time writes a folder (grading_folder.lock).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from mnist_lab import load_mnist
from tqdm.auto import tqdm

from .course import generated_course
from .executors import open_executor
from .ingest import ingest
from .isolation.preflight import check_device
from .options import BatchOptions
from .outputs import class_report, gradebook, grading_folder
from .outputs.export import export
from .results import UNFINISHED, ResultStore, SubmissionResult
from .submission import launch


def grade_batch(source: Path, out: Path, options: BatchOptions | None = None,
                on_result: Callable[[SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade every submission in ``source`` (folder or Moodle zip); results, gradebook and reports in ``out``."""
    options = options or BatchOptions()
    load_mnist()  # fetched, verified and cached once here: kernels see MNIST read-only
    out = Path(out).resolve()  # nbgrader runs in other working directories: every path must be absolute
    with grading_folder.lock(out):
        grading_folder.clear_work(out)  # what a run killed with -9 left: course copies with the hidden tests
        try:
            return _grade(source, out, options, on_result)
        finally:
            grading_folder.clear_work(out)  # the unpacked uploads and scratch of this run


def _grade(source: Path, out: Path, options: BatchOptions, on_result) -> list[SubmissionResult]:
    hide = [str(Path(source).resolve())]  # the submissions as given: no kernel may read another student's
    work = out / grading_folder.WORK
    submissions = ingest(source, work / "ingested")
    store = ResultStore(out / "results")
    results, todo, previous = {}, [], {}
    for submission in submissions:
        saved = store.load(submission.student_id)
        retry = saved is not None and saved.status == "error" and options.retry_errors
        if saved and saved.digest == submission.digest and not options.force and not retry:
            results[submission.student_id] = saved
        else:
            todo.append(submission)
            previous[submission.student_id] = saved  # its written answers decide whether hand grades still apply
    if todo and not options.cluster:  # a cluster's executor checks each worker on its own machine
        launch.warm_up()  # the grading processes' imports, done once while this process prepares the batch
        check_device(options.limits, [str(out), *hide])  # a GPU the kernels cannot use costs everyone problem 5
    course = generated_course()
    db_url = options.db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}"
    grading_folder.open_folder(out, course, db_url)
    try:
        grading_folder.record_pending(out, db_url, store)  # saved while the gradebook was away
        for student in gradebook.missing(db_url, list(results)):  # saved, but killed before the gradebook had it
            gradebook.record(db_url, results[student])
    except grading_folder.GRADEBOOK_ERRORS as exc:
        raise grading_folder.unavailable(db_url, exc, grading_folder.pending_count(out)) from None
    if todo:  # the class report's plotting, imported while this process only waits for results
        threading.Thread(target=class_report.import_plotting, name="import plotting").start()
    bar = _progress(len(todo), options.progress)
    with open_executor(options) as executor:
        for result in executor.grade(todo, course, work, options, hide):
            if result.status != UNFINISHED:  # a task the cluster lost is graded again by the next run
                grading_folder.file_result(out, db_url, store, result, previous.get(result.student_id))
            results[result.student_id] = result
            bar.set_postfix_str(f"{result.student_id}: {result.automatic_points:g} pts, {result.status}")
            bar.update()
            if on_result:
                on_result(result)
    bar.close()
    ordered = [results[s.student_id] for s in submissions if s.student_id in results]
    if grading_folder.pending_count(out):  # the gradebook went away during the batch: is it back?
        grading_folder.record_pending(out, db_url, store)
    return export(out, ordered).results


def _progress(total: int, enabled: bool) -> tqdm:
    return tqdm(total=total, desc="grading", unit="submission", disable=not enabled or total == 0)
