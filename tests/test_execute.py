"""The resilient Execute step: its options travel as nbgrader's own command-line options, like its ``timeout``;
what it takes back from a contained kernel before nbgrader writes there."""

import os
import shutil
import tempfile
import threading
import time

import psutil
import pytest
from nbgrader.apps import AutogradeApp

from autograder.course import NbgraderError, generated_course, tool_environment
from autograder.submission import execute
from autograder.submission.execute import ResilientExecute
from autograder.submission.scratch import ScratchCourse
from autograder.testing.examples import EXAMPLES


def test_the_limits_reach_the_step_as_nbgrader_arguments():
    app = AutogradeApp()
    app.parse_command_line(execute.arguments(cell_timeout=7, deadline=1767225600.25))
    step = ResilientExecute(config=app.config)
    assert (step.timeout, step.deadline) == (7, 1767225600.25)


def test_without_arguments_the_course_configuration_decides():
    step = ResilientExecute()
    assert step.deadline == 0.0 and step.output_limit == execute.CELL_OUTPUT_LIMIT
    assert step.shutdown_kernel == "immediate"  # its outputs and files are all there: no graceful shutdown


def test_autograde_runs_in_this_process_and_a_failure_is_an_error_that_leaves_it_as_it_was(tmp_path):
    """nbgrader autograde runs inside the grading process (no second Python): its failure (here: nothing
    submitted) raises NbgraderError, and the working folder and environment it ran with are this process's again."""
    cwd, environment, tempdir = os.getcwd(), dict(os.environ), tempfile.gettempdir()
    with pytest.raises(NbgraderError, match="nbgrader autograde failed"):
        ScratchCourse(tmp_path).autograde("s1", env={**tool_environment(), "PS3_HANDIN_SEED": "7",
                                                     "TMPDIR": str(tmp_path)})
    assert os.getcwd() == cwd and dict(os.environ) == environment and tempfile.gettempdir() == tempdir


def test_nothing_runs_alongside_an_autograde_that_starts_no_kernel(tmp_path):
    ran = []
    with pytest.raises(NbgraderError):
        ScratchCourse(tmp_path).autograde("s1", env={**tool_environment(), "TMPDIR": str(tmp_path)},
                                          meanwhile=lambda: ran.append(1))
    assert ran == []


@pytest.mark.slow
def test_what_runs_alongside_autograde_starts_with_the_first_kernel_and_ends_before_the_environment_is_restored(
        tmp_path):
    """``meanwhile`` (the judge's imports) runs in another thread once a kernel is ready, in the kernels'
    environment, and is joined before this process's environment is restored."""
    seen = {}

    def meanwhile():
        kernels = [p for p in psutil.Process().children(recursive=True) if "ipykernel" in " ".join(p.cmdline())]
        time.sleep(1.0)  # longer than the rest of this autograde: it must still be waited for
        seen.update(thread=threading.current_thread() is not threading.main_thread(),
                    seed=os.environ.get("PS3_HANDIN_SEED"), kernels=len(kernels))
    course = ScratchCourse.copy_of(generated_course(), tmp_path / "course")
    course.submit("s1", {"problem7": EXAMPLES / "reference" / "ps3" / "problem7.ipynb"})
    course.autograde("s1", env={**tool_environment(), "PS3_HANDIN_SEED": "7", "TMPDIR": str(tmp_path)},
                     meanwhile=meanwhile)
    assert seen == {"thread": True, "seed": "7", "kernels": 1}
    assert "PS3_HANDIN_SEED" not in os.environ
    assert [g.grade_id for g in course.grades("s1") if g.notebook == "problem7" and g.score][:1]


def test_what_to_take_back_reaches_the_step_as_nbgrader_arguments():
    app = AutogradeApp()
    app.parse_command_line(execute.arguments(7, 0.0, kernel_uid=200123, kernel_folders=["/a/work", "/b/rt"],
                                             kernel_workdir="/b/rt/autograded/s/ps3"))
    step = ResilientExecute(config=app.config)
    assert (step.kernel_uid, step.kernel_folders, step.kernel_workdir) == \
        (200123, ["/a/work", "/b/rt"], "/b/rt/autograded/s/ps3")


def test_take_back_removes_what_a_kernel_planted_for_roots_writes(tmp_path):
    """A kernel's user id may leave symlinks where root writes next (the executed notebook), or swap a folder on
    the way to its working folder for one: taken back, the folders are real and nothing points out of them."""
    runtime, outside = tmp_path / "runtime", tmp_path / "outside"
    workdir = runtime / "autograded" / "student" / "ps3"
    workdir.mkdir(parents=True)
    outside.mkdir()
    (workdir / "problem7.ipynb").symlink_to(outside / "owned.txt")  # nbgrader would write through it
    (workdir / "answers.json").write_text("{}")
    (workdir / "sub").mkdir()
    (workdir / "sub" / "link").symlink_to(outside, target_is_directory=True)
    os.chown(workdir / "answers.json", 4242, 4242)
    execute.take_back(runtime, workdir)
    for planted in (workdir / "problem7.ipynb", workdir / "sub" / "link"):  # empty files now, owned by root
        assert not planted.is_symlink() and planted.is_file() and planted.stat().st_size == 0, planted
    assert (workdir / "answers.json").stat().st_uid == 0
    (workdir / "problem7.ipynb").write_text("executed")
    assert list(outside.iterdir()) == []
    # A folder on the way replaced by a symlink (to a folder root must not write into) becomes a real one again.
    shutil.rmtree(runtime / "autograded")
    (runtime / "autograded").symlink_to(outside, target_is_directory=True)
    execute.take_back(runtime, workdir)
    assert not (runtime / "autograded").is_symlink() and workdir.is_dir() and list(outside.iterdir()) == []
