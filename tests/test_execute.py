"""The resilient Execute step's options travel as nbgrader's own command-line options, like its ``timeout``."""

from nbgrader.apps import AutogradeApp

from autograder.submission import execute
from autograder.submission.execute import ResilientExecute


def test_the_limits_reach_the_step_as_nbgrader_arguments():
    app = AutogradeApp()
    app.parse_command_line(execute.arguments(cell_timeout=7, deadline=1767225600.25))
    step = ResilientExecute(config=app.config)
    assert (step.timeout, step.deadline) == (7, 1767225600.25)


def test_without_arguments_the_course_configuration_decides():
    step = ResilientExecute()
    assert step.deadline == 0.0 and step.output_limit == execute.CELL_OUTPUT_LIMIT
