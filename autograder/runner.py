"""Grade a batch: submissions -> one isolated process each -> results -> gradebook.

    grade_batch(source, out)        the batch, resumable: a finished submission's result is saved at once
    preflight                       before GPU work: a probe started like a kernel must train there (preflight.py)
    executors                       where each submission is graded: here, or one task each on a Dask cluster
    grade_submission(submission)    one submission in its own process, with time and memory limits
    run_autograde(...)              inside that process, one step each:
                                      sanitize   repair each notebook against the release (sanitize.py)
                                      execute    nbgrader's real autograde, kernels contained (sandbox.py)
                                      judge      clean verdicts from what the hidden tests recorded (verdicts.py)
                                      score      the clean verdict counts; disagreements are flagged for review

A submission that times out, crashes its kernel or exhausts memory keeps the points of the cells that
completed (see execute.py); a grading process that fails outright gives that submission status "error" and
the batch goes on.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

from .execute import CELL_OUTPUT_LIMIT, CELL_TIMEOUT_ENV, DEADLINE_ENV, TRUNCATED
from .ingest import NOTEBOOKS, Submission, ingest
from .nbgrader_run import CourseDirectory
from .release import ASSIGNMENT, ROOT, tool_environment

if TYPE_CHECKING:
    from . import sandbox

# Per-cell limits sized for full training (six runs, ~15 s alone on a 2-core CPU, ~2 s on a GPU) with room for a
# slower machine and several workers sharing it.
CELL_TIMEOUT = {"cpu": 600, "cuda": 120}
# Generated course directories (with the hidden tests), one per course version: hidden from the kernels.
TEMPLATE_CACHE = Path.home() / ".cache" / "smdl-ps3" / "courses"


@dataclass
class Options:
    """How to grade. ``None`` limits are derived from the device."""

    device: str = "auto"  # auto | cpu | cuda: where the students' networks train
    workers: int = 1  # submissions graded at once
    cell_timeout: int | None = None  # seconds per notebook cell
    time_limit: int | None = None  # seconds per submission, all notebooks together
    memory_limit_mb: int = 6144  # address space for data (RLIMIT_DATA) of a submission's processes; 0: none
    force: bool = False  # regrade submissions whose files did not change
    db_url: str | None = None  # the gradebook (default: sqlite in the output folder)
    progress: bool = True
    contain: bool = True  # run kernels in the sandbox where it is available (sandbox.py)
    source: Path | None = None  # the submissions as given (hidden from kernels); set by grade_batch
    cluster: str | None = None  # a Dask scheduler's address: grade there, one task per submission (cluster.py)

    def resolved_device(self) -> str:
        if self.device == "auto":
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def limits(self) -> tuple[int, int]:
        cell = self.cell_timeout or CELL_TIMEOUT[self.resolved_device()]
        return cell, self.time_limit or 4 * cell


@dataclass
class CellResult:
    """One graded cell: its points, and what the student should read about it."""

    notebook: str
    grade_id: str
    points: float | None  # None: waits for a person (manually graded answer)
    max_points: float
    message: str = ""  # why a test cell failed, from the grader's clean verdict (never test code)
    kernel_points: float | None = None  # what the test scored inside the student's kernel, for comparison

    @property
    def pending(self) -> bool:
        return self.points is None


@dataclass
class SubmissionResult:
    """The outcome of grading one student."""

    student_id: str
    name: str
    # graded | incomplete (cells stopped: time, crash, memory) | error (grading failed) | empty (nothing to grade)
    # | unfinished (the cluster lost the task: not saved, the next run grades it)
    status: str
    cells: list[CellResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # ingest and grading notes for the student and instructor
    seconds: float = 0.0
    digest: str = ""
    device: str = ""
    review: list[str] = field(default_factory=list)  # why a person should look at this submission (empty: no need)
    contained: bool = True  # the kernels ran in the sandbox (False where it is unavailable: see the README)
    graded_on: str = ""  # the machine (and Dask worker) that graded it

    @property
    def automatic_points(self) -> float:
        return sum(c.points for c in self.cells if c.points is not None)

    @property
    def pending_points(self) -> float:
        return sum(c.max_points for c in self.cells if c.points is None)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "SubmissionResult":
        return cls(**{**data, "cells": [CellResult(**c) for c in data["cells"]]})


def _limit_resources(memory_mb: int):
    def apply():  # runs in the child before it starts: the limit covers nbgrader and the kernel it launches
        if memory_mb:
            limit = memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return apply


def _template(root: Path = ROOT, cache: Path | None = None) -> Path:
    """The course directory with the assignment generated from ``root`` (nbgrader generate_assignment: seconds),
    copied for every submission. Kept in ``cache`` under the course's content digest and nbgrader's version: an
    unchanged course is generated once per machine (a new batch, a grading server's next submission), a changed
    one (a mended hidden test) gets its own."""
    import hashlib

    import nbgrader

    from .cluster import CourseBundle

    cache = cache or TEMPLATE_CACHE
    key = hashlib.sha256(f"{CourseBundle.build(root).digest} nbgrader {nbgrader.__version__}".encode()).hexdigest()
    template = cache / f"{ASSIGNMENT}-{key[:16]}"
    if (template / "gradebook.db").is_file():
        return template
    cache.mkdir(parents=True, exist_ok=True)
    course = CourseDirectory.generate(root)
    staged = Path(tempfile.mkdtemp(prefix=".staging-", dir=cache))
    try:
        shutil.copytree(course.path, staged, dirs_exist_ok=True)
        os.rename(staged, template)  # whole or not at all, also when two graders make it at once
    except OSError:
        if not (template / "gradebook.db").is_file():
            raise
    finally:
        course.remove()
        shutil.rmtree(staged, ignore_errors=True)
    return template


def _kernel_results(notebook_path: Path, notes: list[str]) -> dict[str, str]:
    """grade_id -> 'ErrorName: message' of each failed cell of an autograded notebook (for the grader's own use:
    a message written by student code is never shown, except the runner's own stop reasons). Notes the cells
    whose output was cut."""
    found = {}
    if not notebook_path.is_file():
        return found
    for index, cell in enumerate(nbformat.read(notebook_path, as_version=4).cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        outputs = cell.get("outputs", [])
        errors = [o for o in outputs if o.get("output_type") == "error"]
        if grade_id and errors:
            found[grade_id] = f"{errors[-1].get('ename', 'Error')}: {errors[-1].get('evalue', '')}".strip()
        if any(TRUNCATED in str(o.get("text", "")) for o in outputs if o.get("output_type") == "stream"):
            notes.append(f"{notebook_path.stem}: the output of cell {index + 1} was cut at "
                         f"{CELL_OUTPUT_LIMIT // 2**20} MB")
    return found


STOP_REASONS = ("GradingStopped", "CellTimeoutError")
# Cells whose in-kernel test decides as much as the clean verdict (the others only check types in the kernel,
# because their answers cannot be judged there without the reference answers).
DECISIVE_IN_KERNEL = {"p5a_tests", "p5b_tests", "p5c_tests", "p7_activation_tests"}


def sanitize_notebooks(template: Path, notebooks: dict[str, Path], folder: Path) -> tuple[dict[str, Path], list, bool]:
    """Repair each notebook against the release; the repaired files, the notes and whether tests were tampered."""
    from .sanitize import repair

    folder.mkdir(parents=True, exist_ok=True)
    repaired, notes, tampered = {}, [], False
    for name, path in notebooks.items():
        release = nbformat.read(template / "release" / ASSIGNMENT / f"{name}.ipynb", as_version=4)
        result = repair(nbformat.read(path, as_version=4), release, name)
        repaired[name] = folder / f"{name}.ipynb"
        nbformat.write(result.notebook, repaired[name])
        notes += result.notes
        tampered |= result.tampered
    return repaired, notes, tampered


def _sandbox_policy(request: dict, workdir: Path, runtime: Path) -> sandbox.Policy:
    from . import sandbox
    from mnist_lab.data import default_root as default_mnist_dir

    import solutions

    # The grader's own code and the reference answers stay hidden wherever they are installed (site-packages is
    # exposed with the rest of Python).
    packages = [str(Path(__file__).parent), str(Path(solutions.__file__).parent)]
    hidden = [str(Path.home()), str(ROOT), *packages, str(TEMPLATE_CACHE), request["out"], request.get("source", ""),
              "/etc/shadow"]
    prefixes = sorted({sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    return sandbox.Policy(uid=sandbox.uid_for(os.getpid()), hide=[h for h in hidden if h],
                          expose_ro=[*prefixes, str(default_mnist_dir())], expose_rw=[str(workdir), str(runtime)],
                          env={"MNIST_DIR": str(default_mnist_dir()), "TMPDIR": "/tmp"})


def run_autograde(template: Path, scratch: Path, student: str, notebooks: dict[str, Path],
                  request: dict | None = None) -> dict:
    """Sanitize, execute (nbgrader autograde), judge and score one student in a copy of the template course."""
    from . import sandbox
    from .verdicts import judge_all

    request = request or {}
    seed = int(request.get("seed", 0))
    course = CourseDirectory.copy_of(template, scratch)
    repaired, notes, tampered = sanitize_notebooks(template, notebooks, scratch.parent / "sanitized")
    course.submit(student, repaired)

    workdir = scratch / "autograded" / student / ASSIGNMENT
    handin = workdir / ".handin"
    env = {"PS3_HANDIN_DIR": str(handin), "PS3_HANDIN_SEED": str(seed)}
    args = []
    contained = bool(request.get("contain", True)) and sandbox.available()
    if contained:
        # A short folder of its own: a Unix socket's path holds at most 107 bytes, and batch folders (a Dask
        # worker's scratch space above all) can be deeper than that.
        runtime = Path(tempfile.mkdtemp(prefix="ps3-rt-", dir="/tmp"))
        policy = _sandbox_policy(request, workdir, runtime).write(scratch.parent / "policy.json")
        sandbox.write_kernel_spec(scratch.parent / "jupyter", policy)
        # The kernel has no network: it talks to nbclient over Unix sockets in the runtime folder, whose connection
        # file jupyter_client writes to TMPDIR.
        env.update(JUPYTER_PATH=str(scratch.parent / "jupyter"), JUPYTER_RUNTIME_DIR=str(runtime), TMPDIR=str(runtime))
        args = [f"--Execute.kernel_name={sandbox.KERNEL_NAME}", "--KernelManager.transport=ipc",
                f"--KernelManager.ip={runtime / 'kernel'}"]
    elif request.get("contain", True):
        notes.append("the kernels ran without containment (the grader is not root or namespaces are refused)")
    try:
        course.autograde(student, extra_args=args, env=env)
    finally:
        if contained:
            sandbox.kill_user(sandbox.uid_for(os.getpid()))
            shutil.rmtree(runtime, ignore_errors=True)

    kernel_messages = {nb: _kernel_results(workdir / f"{nb}.ipynb", notes) for nb in NOTEBOOKS}
    verdicts = judge_all(handin, seed)
    cells, review = [], []
    if tampered:
        review.append("test or locked cells were changed, deleted or duplicated (restored before grading)")
    for grade in course.grades(student):
        if grade.needs_manual_grade:
            cells.append(CellResult(grade.notebook, grade.grade_id, None, grade.max_score))
            continue
        kernel_message = kernel_messages[grade.notebook].get(grade.grade_id, "")
        verdict = verdicts.get(grade.grade_id)
        if verdict is None:  # a manually graded answer left unanswered: nbgrader scored it
            cells.append(CellResult(grade.notebook, grade.grade_id, grade.score, grade.max_score,
                                    "" if grade.score else "not answered", grade.score))
            continue
        points = grade.max_score if verdict.passed else 0.0
        message = verdict.message
        if not verdict.recorded and kernel_message.startswith(STOP_REASONS):
            message = kernel_message
        elif not verdict.recorded and kernel_message:
            error_name = kernel_message.split(":")[0]  # only the exception's class name: student text stays out
            if error_name.isidentifier() and len(error_name) <= 40:
                message += f"; the test cell stopped with {error_name}"
        kernel_passed = bool(grade.score) and not kernel_message
        if kernel_passed != verdict.passed and (verdict.passed or grade.grade_id in DECISIVE_IN_KERNEL
                                                or not verdict.recorded):
            review.append(f"{grade.grade_id}: the test {'passed' if kernel_passed else 'failed'} inside the kernel "
                          f"but the grader's own check {'passed' if verdict.passed else 'failed'}")
        cells.append(CellResult(grade.notebook, grade.grade_id, points, grade.max_score, message, grade.score))
    return {"cells": [asdict(c) for c in cells], "notes": notes, "review": review, "contained": contained}


def grade_submission(submission: Submission, template: Path, work: Path, options: Options) -> SubmissionResult:
    """Grade one submission in its own process group, with its limits; never raises."""
    device = options.resolved_device()
    cell_timeout, time_limit = options.limits()
    result = SubmissionResult(submission.student_id, submission.name, "graded", problems=list(submission.problems),
                              digest=submission.digest, device=device, graded_on=socket.gethostname())
    start = time.monotonic()
    if not submission.notebooks:
        result.status = "empty"
        result.problems.append("no gradable notebook: every cell scores 0")
        result.cells = _blank_cells(template, "not submitted")
        return result
    work.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{_safe(submission.student_id)}-", dir=work))
    request = scratch / "request.json"
    request.write_text(json.dumps({"template": str(template), "scratch": str(scratch / "course"),
                                   "student": submission.student_id, "seed": int(submission.digest[:8] or "0", 16),
                                   "out": str(work.parent), "source": str(options.source or ""),
                                   "contain": options.contain,
                                   "notebooks": {k: str(v) for k, v in submission.notebooks.items()}}))
    threads = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1) // options.workers)
    env = {**tool_environment(), DEADLINE_ENV: str(time.time() + time_limit), "MNIST_LAB_DEVICE": device,
           "MNIST_LAB_THREADS": str(threads), CELL_TIMEOUT_ENV: str(cell_timeout)}
    process = subprocess.Popen([sys.executable, "-m", "autograder.runner", str(request)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=_limit_resources(options.memory_limit_mb))
    try:
        output, _ = process.communicate(timeout=time_limit + 120)
    except subprocess.TimeoutExpired:
        _kill_tree(process.pid)
        output, _ = process.communicate()
        result.status = "error"
        result.problems.append(f"grading was stopped after {time_limit + 120} s; no points could be recorded")
    finally:
        from . import sandbox

        sandbox.kill_user(sandbox.uid_for(process.pid))  # whatever the submission's kernels left running
    answer = scratch / "cells.json"
    if answer.is_file():
        graded = json.loads(answer.read_text())
        result.cells = [CellResult(**c) for c in graded["cells"]]
        result.problems.extend(graded["notes"])
        result.review = graded["review"]
        result.contained = graded["contained"]
    elif result.status != "error":
        result.status = "error"
        result.problems.append("grading failed: " + (output or "").strip().splitlines()[-1:][0][:300]
                               if (output or "").strip() else "grading failed without output")
    if any(c.message.startswith(STOP_REASONS) for c in result.cells):
        result.status = "incomplete"
        reasons = sorted({c.message for c in result.cells if c.message.startswith(STOP_REASONS)})
        result.problems.extend(reasons[:3])
    if not result.cells:
        result.cells = _blank_cells(template, "not graded")
    missing = set(NOTEBOOKS) - set(submission.notebooks)
    for cell in result.cells:
        if cell.notebook in missing:
            cell.message = "notebook not submitted"
    result.seconds = time.monotonic() - start
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def _kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started (nbgrader, and kernels, which run in sessions of their own)."""
    import psutil

    try:
        root = psutil.Process(pid)
        tree = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    for process in tree:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=10)


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)[:40] or "student"


def _blank_cells(template: Path, message: str) -> list[CellResult]:
    """Every graded cell of the assignment at 0 points, for a submission that could not be graded."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{template / 'gradebook.db'}") as gb:
        assignment = gb.find_assignment(ASSIGNMENT)
        return [CellResult(nb.name, cell.name, 0.0, cell.max_score, message)
                for nb in assignment.notebooks for cell in nb.grade_cells]


class ResultStore:
    """One JSON file per finished submission: what makes a batch resumable and re-runs incremental."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, student_id: str) -> Path:
        return self.folder / f"{_safe(student_id)}.json"

    def load(self, student_id: str) -> SubmissionResult | None:
        try:
            return SubmissionResult.from_json(json.loads(self.path(student_id).read_text()))
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def save(self, result: SubmissionResult) -> None:
        target = self.path(result.student_id)
        tmp = target.with_suffix(".json.part")
        tmp.write_text(json.dumps(result.to_json(), indent=1))
        os.replace(tmp, target)  # a batch killed mid-write keeps the previous complete file


def grade_batch(source: Path, out: Path, options: Options | None = None, on_result=None) -> list[SubmissionResult]:
    """Grade every submission in ``source`` (folder or Moodle zip); results, gradebook and reports in ``out``.

    Exactly once: a result is written to the gradebook (replacing that student's grades) before it is saved to
    ``out/results``, and a saved result the gradebook lacks is written again, so a batch killed at any point, a
    task retried or a lost Dask worker never loses a grade nor records one twice.
    """
    from dataclasses import replace

    from mnist_lab import load_mnist

    from . import gradebook, reports
    from .executors import open_executor
    from .preflight import check_device

    options = replace(options or Options(), source=Path(source).resolve())
    load_mnist()  # fetched, verified and cached once here: kernels see MNIST read-only
    out = Path(out).resolve()  # nbgrader runs in other working directories: every path must be absolute
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    submissions = ingest(source, work / "ingested")
    store = ResultStore(out / "results")
    results, todo = {}, []
    for submission in submissions:
        previous = store.load(submission.student_id)
        if previous and previous.digest == submission.digest and not options.force:
            results[submission.student_id] = previous
        else:
            todo.append(submission)
    if todo and not options.cluster:  # a cluster's executor checks each worker on its own machine
        check_device(options, out)  # a GPU the kernels cannot use would cost every student problem 5
    template = _template()
    db_url = options.db_url or f"sqlite:///{(out / 'gradebook.db').resolve()}"
    gradebook.prepare(db_url, template)
    for student in gradebook.missing(db_url, list(results)):  # saved, but killed before the gradebook had it
        gradebook.record(db_url, results[student])
    bar = _progress(len(todo), options.progress)
    with open_executor(options) as executor:
        for result in executor.grade(todo, template, work, options):
            if result.status != "unfinished":  # a task the cluster lost is graded again by the next run
                gradebook.record(db_url, result)
                store.save(result)
            results[result.student_id] = result
            bar.set_postfix_str(f"{result.student_id}: {result.automatic_points:g} pts, {result.status}")
            bar.update()
            if on_result:
                on_result(result)
    bar.close()
    ordered = [results[s.student_id] for s in submissions if s.student_id in results]
    reports.write_all(out, ordered)
    return ordered


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="grading", unit="submission", disable=not enabled or total == 0)


def _child(request_path: str) -> int:
    """Inside the isolated process: run autograde for one request and write cells.json next to it."""
    request = json.loads(Path(request_path).read_text())
    graded = run_autograde(Path(request["template"]), Path(request["scratch"]), request["student"],
                           {k: Path(v) for k, v in request["notebooks"].items()}, request)
    answer = Path(request_path).with_name("cells.json")
    answer.write_text(json.dumps(graded))
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
