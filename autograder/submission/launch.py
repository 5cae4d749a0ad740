"""How a grading process starts: forked from a server that has already imported the grader, or as a fresh Python.

A fresh interpreter spends seconds of every submission importing nbgrader before it does anything. Python's
forkserver (multiprocessing) imports it once per batch, in a process of its own started before any thread of the
batch, and forks each grading process from it. (The judge's imports, torch and sympy, are each grading process's
own, in a thread while its kernels run: in the forkserver they would delay the first fork by two seconds.)
Where a process may not have children that way (a Dask worker runs as a daemonic process), the grading process
is a fresh interpreter, as before.

Either way the supervisor sees the same thing (``process.py``): a pid whose process tree it may kill, ``wait``
with a timeout, and ``returncode`` (negative: the signal that ended it). Either way the grading process runs in
a session of its own, with its output in a file, its data segment capped, and SIGKILL once the process that
started it ends (for a forked one: the forkserver, which ends with the batch); and where the supervisor made the
submission a memory cgroup (isolation/memory.py), the grading process enters it first thing, so that everything
it starts is counted there.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.forkserver
import os
import subprocess
import sys
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import psutil

from ..course import tool_environment
from ..isolation import memory
from ..isolation.processes import supervised

# The grading process's module, named rather than imported: this module stays light, so that a grading command
# can start the forkserver before it imports anything heavy itself (autograder/__main__.py).
PIPELINE = "autograder.submission.pipeline"
# What the forkserver imports before its first fork: the grading process up to its judge (nbgrader, nbformat,
# jupyter_client), which each grading process imports while its kernels run (pipeline.JUDGE).
PRELOAD = [PIPELINE]


class Forked:
    """A grading process forked by the forkserver, with the part of ``subprocess.Popen``'s interface the
    supervisor uses."""

    def __init__(self, process: multiprocessing.process.BaseProcess):
        self._process = process
        self.pid = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self._process.exitcode is None:
            raise subprocess.TimeoutExpired("grading process", timeout)
        return self._process.exitcode


@lru_cache(maxsize=1)
def _forkserver():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def can_fork() -> bool:
    """Whether this process may start grading processes through the forkserver (a daemonic one may not)."""
    return not multiprocessing.current_process().daemon


def warm_up() -> None:
    """Start the forkserver now, so that its imports overlap with the batch's own preparation."""
    if can_fork():
        _forkserver()
        with _standard_streams_closed():
            multiprocessing.forkserver.ensure_running()


@contextmanager
def _standard_streams_closed():
    """This process's standard input and output are /dev/null while it starts the forkserver (and its resource
    tracker), which inherit them: neither may keep a pipe of the caller open once this process has ended (a
    script waiting for the grader's output to end would wait for their tear-down too). Only called before any
    thread of a batch runs."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(fd) for fd in (0, 1, 2)]
    nothing = os.open(os.devnull, os.O_RDWR)
    try:
        for fd in (0, 1, 2):
            os.dup2(nothing, fd)
        yield
    finally:
        for fd, copy in zip((0, 1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(nothing)


def stop_forkserver() -> None:
    """End this process's forkserver at once (a stopped batch: its tear-down, with torch imported, takes seconds;
    a later batch starts a new one)."""
    for child in psutil.Process().children():
        try:
            if "multiprocessing.forkserver" in " ".join(child.cmdline()):
                child.kill()
        except psutil.Error:
            pass


def _grade_forked(request: str, log: str, memory_mb: int, environment: dict, cgroup: str = "") -> None:
    """In the forked grading process: into its memory cgroup before anything else (where it cannot, the reason is
    its log), then the pipeline's entry point (already imported: the forkserver preloaded it)."""
    if cgroup:
        try:
            memory.enter(cgroup)
        except memory.CgroupError as error:
            Path(log).write_text(f"{error}\n")
            raise SystemExit(1)
    importlib.import_module(PIPELINE).run_forked(request, log, memory_mb, environment)


def start(request: Path, log: Path, memory_mb: int, cgroup: str = ""):
    """Start the grading process of ``request``: forked where possible, else a fresh interpreter; in ``cgroup``
    (isolation/memory.py) where one is given."""
    if can_fork():
        process = _forkserver().Process(target=_grade_forked, name="grading",
                                        args=(str(request), str(log), memory_mb, tool_environment(), cgroup))
        process.start()
        return Forked(process)
    with open(log, "w") as output:
        return subprocess.Popen([sys.executable, "-m", PIPELINE, str(request)],
                                env=tool_environment(), stdout=output, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=supervised(memory_mb, cgroup))
