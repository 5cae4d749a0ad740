"""Limits and ends for the processes that grade a submission."""

from __future__ import annotations

import resource

import psutil


def memory_limit(memory_mb: int):
    """A ``preexec_fn`` that caps a new process's data segment (RLIMIT_DATA) at ``memory_mb`` (0: no cap). It runs
    in the child before it starts, so the cap covers nbgrader and every kernel it launches: an unbounded
    allocation becomes a MemoryError in the kernel."""
    def apply():
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
