"""Gradescope-style single submission: /autograder/submission in, /autograder/results/results.json out."""

import json
import tempfile
from pathlib import Path

from .ingest import collect
from .reports import gradescope_results
from .runner import _template, grade_submission


def grade_one(submission_dir: Path, results_path: Path, options) -> int:
    with tempfile.TemporaryDirectory(prefix="ps3-single-") as tmp:
        work = Path(tmp)
        submission = collect(submission_dir, "submission", "submission", work / "ingested")
        result = grade_submission(submission, _template(work), work, options)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(gradescope_results(result), indent=1))
    print(f"{result.automatic_points:g} automatic points ({result.status}); results in {results_path}")
    return 0
