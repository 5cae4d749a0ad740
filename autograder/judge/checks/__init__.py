"""Checks of the recorded answers, one module per problem; each raises AssertionError with a message meant for the
student. The grader calls them (judge/verdicts.py) in its own process, never the student's kernel. Each failure
is a named mistake (mistakes.py): ``raise failure(key, ...)`` with the submission's own text ``Quoted``."""

from autograder.mistakes import Failure, failure


def called(function, *args):
    """``function(*args)`` for a student's answer: a function left as NotImplementedError says so plainly."""
    try:
        return function(*args)
    except NotImplementedError:
        raise failure("not_implemented", f"{function.__name__} is not implemented yet") from None


def require_correct(comparison) -> None:
    """A symbolic comparison (judge/symbolic.py) that failed raises its named mistake."""
    if not comparison.correct:
        raise Failure(comparison.mistake or "wrong_value", comparison.message, comparison.scrubbed)
