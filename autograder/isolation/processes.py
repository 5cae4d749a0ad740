"""Limits and ends for the processes that grade a submission."""

from __future__ import annotations

import ctypes
import os
import resource
import signal

import psutil

from . import memory

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a new process before it starts (a ``preexec_fn``): SIGKILL it when the thread that started it ends, by
    any signal or none. Chained from the batch down to the kernel (the grading process, nbgrader, then bwrap's
    own ``--die-with-parent``), no process of a submission outlives the process grading it."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def supervised(memory_mb: int, cgroup: str = ""):
    """A ``preexec_fn`` for a grading process: it dies with the thread that started it (die_with_parent), enters
    ``cgroup`` (memory.new_cgroup's, where there is one) before anything else, and its data segment (RLIMIT_DATA) is
    capped at ``memory_mb`` (0: no cap).

    The cgroup holds the whole grading under one limit (memory.py). RLIMIT_DATA, inherited by nbgrader and every
    kernel it launches, stays as each process's own wall beside it: one unbounded allocation then becomes a
    MemoryError in the student's cell, and the kernel lives on to run the notebook's other cells, where the
    cgroup alone would have the OOM killer end the kernel. A process that cannot enter its cgroup says why on its
    standard error (the supervisor reports it) and exits with 1: it must not grade outside the limit its result
    names."""
    def apply():
        die_with_parent()
        if cgroup:
            try:
                memory.enter(cgroup)
            except memory.CgroupError as error:
                os.write(2, f"{error}\n".encode())
                os._exit(1)
        if memory_mb:
            limit = memory_mb * 2**20
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return apply


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything it started (nbgrader, and kernels, which run in sessions of their own)."""
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
