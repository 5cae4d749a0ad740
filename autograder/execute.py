"""nbgrader's Execute step, made resilient: a submission that crashes its kernel or runs out of time keeps the
points of the cells that completed, and every cell that did not run is marked failed with the reason.

Plain nbgrader gives up on a notebook whose kernel dies (nothing of it is graded), and a test cell that never
ran has no error output, which nbgrader would score as passed. Here, once the kernel is dead or the
submission's deadline has passed, each remaining code cell gets an error output instead of being executed.
The deadline is shared by all notebooks of a submission: the runner passes it in PS3_GRADING_DEADLINE
(seconds since the epoch), and the per-cell limit in PS3_CELL_TIMEOUT.
"""

import os
import time

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute

DEADLINE_ENV = "PS3_GRADING_DEADLINE"
CELL_TIMEOUT_ENV = "PS3_CELL_TIMEOUT"  # per-cell limit chosen by the runner for its device


def _failure(reason: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename="GradingStopped", evalue=reason,
                        traceback=[f"GradingStopped: {reason}"])


CELL_OUTPUT_LIMIT = 1 << 20  # bytes of output kept per cell; the rest is dropped with a note
TRUNCATED = "[output truncated by the grader"


class ResilientExecute(Execute):
    def output(self, outs, msg, display_id, cell_index):
        """Keep at most CELL_OUTPUT_LIMIT bytes of a cell's output (a submission printing without end must not
        fill the grader's memory or the notebook)."""
        used = self._output_bytes.get(cell_index, 0)
        size = len(str(msg.get("content", "")))
        if used + size > CELL_OUTPUT_LIMIT:
            if used <= CELL_OUTPUT_LIMIT:
                outs.append(NotebookNode(output_type="stream", name="stderr",
                                         text=f"\n{TRUNCATED} after {CELL_OUTPUT_LIMIT} bytes]\n"))
            self._output_bytes[cell_index] = CELL_OUTPUT_LIMIT + 1
            return None
        self._output_bytes[cell_index] = used + size
        return super().output(outs, msg, display_id, cell_index)

    def preprocess(self, nb, resources=None, km=None):
        self._output_bytes = {}
        self._stopped = None
        deadline = os.environ.get(DEADLINE_ENV)
        self._deadline = float(deadline) if deadline else None
        self._cell_timeout = int(os.environ.get(CELL_TIMEOUT_ENV) or 0) or self.timeout
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
        if self._stopped is None and self._deadline is not None:
            remaining = self._deadline - time.time()
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
