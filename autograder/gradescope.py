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
from .outputs.reports import gradescope_results
from .results import SubmissionResult
from .submission.process import grade_submission


def grade_gradescope(submission_dir: Path, results_path: Path, limits: Limits, threads: int = 1) -> SubmissionResult:
    """Grade the notebooks under ``submission_dir`` and write Gradescope's results to ``results_path``. A device
    the kernels cannot use raises DeviceError before anything runs (no results.json: the server reports a failed
    run)."""
    load_mnist()  # fetched, verified and cached here: kernels see MNIST read-only
    hide = [str(Path(submission_dir).resolve())]
    with tempfile.TemporaryDirectory(prefix="ps3-gradescope-") as tmp:
        work = Path(tmp) / "work"
        submission = collect(submission_dir, "submission", "submission", work / "ingested")
        if submission.notebooks:
            check_device(limits, [tmp, *hide])
        result = grade_submission(submission, generated_course(), work, limits, threads, hide)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(gradescope_results(result), indent=1))
    return result
