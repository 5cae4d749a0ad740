"""Gradescope-style single submission: /autograder/submission in, /autograder/results/results.json out."""

import json
import tempfile
from dataclasses import replace
from pathlib import Path

from .ingest import collect
from .preflight import check_device
from .reports import gradescope_results
from .runner import _template, grade_submission


def grade_one(submission_dir: Path, results_path: Path, options) -> int:
    from mnist_lab import load_mnist

    load_mnist()  # fetched, verified and cached here: kernels see MNIST read-only
    options = replace(options, source=Path(submission_dir).resolve())  # hidden from the kernels
    with tempfile.TemporaryDirectory(prefix="ps3-single-") as tmp:
        work = Path(tmp) / "work"
        submission = collect(submission_dir, "submission", "submission", work / "ingested")
        if submission.notebooks:
            check_device(options, Path(tmp))  # DeviceError: no results.json, the server reports a failed run
        result = grade_submission(submission, _template(), work, options)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(gradescope_results(result), indent=1))
    print(f"{result.automatic_points:g} automatic points ({result.status}); results in {results_path}")
    return 0
