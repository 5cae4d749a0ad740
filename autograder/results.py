"""What grading produces: one result per cell and per submission, and the store that makes batches resumable.

Glossary of a cell's outcomes, in the order they arise (each has one job):
- ``judge.symbolic.Comparison``: one sympy answer compared with the reference (equal, or where and how not);
- ``judge.verdicts.CellVerdict``: the grader's clean decision on one test cell, from what its hidden test recorded
  (a cell may hold many comparisons);
- ``submission.scratch.CellGrade``: what nbgrader's gradebook says of a cell after autograde (the in-kernel
  score, or that a person must grade it);
- ``CellResult`` (here): the cell's outcome as reported: the verdict's points and message, nbgrader's score kept
  for comparison, ``None`` points for a written answer waiting for a person.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .cells import BY_ID, CELLS


UNFINISHED = "unfinished"  # a submission status: graded by the next run, never saved


@dataclass
class CellResult:
    """One graded cell: its points, and what the student should read about it."""

    notebook: str
    grade_id: str
    points: float | None  # None: waits for a person (manually graded answer)
    max_points: float
    message: str = ""  # why a test cell failed, from the grader's clean verdict (never test code)
    kernel_points: float | None = None  # what the test scored inside the student's kernel, for comparison
    answer_digest: str = ""  # a written answer: sha256 of its text, to tell whether a hand grade still applies
    comment: str = ""  # a person's comment (a TA's, from the gradebook)
    # For the class report (outputs/class_report.py), from the verdict: the named mistake of a failure
    # (mistakes.py; "" for none), the message without the submission's own text, and problem 5's trained
    # networks as the grader measured them ({condition, n_examples, epochs, accuracy} each).
    mistake: str = ""
    scrubbed: str = ""
    runs: list[dict] = field(default_factory=list)

    @property
    def pending(self) -> bool:
        return self.points is None

    @property
    def written(self) -> bool:
        return BY_ID[self.grade_id].written if self.grade_id in BY_ID else False


@dataclass
class SubmissionResult:
    """The outcome of grading one student."""

    student_id: str
    name: str
    # graded | incomplete (cells stopped: time, crash, memory) | error (grading failed) | empty (nothing to grade)
    # | UNFINISHED (the cluster lost the task, or the batch was stopped: not saved, the next run grades it)
    status: str
    cells: list[CellResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was odd about the files or the grading, for everyone
    seconds: float = 0.0
    digest: str = ""
    device: str = ""
    review: list[str] = field(default_factory=list)  # why a person should look at this submission (empty: no need)
    contained: bool = True  # the references were out of the kernels' reach (False where not: see the README)
    containment: str = ""  # how: "namespaces", "user id" (file permissions only) or "none" (isolation/containment.py)
    # How its memory was limited: "cgroup v2" or "cgroup v1" (the whole grading and its tmpfs under one limit),
    # "per process" (RLIMIT_DATA alone: no cgroup could be made) or "none" (isolation/memory.py)
    memory_limit: str = ""
    graded_on: str = ""  # the machine (and Dask worker) that graded it
    handed_in: str = ""  # when the newest notebook was uploaded (UTC, ISO 8601): formgrader's "Timestamp"
    # The notebooks a TA opens in formgrader ("submitted/<name>.ipynb", "autograded/<name>.ipynb" -> notebook JSON),
    # carried from the grading process (or a Dask worker) to the batch, which writes them into the grading folder.
    notebooks: dict[str, str] = field(default_factory=dict)
    # Where the grading time went: [stage, start, end] in seconds since the epoch (submission/stages.py).
    stages: list[list] = field(default_factory=list)

    @property
    def automatic_points(self) -> float:
        """Points of the cells the grader decides."""
        return sum(c.points for c in self.cells if c.points is not None and not c.written)

    @property
    def hand_points(self) -> float:
        """Points of written answers: a person's (from the gradebook), or 0 for one left unanswered."""
        return sum(c.points for c in self.cells if c.points is not None and c.written)

    @property
    def total_points(self) -> float:
        return self.automatic_points + self.hand_points

    @property
    def pending_points(self) -> float:
        return sum(c.max_points for c in self.cells if c.points is None)

    @property
    def max_points(self) -> float:
        return sum(c.max_points for c in self.cells)

    @property
    def clean_runs(self) -> list[dict]:
        """Problem 5's trained networks with the test accuracy the grader measured, one per condition and budget."""
        found = {}
        for cell in self.cells:
            for run in cell.runs:
                found.setdefault((run.get("condition"), run.get("n_examples")), run)
        return list(found.values())

    def points_of(self, notebook: str) -> float:
        return sum(c.points or 0 for c in self.cells if c.notebook == notebook)

    @property
    def final(self) -> bool:
        """Every cell has its points and the grading did not fail: a grade that may go to the students."""
        return self.status in ("graded", "incomplete", "empty") and not self.pending_points

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionResult":
        data = dict(data)
        if "problems" in data:  # results saved before the notes were called notes
            data["notes"] = data.pop("problems")
        return cls(**{**data, "cells": [CellResult(**c) for c in data["cells"]]})


def blank_cells(message: str) -> list[CellResult]:
    """Every graded cell of the assignment at 0 points, for a submission that could not be graded."""
    return [CellResult(cell.notebook, cell.grade_id, 0.0, cell.points, message) for cell in CELLS]


def safe_name(text: str) -> str:
    """A file name for a student id (ids come from folder names and Moodle: any text)."""
    return "".join(ch if ch.isalnum() else "_" for ch in text)[:40] or "student"


class ResultStore:
    """One JSON file per finished submission: what makes a batch resumable and re-runs incremental.

    A result's file is ``<the id's letters and digits, 40 at most>-<10 hex digits of the id's sha256>.json``: ids
    that differ only in what a file name cannot hold (``ann.lee`` and ``ann_lee``) never share a file. A file of
    the earlier naming (the first part alone) is still read, for its own student only, and replaced on saving."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, student_id: str) -> Path:
        digest = hashlib.sha256(student_id.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        return self.folder / f"{safe_name(student_id)}-{digest}.json"

    def _earlier_path(self, student_id: str) -> Path:
        return self.folder / f"{safe_name(student_id)}.json"

    def load(self, student_id: str) -> SubmissionResult | None:
        for path in (self.path(student_id), self._earlier_path(student_id)):
            result = self._read(path)
            if result is not None and result.student_id == student_id:
                return result
        return None

    @staticmethod
    def _read(path: Path) -> SubmissionResult | None:
        try:
            return SubmissionResult.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def load_all(self) -> list[SubmissionResult]:
        """Every saved result, by student id (one per student: its file of the current naming first)."""
        found = {}
        for path in sorted(self.folder.glob("*.json"), key=lambda p: p.name.count("-") == 0):
            result = self._read(path)
            if result is not None:
                found.setdefault(result.student_id, result)
        return sorted(found.values(), key=lambda r: r.student_id)

    def save(self, result: SubmissionResult) -> None:
        target = self.path(result.student_id)
        tmp = target.with_suffix(".json.part")
        tmp.write_text(json.dumps(result.to_json(), indent=1))
        os.replace(tmp, target)  # a batch killed mid-write keeps the previous complete file
        earlier = self._earlier_path(result.student_id)
        if (self._read(earlier) or result).student_id == result.student_id and earlier != target:
            earlier.unlink(missing_ok=True)
