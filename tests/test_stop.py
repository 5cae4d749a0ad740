"""Stopping a batch: Ctrl-C (SIGINT) or SIGTERM to `python -m autograder grade` while a submission trains ends
every process the batch started within seconds, saves no half result, leaves no runtime folder, and the same
command then finishes the batch with the grades of an uninterrupted run."""

import os
import shutil
import signal
import subprocess
import sys
import time

import psutil
import pytest

from autograder.course import tool_environment
from autograder.results import ResultStore
from autograder.testing.examples import EXAMPLE_SUBMISSIONS, EXAMPLES, lost_cells
from helpers import ps3_folders, reference_batch

pytestmark = pytest.mark.slow


def _kernels(process: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in process.children(recursive=True):
        try:
            if any("ipykernel_launcher" in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def _grading_process(kernel: psutil.Process, batch: psutil.Process) -> psutil.Process:
    """The grading process above ``kernel`` (forked by the batch's forkserver, or started by the batch): the
    outermost process between them that leads a session of its own."""
    between = []
    for parent in kernel.parents():
        if parent.pid == batch.pid:
            break
        between.append(parent)
    return [p for p in between if os.getsid(p.pid) == p.pid][-1]


def _alive(processes: list[psutil.Process]) -> list[int]:
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process.pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _as_a_background_job() -> None:
    """What a shell script's `command &` does to the job: SIGINT ignored (the batch must stop on it all the same)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _stop_while_training(command: list[str], cwd, results, how: signal.Signals) -> None:
    """Start ``command`` (as a script's background job), send ``how`` once s1's first kernel (problem 5: training)
    has run for 15 s, and check that everything the batch started is gone within 10 s, with no runtime folder and
    no result for s1."""
    before = ps3_folders()
    grade = subprocess.Popen(command, cwd=cwd, env=tool_environment(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True, preexec_fn=_as_a_background_job)
    batch, deadline = psutil.Process(grade.pid), time.monotonic() + 300
    while not _kernels(batch):
        assert grade.poll() is None and time.monotonic() < deadline, "no kernel started"
        time.sleep(0.2)
    time.sleep(15)  # the reference network is training
    started = batch.children(recursive=True)
    assert _kernels(batch) and grade.poll() is None
    grade.send_signal(how)
    stopped_by = time.monotonic() + 10
    _, errors = grade.communicate(timeout=10)
    while _alive(started) and time.monotonic() < stopped_by:
        time.sleep(0.1)
    assert _alive(started) == [], f"still running 10 s after {how.name}"
    assert grade.returncode == 130 and "Run the same command" in errors, errors
    assert ps3_folders() <= before, "a runtime folder was left behind"
    assert ResultStore(results).load("s1") is None, "a half-graded submission was saved"


def test_a_stopped_batch_ends_everything_and_the_same_command_finishes_it(tmp_path):
    """s1 hands in the reference answers (problem 5 trains), s2 those of problems 6 and 7. Stopped by SIGINT, then
    by SIGTERM, then left to finish: every grade as in an uninterrupted run (the reference example's expected
    grade, cell by cell)."""
    reference_batch(tmp_path / "submissions", ["s2"])
    shutil.copytree(EXAMPLES / "reference", tmp_path / "submissions" / "s1")
    command = [sys.executable, "-m", "autograder", "grade", "submissions", "--out", "out", "--workers", "2",
               "--no-progress", "--cell-timeout", "60"]
    results = tmp_path / "out" / "results"
    for how in (signal.SIGINT, signal.SIGTERM):
        _stop_while_training(command, tmp_path, results, how)
    finished = subprocess.run(command, cwd=tmp_path, env=tool_environment(), capture_output=True, text=True,
                              timeout=900)
    assert finished.returncode == 0, finished.stderr
    store = ResultStore(results)
    s1, s2 = store.load("s1"), store.load("s2")
    expected = EXAMPLE_SUBMISSIONS["reference"][1]
    assert (s1.automatic_points, s1.pending_points, s1.status, lost_cells(s1)) == \
        (expected.automatic, expected.pending, expected.status, expected.lost)
    assert (s2.automatic_points, s2.status) == (8.5, "graded")


def _reference_until_its_kernel_runs(tmp_path) -> tuple[subprocess.Popen, psutil.Process]:
    """`grade` of one reference submission with one worker, once its first kernel runs."""
    shutil.copytree(EXAMPLES / "reference", tmp_path / "submissions" / "s1")
    grade = subprocess.Popen([sys.executable, "-m", "autograder", "grade", "submissions", "--out", "out",
                              "--workers", "1", "--no-progress"], cwd=tmp_path, env=tool_environment(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    batch, deadline = psutil.Process(grade.pid), time.monotonic() + 300
    while not _kernels(batch):
        assert grade.poll() is None and time.monotonic() < deadline, "no kernel started"
        time.sleep(0.2)
    return grade, batch


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=lambda how: how.name)
def test_a_grading_process_killed_by_any_signal_takes_nbgrader_and_its_kernel_with_it(tmp_path, how):
    """The grading process (``autograder.submission.pipeline``, forked) dies while its kernel trains: nbgrader and the
    kernel end within 10 s, the batch goes on (the submission is an error, saying so), no runtime folder is left."""
    before = ps3_folders()
    grade, batch = _reference_until_its_kernel_runs(tmp_path)
    time.sleep(5)
    pipeline = _grading_process(_kernels(batch)[0], batch)
    below = pipeline.children(recursive=True)
    assert _kernels(pipeline)
    pipeline.send_signal(how)
    stopped_by = time.monotonic() + 10
    while _alive(below) and time.monotonic() < stopped_by:
        time.sleep(0.1)
    assert _alive(below) == [], f"nbgrader or the kernel outlived the grading process killed by {how.name}"
    assert grade.wait(timeout=120) == 0
    [result] = [ResultStore(tmp_path / "out" / "results").load("s1")]
    assert result.status == "error" and f"the grading process was killed by {how.name}" in " ".join(result.notes)
    assert ps3_folders() <= before


def test_a_batch_killed_outright_takes_everything_it_started_with_it(tmp_path):
    """SIGKILL to the batch (no handler runs): its forkserver, the grading process and the kernel end within 10 s
    all the same (the forkserver ends with the batch, the grading process with the forkserver, the kernel with
    the grading process). The next run removes the runtime folder it left (tests/test_grading.py)."""
    grade, batch = _reference_until_its_kernel_runs(tmp_path)
    started = batch.children(recursive=True)
    assert _grading_process(_kernels(batch)[0], batch) in started
    grade.kill()
    grade.wait()
    stopped_by = time.monotonic() + 10
    while _alive(started) and time.monotonic() < stopped_by:
        time.sleep(0.1)
    assert _alive(started) == [], "a process of the batch outlived it"
