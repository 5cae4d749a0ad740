"""The grading-server mode (Gradescope's ``run_autograder``): one submission folder in, ``results.json`` out."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mnist_lab import load_mnist

from .course import generated_course
from .ingest import collect
from .isolation.preflight import check_device
from .options import Limits
from .outputs import gradebook, grading_folder
from .outputs.reports import gradescope_results
from .results import ResultStore, SubmissionResult
from .submission.process import grade_submission


def grade_gradescope(submission_dir: Path, results_path: Path, limits: Limits, threads: int = 1,
                     out: Path | None = None) -> SubmissionResult:
    """Grade the notebooks under ``submission_dir`` and write Gradescope's results to ``results_path``; with ``out``,
    also keep a grading folder there, as a batch's (gradebook, notebooks for formgrader, the result). A device
    the kernels cannot use raises DeviceError before anything runs (no results.json: the server reports a failed
    run)."""
    load_mnist()  # fetched, verified and cached here: kernels see MNIST read-only
    hide = [str(Path(submission_dir).resolve())] + ([str(Path(out).resolve())] if out is not None else [])
    with tempfile.TemporaryDirectory(prefix="ps3-gradescope-") as tmp:
        work = Path(tmp) / "work"
        submission = collect(submission_dir, "submission", "submission", work / "ingested")
        if submission.notebooks:
            check_device(limits, [tmp, *hide])
        course = generated_course()
        result = grade_submission(submission, course, work, limits, threads, hide)
    if out is not None:
        _keep(Path(out).resolve(), course, result)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(gradescope_results(result), indent=1))
    return result


def _keep(out: Path, course: Path, result: SubmissionResult) -> None:
    """The grading folder of this one submission, as a batch leaves it (batch.py)."""
    db_url = f"sqlite:///{out / 'gradebook.db'}"
    out.mkdir(parents=True, exist_ok=True)
    gradebook.prepare(db_url, course)
    grading_folder.prepare(out, course, db_url)
    store = ResultStore(out / "results")
    grading_folder.keep(out, result)
    gradebook.record(db_url, result, store.load(result.student_id))
    store.save(result)
