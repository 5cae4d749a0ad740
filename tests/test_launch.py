"""How grading processes start (submission/launch.py): forked from the forkserver that imported the grader once,
or, inside a daemonic process (a Dask worker), as a fresh interpreter. Either way alone in its session, with only
its own files open, its output in its log, its data capped, killable with its tree and waited for by its exit."""

import multiprocessing
import os
import subprocess
import sys
import time

import psutil
import pytest

from autograder.isolation.processes import kill_tree
from autograder.submission import launch


def _wait_until_blocked(pid: int, seconds: float = 120) -> psutil.Process:
    """The grading process, once it waits to open its request (a FIFO nobody writes): set up, about to grade."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        with open(f"/proc/{pid}/wchan") as wchan:
            if wchan.read() in ("fifo_open", "wait_for_partner"):  # the kernel function's name varies
                return psutil.Process(pid)
        time.sleep(0.1)
    raise AssertionError("the grading process never got to its request")


def test_a_forked_grading_process_is_alone_in_its_session_with_only_its_files(tmp_path):
    request, log = tmp_path / "request.json", tmp_path / "grading.log"
    os.mkfifo(request)  # reading it blocks: the process can be looked at while it runs
    process = launch.start(request, log, memory_mb=4096)
    assert isinstance(process, launch.Forked)
    try:
        running = _wait_until_blocked(process.pid)
        assert os.getsid(process.pid) == process.pid  # a Ctrl-C in the grader's terminal does not reach it
        open_fds = sorted(int(fd) for fd in os.listdir(f"/proc/{process.pid}/fd"))
        assert open_fds[:3] == [0, 1, 2] and len(open_fds) <= 4, open_fds  # + the FIFO it is opening, at most
        assert os.readlink(f"/proc/{process.pid}/fd/1") == str(log) == os.readlink(f"/proc/{process.pid}/fd/2")
        assert running.rlimit(psutil.RLIMIT_DATA) == (4096 * 2**20,) * 2
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=0.2)
    finally:
        kill_tree(process.pid)
    assert process.wait(timeout=30) == -9 and process.returncode == -9


def test_a_grading_process_that_fails_says_why_in_its_log_and_exits_1(tmp_path):
    request, log = tmp_path / "request.json", tmp_path / "grading.log"
    request.write_text('{"course": "/nowhere"}')
    process = launch.start(request, log, memory_mb=0)
    assert process.wait(timeout=120) == 1
    assert "RequestError" in log.read_text().strip().splitlines()[-1]


def _start_in_a_daemon(request, log, answer):
    process = launch.start(request, log, memory_mb=0)
    answer.put((type(process).__name__, process.wait(timeout=120)))


def test_inside_a_daemonic_process_it_is_a_fresh_interpreter(tmp_path):
    """Dask runs its workers as daemonic processes, which may not have multiprocessing children."""
    request, log = tmp_path / "request.json", tmp_path / "grading.log"
    request.write_text('{"course": "/nowhere"}')
    context = multiprocessing.get_context("spawn")
    answer = context.Queue()
    daemon = context.Process(target=_start_in_a_daemon, args=(request, log, answer), daemon=True)
    daemon.start()
    assert answer.get(timeout=180) == ("Popen", 1)
    daemon.join(30)
    assert "RequestError" in log.read_text().strip().splitlines()[-1]


def test_the_forkserver_imports_no_judge_which_each_grading_process_imports_by_name():
    """The first fork waits for the forkserver's imports: torch and sympy (the judge's) are not among them; the
    grading process imports the judge's modules by name (pipeline.JUDGE), so each name must be one."""
    code = ("import importlib, sys\nfrom autograder.submission import launch, pipeline\n"
            "for name in launch.PRELOAD: importlib.import_module(name)\n"
            "print(*[m for m in ('torch', 'sympy', 'matplotlib') if m in sys.modules])\n"
            "for name in pipeline.JUDGE: importlib.import_module(name)\n"
            "print('judge' if 'autograder.judge.verdicts' in sys.modules and 'torch' in sys.modules else '')")
    lines = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert lines.splitlines() == ["", "judge"], lines
