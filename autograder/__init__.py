"""The autograder of problem set 3 (the README's "Grading a class" and "Grade integrity" say what it does).

Public API; each name is imported on first use, so that importing a submodule (the sandbox launcher, the grading
process) costs nothing else:

    grade_batch(source, out, BatchOptions(...))       a folder or Moodle zip of submissions -> results and reports
    grade_gradescope(submission_dir, results_path, Limits(...))   one submission -> Gradescope's results.json
    BatchOptions, Limits                              how to grade (options.py)
    SubmissionResult, CellResult                      what grading produces (results.py)
    CELLS                                             the assignment's graded cells (cells.py)
"""

import sys
from importlib import import_module

# jsonschema (under nbformat and jupyter_events) imports rfc3987_syntax, an optional checker of the "iri" format
# that compiles some 35 Earley parsers as it is imported: 1.5 s of every grader process (jsonschema issue 1428).
# No schema nbformat, nbgrader or Jupyter validates uses that format; without the module jsonschema leaves it
# unchecked. Only this package's own processes are affected, never a kernel's.
sys.modules.setdefault("rfc3987_syntax", None)

_PUBLIC = {
    "grade_batch": "batch", "grade_gradescope": "gradescope", "BatchOptions": "options", "Limits": "options",
    "SubmissionResult": "results", "CellResult": "results", "CELLS": "cells",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
