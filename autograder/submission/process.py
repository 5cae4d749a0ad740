"""Grade one submission in a process of its own, supervised: its memory limit, a wall-clock limit for the whole
process tree, and whatever it leaves behind killed. Never raises: every failure becomes the submission's status
and a note, and the completed cells keep their points (see execute.py)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable

from ..course import NOTEBOOKS, tool_environment
from ..ingest import Submission
from ..isolation import sandbox
from ..isolation.processes import kill_tree, memory_limit
from ..options import Limits
from ..results import SubmissionResult, blank_cells, safe_name
from .pipeline import ANSWER
from .request import GradedCells, GradingRequest
from .score import is_stop

SUPERVISION_SLACK = 120  # seconds past the submission's time limit before its process tree is killed


def grade_submission(submission: Submission, course: Path, work: Path, limits: Limits, threads: int = 1,
                     hide: Iterable[str] = ()) -> SubmissionResult:
    """Grade ``submission`` in a copy of the generated ``course``, with scratch space under ``work``, its kernels
    training with ``threads`` threads and unable to see ``hide``."""
    device = limits.resolved_device()
    time_limit = limits.submission_seconds(device)
    result = SubmissionResult(submission.student_id, submission.name, "graded", notes=list(submission.notes),
                              digest=submission.digest, device=device, graded_on=socket.gethostname())
    start = time.monotonic()
    if not submission.notebooks:
        result.status = "empty"
        result.notes.append("no gradable notebook: every cell scores 0")
        result.cells = blank_cells("not submitted")
        return result
    work.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{safe_name(submission.student_id)}-", dir=work))
    request = GradingRequest(
        course=str(course), scratch=str(scratch / "course"), student=submission.student_id,
        notebooks={name: str(path) for name, path in submission.notebooks.items()},
        seed=int(submission.digest[:8] or "0", 16), device=device, threads=threads,
        cell_timeout=limits.cell_seconds(device), deadline=time.time() + time_limit, sandbox=limits.sandbox,
        hide=[str(work.parent), *map(str, hide)]).write(scratch / "request.json")
    process = subprocess.Popen([sys.executable, "-m", "autograder.submission.pipeline", str(request)],
                               env=tool_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=memory_limit(limits.memory_limit_mb))
    try:
        output, _ = process.communicate(timeout=time_limit + SUPERVISION_SLACK)
    except subprocess.TimeoutExpired:
        kill_tree(process.pid)
        output, _ = process.communicate()
        result.status = "error"
        result.notes.append(f"grading was stopped after {time_limit + SUPERVISION_SLACK} s; no points could be "
                            "recorded")
    finally:
        sandbox.kill_user(sandbox.uid_for(process.pid))  # whatever the submission's kernels left running
    answer = scratch / ANSWER
    if answer.is_file():
        graded = GradedCells.read(answer)
        result.cells, result.review, result.contained = graded.cells, graded.review, graded.contained
        result.notes.extend(graded.notes)
    elif result.status != "error":
        result.status = "error"
        last = (output or "").strip().splitlines()[-1:]
        result.notes.append(f"grading failed: {last[0][:300]}" if last else "grading failed without output")
    stops = sorted({c.message for c in result.cells if is_stop(c.message)})
    if stops:
        result.status = "incomplete"
        result.notes.extend(stops[:3])
    if not result.cells:
        result.cells = blank_cells("not graded")
    missing = set(NOTEBOOKS) - set(submission.notebooks)
    for cell in result.cells:
        if cell.notebook in missing:
            cell.message = "notebook not submitted"
    result.seconds = time.monotonic() - start
    shutil.rmtree(scratch, ignore_errors=True)
    return result
