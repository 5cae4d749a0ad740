"""Where a submission's time goes (submission/stages.py): stages timed by the grading process, and each notebook's
cells from the timings nbclient writes into the executed notebook. Tested on hand-made notebooks, no kernel."""

import time

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder.submission.stages import Stages, notebook_stages


def _timed_cell(grade_id, busy: str, idle: str):
    cell = new_code_cell("pass", metadata={"execution": {"iopub.status.busy": busy, "iopub.status.idle": idle}})
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id}
    return cell


def _stamp(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}Z"


def test_a_stage_is_timed_even_when_it_fails():
    stages = Stages()
    before = time.time()
    try:
        with stages("judge"):
            time.sleep(0.05)
            raise ValueError("a failing stage")
    except ValueError:
        pass
    [(name, start, end)] = stages.rows
    assert name == "judge" and before - 0.01 <= start and end - start >= 0.04


def test_each_cell_and_the_kernel_start_come_from_the_executed_notebook(tmp_path):
    t0 = 1_767_225_600.0
    nb = new_notebook(cells=[
        new_markdown_cell("# Problem 5"),
        _timed_cell("p5_setup", _stamp(t0 + 2), _stamp(t0 + 5)),
        _timed_cell(None, _stamp(t0 + 5.5), _stamp(t0 + 6)),
        new_code_cell("never ran"),  # no timings: a cell the execute step did not run
    ])
    nbformat.write(nb, tmp_path / "problem5.ipynb")
    stages = Stages()
    ended = notebook_stages(stages, tmp_path / "problem5.ipynb", t0)
    assert [(name, round(end - start, 3)) for name, start, end in stages.rows] == [
        ("problem5: nbgrader and kernel start", 2.0), ("problem5: p5_setup", 3.0), ("problem5: cell 2", 0.5)]
    assert ended == t0 + 6


def test_a_notebook_without_timings_or_none_at_all_adds_nothing(tmp_path):
    nbformat.write(new_notebook(cells=[new_code_cell("pass")]), tmp_path / "problem6.ipynb")
    stages = Stages()
    assert notebook_stages(stages, tmp_path / "problem6.ipynb", 42.0) == 42.0
    assert notebook_stages(stages, tmp_path / "missing.ipynb", 42.0) == 42.0
    (tmp_path / "broken.ipynb").write_text("{not json")
    assert notebook_stages(stages, tmp_path / "broken.ipynb", 42.0) == 42.0
    assert stages.rows == []
