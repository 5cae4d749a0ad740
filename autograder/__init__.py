"""The autograder of problem set 3 (the README's "Grading a class" and "Grade integrity" say what it does).

Public API; each name is imported on first use, so that importing a submodule (the sandbox launcher, the grading
process) costs nothing else:

    grade_batch(source, out, BatchOptions(...))       a folder or Moodle zip of submissions -> results and reports
    grade_gradescope(submission_dir, results_path, Limits(...))   one submission -> Gradescope's results.json
    BatchOptions, Limits                              how to grade (options.py)
    SubmissionResult, CellResult                      what grading produces (results.py)
    CELLS                                             the assignment's graded cells (cells.py)
"""

from importlib import import_module

_PUBLIC = {
    "grade_batch": "batch", "grade_gradescope": "gradescope", "BatchOptions": "options", "Limits": "options",
    "SubmissionResult": "results", "CellResult": "results", "CELLS": "cells",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
