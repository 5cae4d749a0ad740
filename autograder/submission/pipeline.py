"""One submission, inside its own grading process: sanitize -> execute -> judge -> score.

    python -m autograder.submission.pipeline REQUEST.json     (started by process.grade_submission)

reads a GradingRequest and writes the GradedCells next to it (``cells.json``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mnist_lab.handin import HANDIN_DIR_ENV, SEED_ENV

from ..course import NOTEBOOKS, release_dir
from ..isolation import sandbox
from ..isolation.containment import NONE, USER_ID, contain, containment_kind
from ..judge.verdicts import judge_all
from . import execute
from .formgrader_copies import for_formgrader, set_answer_digests
from .request import GradedCells, GradingRequest
from .sanitize import sanitize_all
from .score import kernel_outcomes, score
from .scratch import ScratchCourse

ANSWER = "cells.json"
TAMPERED = "test or locked cells were changed, deleted or duplicated (restored before grading)"
UNCONTAINED = ("the kernels ran without containment (it needs root, bubblewrap and user namespaces; "
               "see the README)")
USER_ID_ONLY = ("the kernels ran as a user id of their own, without namespaces (refused here, or --no-namespaces): "
                "the references were out of their reach, the network and the machine's other processes were not")


def grade(request: GradingRequest) -> GradedCells:
    """The whole grading of one submission, in a copy of the generated course."""
    scratch = Path(request.scratch)
    course = ScratchCourse.copy_of(Path(request.course), scratch)
    notebooks = {name: Path(path) for name, path in request.notebooks.items()}
    repaired, notes, tampered = sanitize_all(notebooks, release_dir(course.path), scratch.parent / "sanitized")
    course.submit(request.student, repaired)

    runtime = Path(request.runtime)
    if containment_kind(request.sandbox, request.namespaces) == USER_ID:
        # No mount namespace shows the kernel its folder: the folder must be one its user id can reach, away
        # from the course copy's own (hidden tests, gradebook), which only root may read.
        course.place_autograded(runtime / "autograded")
    containment = contain(course.autograded(request.student), runtime, request.hide, request.sandbox,
                          scratch.parent, request.namespaces)
    workdir = course.autograded(request.student)
    handin = workdir / ".handin"
    args, env = _kernel_settings(request, workdir, containment, scratch.parent / "jupyter")
    course.autograde(request.student, args, env)
    if containment is not None:
        sandbox.end_user(containment.uid)  # nothing of the student's runs while the grader judges (root)
    if containment is None and request.sandbox:
        notes.append(UNCONTAINED)
    elif containment is not None and containment.kind == USER_ID:
        notes.append(USER_ID_ONLY)

    kernel = {}
    for name in NOTEBOOKS:
        kernel.update(kernel_outcomes(workdir / f"{name}.ipynb", notes))
    cells, review = score(course.grades(request.student), judge_all(handin, request.seed), kernel)
    set_answer_digests(cells, repaired)
    kept = for_formgrader(repaired, workdir, cells, notes)
    return GradedCells(cells, notes, ([TAMPERED] if tampered else []) + review,
                       containment.kind if containment else NONE, kept)


def _kernel_settings(request: GradingRequest, workdir: Path, containment, jupyter: Path) -> tuple[list, dict]:
    """nbgrader's arguments and the environment its kernels start with."""
    args = execute.arguments(request.cell_timeout, request.deadline)
    if containment is not None:  # what a kernel left is ended, and its folders taken back, before nbgrader writes
        args = execute.arguments(request.cell_timeout, request.deadline, containment.uid, containment.writable,
                                 str(workdir))
    env = {HANDIN_DIR_ENV: str(workdir / ".handin"), SEED_ENV: str(request.seed),
           "MNIST_LAB_DEVICE": request.device, "MNIST_LAB_THREADS": str(request.threads)}
    if containment is not None:
        sandbox.write_kernel_spec(jupyter, containment.policy_path)
        # The kernel has no network: it talks to nbclient over Unix sockets in its runtime folder, whose connection
        # file jupyter_client writes to TMPDIR.
        env.update(JUPYTER_PATH=str(jupyter), JUPYTER_RUNTIME_DIR=str(containment.runtime),
                   TMPDIR=str(containment.runtime))
        args += [f"--Execute.kernel_name={sandbox.KERNEL_NAME}", "--KernelManager.transport=ipc",
                 f"--KernelManager.ip={containment.runtime / 'kernel'}"]
    return args, env


def main(request_path: str) -> int:
    path = Path(request_path)
    grade(GradingRequest.read(path)).write(path.with_name(ANSWER))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
