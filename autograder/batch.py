"""Grade a batch: submissions -> one isolated process each -> results -> gradebook -> reports.

Exactly once: a result is written to the gradebook (replacing that student's grades) before it is saved to
``out/results``, and a saved result the gradebook lacks is written again, so a batch killed at any point, a task
retried or a lost Dask worker never loses a grade nor records one twice. Re-running grades only new or changed
submissions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from mnist_lab import load_mnist
from tqdm.auto import tqdm

from .course import generated_course
from .executors import open_executor
from .ingest import ingest
from .isolation.preflight import check_device
from .options import BatchOptions
from .outputs import gradebook, reports
from .results import UNFINISHED, ResultStore, SubmissionResult


def grade_batch(source: Path, out: Path, options: BatchOptions | None = None,
                on_result: Callable[[SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade every submission in ``source`` (folder or Moodle zip); results, gradebook and reports in ``out``."""
    options = options or BatchOptions()
    load_mnist()  # fetched, verified and cached once here: kernels see MNIST read-only
    out = Path(out).resolve()  # nbgrader runs in other working directories: every path must be absolute
    out.mkdir(parents=True, exist_ok=True)
    hide = [str(Path(source).resolve())]  # the submissions as given: no kernel may read another student's
    work = out / "work"
    submissions = ingest(source, work / "ingested")
    store = ResultStore(out / "results")
    results, todo = {}, []
    for submission in submissions:
        previous = store.load(submission.student_id)
        if previous and previous.digest == submission.digest and not options.force:
            results[submission.student_id] = previous
        else:
            todo.append(submission)
    if todo and not options.cluster:  # a cluster's executor checks each worker on its own machine
        check_device(options.limits, [str(out), *hide])  # a GPU the kernels cannot use costs everyone problem 5
    course = generated_course()
    db_url = options.db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}"
    gradebook.prepare(db_url, course)
    for student in gradebook.missing(db_url, list(results)):  # saved, but killed before the gradebook had it
        gradebook.record(db_url, results[student])
    bar = _progress(len(todo), options.progress)
    with open_executor(options) as executor:
        for result in executor.grade(todo, course, work, options, hide):
            if result.status != UNFINISHED:  # a task the cluster lost is graded again by the next run
                gradebook.record(db_url, result)
                store.save(result)
            results[result.student_id] = result
            bar.set_postfix_str(f"{result.student_id}: {result.automatic_points:g} pts, {result.status}")
            bar.update()
            if on_result:
                on_result(result)
    bar.close()
    ordered = [results[s.student_id] for s in submissions if s.student_id in results]
    reports.write_all(out, ordered)
    return ordered


def _progress(total: int, enabled: bool) -> tqdm:
    return tqdm(total=total, desc="grading", unit="submission", disable=not enabled or total == 0)
