"""Where one submission's grading time goes: named stages with their wall-clock start and end (seconds since the
epoch, so that stages measured in different processes line up). ``benchmarks/profile_submission.py`` prints them;
every result keeps them (``SubmissionResult.stages``)."""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from .execute import read_notebook_back


class Stages:
    def __init__(self):
        self.rows: list[list] = []  # [name, start, end]

    def add(self, name: str, start: float, end: float) -> None:
        self.rows.append([name, round(start, 3), round(end, 3)])

    @contextmanager
    def __call__(self, name: str):
        start = time.time()
        try:
            yield
        finally:
            self.add(name, start, time.time())


def _stamp(cell, key: str) -> float | None:
    value = cell.get("metadata", {}).get("execution", {}).get(key)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def notebook_stages(stages: Stages, path: Path, started: float) -> float:
    """The executed notebook ``path``'s own stages from the timings nbclient records in each cell: what came before
    its first cell (nbgrader's preparation and the kernel's start, from ``started``) and each cell that ran
    (labelled by grade id, or by position). Returns when its last cell ended (``started`` if none ran)."""
    name = Path(path).stem
    notebook = read_notebook_back(Path(path))  # the kernel's folder: anything may be there
    if notebook is None:
        return started
    cells = notebook.cells
    ran = [(i, cell, _stamp(cell, "iopub.status.busy"), _stamp(cell, "iopub.status.idle"))
           for i, cell in enumerate(cells) if cell.cell_type == "code"]
    ran = [(i, cell, start, end) for i, cell, start, end in ran if start and end]
    if not ran:
        return started
    stages.add(f"{name}: nbgrader and kernel start", started, ran[0][2])
    for i, cell, start, end in ran:
        label = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {i}"
        stages.add(f"{name}: {label}", start, end)
    return ran[-1][3]
