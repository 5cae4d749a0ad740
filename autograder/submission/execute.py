"""nbgrader's Execute step, made resilient: a submission that crashes its kernel or runs out of time keeps the
points of the cells that completed, and every cell that did not run is marked failed with the reason.

Plain nbgrader gives up on a notebook whose kernel dies (nothing of it is graded), and a test cell that never
ran has no error output, which nbgrader would score as passed. Here, once the kernel is dead or the
submission's deadline has passed, each remaining code cell gets an error output instead of being executed.

Once a notebook's kernel has ended, nbgrader writes the executed notebook into the folder the kernel worked in,
as root: first every process the kernel left is ended and the folder taken back (its symlinks removed, owned by
root), or a symlink planted there would make that write land anywhere on the machine.

Its options are traits, like nbgrader's own ``timeout`` (the per-cell limit): the grader passes them on
nbgrader's command line, e.g. ``--ResilientExecute.timeout=600 --ResilientExecute.deadline=1767225600``.
"""

import os
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer, List, Unicode, default

from ..isolation.sandbox import end_user

STOPPED = "GradingStopped"  # the error name of a cell this step did not run, or stopped
CELL_OUTPUT_LIMIT = 1 << 20  # bytes of output kept per cell; the rest is dropped with a note
TRUNCATED = "[output truncated by the grader"
# Why a cell did not run or was stopped, in the grader's words (a class report may quote these, never other text).
DIED_BEFORE = "the kernel died before this cell could run"
DIED_HERE = ("the kernel died while running this cell (a crash, os._exit, or running out of memory); the cells after "
             "it were not run")
TIMED_OUT = "this cell ran longer than {} s and could not be interrupted"
OUT_OF_TIME = "not run: the submission used up its time limit in an earlier cell"
DIED_EARLIER = "not run: the kernel died in an earlier cell"
STUCK_EARLIER = "not run: an earlier cell could not be interrupted after its time limit"


def _failure(reason: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=STOPPED, evalue=reason, traceback=[f"{STOPPED}: {reason}"])


class ResilientExecute(Execute):
    deadline = Float(0.0, help="Seconds since the epoch by which every notebook of the submission must be done "
                               "(shared by all its notebooks); 0 for none.").tag(config=True)
    output_limit = Integer(CELL_OUTPUT_LIMIT, help="Bytes of output kept per cell.").tag(config=True)
    kernel_uid = Integer(0, help="The user id the contained kernels run as; 0: not contained (nothing to take "
                                 "back).").tag(config=True)
    kernel_folders = List(Unicode(), help="The folders the kernels could write, each taken back once a kernel "
                                          "ended.").tag(config=True)
    kernel_workdir = Unicode("", help="The kernels' working folder, where nbgrader writes the executed notebooks "
                                      "(made of real folders again where it lies inside one of kernel_folders)."
                             ).tag(config=True)

    @default("shutdown_kernel")
    def _kill_the_kernel(self):
        # What a kernel did is in its outputs and files by now: killing it costs nothing, a graceful shutdown up to
        # a second per notebook (and what it left is ended anyway, below).
        return "immediate"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cell_timeout = self.timeout  # as configured: each cell gets this, or what is left before the deadline

    def output(self, outs, msg, display_id, cell_index):
        """Keep at most ``output_limit`` bytes of a cell's output (a submission printing without end must not fill
        the grader's memory or the notebook)."""
        used = self._output_bytes.get(cell_index, 0)
        size = len(str(msg.get("content", "")))
        if used + size > self.output_limit:
            if used <= self.output_limit:
                outs.append(NotebookNode(output_type="stream", name="stderr",
                                         text=f"\n{TRUNCATED} after {self.output_limit} bytes]\n"))
            self._output_bytes[cell_index] = self.output_limit + 1
            return None
        self._output_bytes[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)

    def preprocess(self, nb, resources=None, km=None):
        self._output_bytes = {}
        self._stopped = None
        try:
            return super().preprocess(nb, resources, km)
        except DeadKernelError:
            # The kernel died outside a cell (e.g. at start-up): nothing ran, everything fails with the reason.
            for cell in nb.cells:
                if cell.cell_type == "code" and not any(o.get("output_type") == "error" for o in cell.outputs):
                    cell.outputs.append(_failure(DIED_BEFORE))
            return nb, resources
        finally:
            if self.kernel_uid:
                end_user(self.kernel_uid)
                for folder in self.kernel_folders:
                    take_back(Path(folder), Path(self.kernel_workdir or folder))

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is None and self.deadline:
            remaining = self.deadline - time.time()
            if remaining <= 0:
                self._stopped = OUT_OF_TIME
            else:
                self.timeout = max(1, int(min(self._cell_timeout or remaining, remaining)))
        if self._stopped is not None:
            cell.outputs = [_failure(self._stopped)]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(_failure(DIED_HERE))
            self._stopped = DIED_EARLIER
            return cell, resources
        except CellTimeoutError:
            cell.outputs.append(_failure(TIMED_OUT.format(self.timeout)))
            self._stopped = STUCK_EARLIER
            return cell, resources


def take_back(folder: Path, notebook_folder: Path) -> None:
    """``folder`` as its kernel's user id cannot have left it for root to write into, once no process of that id
    runs: the path from it to ``notebook_folder`` (where that lies inside) made of real folders again, every
    symlink in it replaced by an empty file, everything owned by root (the next kernel's launcher hands it over
    again)."""
    if not folder.is_dir() or folder.is_symlink():
        return
    if notebook_folder.is_relative_to(folder):
        path = folder
        for part in notebook_folder.relative_to(folder).parts:
            path = path / part
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                path.unlink()
            path.mkdir(exist_ok=True)
    for root, dirs, files in os.walk(folder):  # symlinks to folders are listed in dirs, never followed
        for name in dirs + files:
            path = os.path.join(root, name)
            if os.path.islink(path):  # an empty file in its place: a hand-in record there reads as unusable
                os.unlink(path)
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
            else:
                os.lchown(path, 0, 0)
    os.lchown(folder, 0, 0)


def arguments(cell_timeout: int, deadline: float, kernel_uid: int = 0, kernel_folders=(), kernel_workdir=""
              ) -> list[str]:
    """nbgrader's command-line options that set this step's limits (and, for contained kernels, what it takes
    back after each)."""
    return [f"--ResilientExecute.timeout={cell_timeout}", f"--ResilientExecute.deadline={deadline!r}",
            f"--ResilientExecute.kernel_uid={kernel_uid}", f"--ResilientExecute.kernel_workdir={kernel_workdir}",
            *(f"--ResilientExecute.kernel_folders={folder}" for folder in kernel_folders)]
