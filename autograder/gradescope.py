"""The grading-server mode (Gradescope's ``run_autograder``): one submission folder in, ``results.json`` out."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mnist_lab import load_mnist

from .course import generated_course
from .ingest import collect
from .isolation.containment import NAMESPACES, NONE
from .isolation.preflight import check_device
from .options import Limits
from .outputs import grading_folder
from .outputs.reports import gradescope_results
from .results import ResultStore, SubmissionResult
from .submission import launch
from .submission.process import grade_submission

WARNING = "!" * 100


def grade_gradescope(submission_dir: Path, results_path: Path, limits: Limits, threads: int = 1,
                     out: Path | None = None, visibility: str = "visible") -> SubmissionResult:
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
            launch.warm_up()  # the grading process's imports, while this one checks the device and the course
            check_device(limits, [tmp, *hide])
        course = generated_course()
        result = grade_submission(submission, course, work, limits, threads, hide)
    if out is not None:
        out = Path(out).resolve()
        db_url = f"sqlite:///{out / 'gradebook.db'}"
        store = ResultStore(out / "results")
        grading_folder.open_folder(out, course, db_url)
        grading_folder.file_result(out, db_url, store, result, store.load(result.student_id))
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(gradescope_results(result, visibility), indent=1))
    return result


def containment_report(result: SubmissionResult) -> str:
    """What the instructor reads in the run's output (Gradescope shows it to instructors only) about how the
    student's code was contained: loud where the references were within its reach."""
    if result.status == "empty":
        return "containment: nothing of the student's ran (no notebook)"
    if result.containment == NAMESPACES:
        return "containment: namespaces (the student's code saw only its own folder, Python and MNIST)"
    if result.containment == NONE:
        return "\n".join([WARNING, "WARNING: the student's code ran WITHOUT containment, as the grader itself: it "
                           "could read the reference solutions and the hidden tests. Run the autograder as root "
                           "(Gradescope does) so that kernels run as a user id of their own.", WARNING])
    return (f"containment: {result.containment}: the references and hidden tests were readable by root only; the "
            "student's code could reach the network and see other processes (no namespaces)")
