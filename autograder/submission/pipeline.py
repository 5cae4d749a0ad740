"""One submission, inside its own grading process: sanitize -> execute -> judge -> score.

    forked by launch.start (run_forked), or: python -m autograder.submission.pipeline REQUEST.json

reads a GradingRequest and writes the GradedCells next to it (``cells.json``).
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
import traceback
from pathlib import Path
from typing import NoReturn

from mnist_lab.handin import HANDIN_DIR_ENV, SEED_ENV

from ..course import NOTEBOOKS, release_dir, tool_environment
from ..isolation import sandbox
from ..isolation.containment import NONE, USER_ID, contain, containment_kind
from ..isolation.processes import supervised
from ..options import GPU_MEMORY_PER_KERNEL_GB
from . import execute
from .formgrader_copies import for_formgrader, set_answer_digests
from .request import ANSWER, GradedCells, GradingRequest
from .sanitize import sanitize_all
from .score import kernel_outcomes, score
from .stages import Stages, notebook_stages
from .scratch import ScratchCourse

# The judge's modules (torch, sympy, and what the judge's first operation on the meta device imports: torch._dynamo),
# some two seconds of imports that the judge needs only once the kernels are done.
JUDGE = ["autograder.judge.verdicts", "torch._dynamo"]

TAMPERED = "test or locked cells were changed, deleted or duplicated (restored before grading)"
UNCONTAINED = ("the kernels ran without containment (it needs root, bubblewrap and user namespaces; "
               "see the README)")
USER_ID_ONLY = ("the kernels ran as a user id of their own, without namespaces (refused here, or --no-namespaces): "
                "the references were out of their reach, the network and the machine's other processes were not")


def grade(request: GradingRequest) -> GradedCells:
    """The whole grading of one submission, in a copy of the generated course."""
    stages = Stages()
    if request.requested:
        stages.add("start the grading process (Python, imports)", request.requested, time.time())
    scratch = Path(request.scratch)
    with stages("copy the course"):
        course = ScratchCourse.copy_of(Path(request.course), scratch)
    with stages("sanitize"):
        notebooks = {name: Path(path) for name, path in request.notebooks.items()}
        repaired, notes, tampered, restored = sanitize_all(notebooks, release_dir(course.path), scratch.parent / "sanitized")
        course.submit(request.student, repaired)

    with stages("contain"):
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
    started = time.time()
    course.autograde(request.student, args, env, meanwhile=_import_the_judge)
    ended = time.time()
    for name in NOTEBOOKS:
        started = notebook_stages(stages, workdir / f"{name}.ipynb", started)
    stages.add("nbgrader: write the last notebook, end", started, ended)
    if containment is not None:
        sandbox.end_user(containment.uid)  # nothing of the student's runs while the grader judges (root)
    if containment is None and request.sandbox:
        notes.append(UNCONTAINED)
    elif containment is not None and containment.kind == USER_ID:
        notes.append(USER_ID_ONLY)

    kernel = {}
    for name in NOTEBOOKS:
        kernel.update(kernel_outcomes(workdir / f"{name}.ipynb", notes))
    with stages("judge"):
        from ..judge.verdicts import judge_all  # imported by now (a failed import fails here, with its reason)

        verdicts = judge_all(handin, request.seed)
    with stages("score, formgrader copies"):
        cells, review = score(course.grades(request.student), verdicts, kernel, restored)
        set_answer_digests(cells, repaired)
        kept = for_formgrader(repaired, workdir, cells, notes, uploads=notebooks)
    return GradedCells(cells, notes, ([TAMPERED] if tampered else []) + review,
                       containment.kind if containment else NONE, kept, stages.rows)


def _import_the_judge() -> None:
    """The judge's imports, run alongside nbgrader (``ScratchCourse.autograde``) once problem 5's kernel is ready:
    its setup cell leaves a core free. In the forkserver they would delay the first fork."""
    for module in JUDGE:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - imported again where it is used, which raises it there
            return


def _kernel_settings(request: GradingRequest, workdir: Path, containment, jupyter: Path) -> tuple[list, dict]:
    """nbgrader's arguments and the environment its kernels start with."""
    args = execute.arguments(request.cell_timeout, request.deadline, long_cells=request.long_cells)
    if containment is not None:  # what a kernel left is ended, and its folders taken back, before nbgrader writes
        args = execute.arguments(request.cell_timeout, request.deadline, containment.uid, containment.writable,
                                 str(workdir), long_cells=request.long_cells)
    # Of the grader's own environment the kernels see only what they need (sandbox.KERNEL_ENVIRONMENT): a secret of
    # the grader's must never reach code that could quote it in an answer.
    env = {**sandbox.kernel_environment(tool_environment()), HANDIN_DIR_ENV: str(workdir / ".handin"),
           SEED_ENV: str(request.seed), "MNIST_LAB_DEVICE": request.device, "MNIST_LAB_THREADS": str(request.threads)}
    if request.device == "cuda":  # several workers share the GPU: each kernel's share of its memory
        env["MNIST_LAB_GPU_MEMORY_GB"] = str(GPU_MEMORY_PER_KERNEL_GB)
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


def run_forked(request_path: str, log_path: str, memory_mb: int, environment: dict) -> None:
    """The grading process as the forkserver forks it (launch.py): it sets itself up as a fresh one is started
    (a session of its own, only its own files open, its output in ``log_path``, no input, the data cap, death
    with its parent, ``environment``), then grades."""
    os.setsid()
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # also the batch's pipe that keeps the forkserver alive
    output = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    os.close(nothing)
    os.environ.clear()
    os.environ.update(environment)
    supervised(memory_mb)()
    _run(request_path)


def _run(request_path: str) -> NoReturn:
    try:
        status = main(request_path)
    except BaseException:  # noqa: BLE001 - its traceback is the log's last lines, which the supervisor reports
        traceback.print_exc()
        status = 1
    # The answer is written (or the failure printed): the interpreter's tear-down (torch, sympy, nbgrader) would
    # only cost seconds.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    _run(sys.argv[1])
