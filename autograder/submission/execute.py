"""nbgrader's Execute step, made resilient: a submission that crashes its kernel or runs out of time keeps the
points of the cells that completed, and every cell that did not run is marked failed with the reason.

Plain nbgrader gives up on a notebook whose kernel dies (nothing of it is graded), and a test cell that never
ran has no error output, which nbgrader would score as passed. Here, once the kernel is dead or the
submission's deadline has passed, each remaining code cell gets an error output instead of being executed.

Its options are traits, like nbgrader's own ``timeout`` (the per-cell limit): the grader passes them on
nbgrader's command line, e.g. ``--ResilientExecute.timeout=600 --ResilientExecute.deadline=1767225600``.
"""

import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Float, Integer

STOPPED = "GradingStopped"  # the error name of a cell this step did not run, or stopped
CELL_OUTPUT_LIMIT = 1 << 20  # bytes of output kept per cell; the rest is dropped with a note
TRUNCATED = "[output truncated by the grader"


def _failure(reason: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=STOPPED, evalue=reason, traceback=[f"{STOPPED}: {reason}"])


class ResilientExecute(Execute):
    deadline = Float(0.0, help="Seconds since the epoch by which every notebook of the submission must be done "
                               "(shared by all its notebooks); 0 for none.").tag(config=True)
    output_limit = Integer(CELL_OUTPUT_LIMIT, help="Bytes of output kept per cell.").tag(config=True)

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
                    cell.outputs.append(_failure("the kernel died before this cell could run"))
            return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is None and self.deadline:
            remaining = self.deadline - time.time()
            if remaining <= 0:
                self._stopped = "not run: the submission used up its time limit in an earlier cell"
            else:
                self.timeout = max(1, int(min(self._cell_timeout or remaining, remaining)))
        if self._stopped is not None:
            cell.outputs = [_failure(self._stopped)]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.outputs.append(_failure("the kernel died while running this cell (a crash, os._exit, or "
                                         "running out of memory); the cells after it were not run"))
            self._stopped = "not run: the kernel died in an earlier cell"
            return cell, resources
        except CellTimeoutError:
            cell.outputs.append(_failure(f"this cell ran longer than {self.timeout} s and could not be interrupted"))
            self._stopped = "not run: an earlier cell could not be interrupted after its time limit"
            return cell, resources


def arguments(cell_timeout: int, deadline: float) -> list[str]:
    """nbgrader's command-line options that set this step's limits."""
    return [f"--ResilientExecute.timeout={cell_timeout}", f"--ResilientExecute.deadline={deadline!r}"]
