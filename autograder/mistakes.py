"""The grader's named mistakes: a stable key for every way a check fails, and a message that can be shown without
anything the submission wrote (in the lowest layer: the judge raises them, the class report reads them).

A check fails by raising ``failure(key, *pieces)``: the message the student reads is the pieces joined; pieces
wrapped in ``Quoted`` are text the submission produced (an error message, a value, a symbol's name) and are
replaced by "…" in the failure's ``scrubbed`` message, which is what a class report may show to a whole class.
The key is one of ``MISTAKES`` (a test keeps every key a check uses in this table); a cell's failure that
carries no key (a plain ``assert``, a result saved before the keys) is reported as ``OTHER``.

Keys are per cell: the same key in two cells (``no_sigma_prime`` in delta_output and in delta_conv) is the same
kind of mistake, and the cell's label says where.
"""

from __future__ import annotations

QUOTE = "…"
OTHER = "other"

# key -> how an instructor reads it in the class report (the message says the details)
MISTAKES = {
    # any cell: what happened to the answer rather than what it says
    "not_recorded": "no answer recorded (the test did not run or stopped early)",
    "stopped": "stopped by the grading (time limit, crash or memory)",
    "not_implemented": "not implemented",
    "answer_raised": "the answer raises an error",
    "unusable": "the recorded answer is unusable",
    "judge_timeout": "judging the answer took too long",
    "not_judged": "the answer could not be judged",
    # symbolic answers (problems 6 and 7; judge/symbolic.py)
    "not_sympy": "not a sympy expression",
    "not_evaluable": "sympy cannot evaluate its sums or derivatives",
    "unknown_symbols": "uses symbols the problem does not define",
    "not_a_number": "no finite value (a division by zero?)",
    "wrong_value": "wrong, but no known mistake",
    # problem 6's known mistakes (checks/problem6.py)
    "no_sigma_prime": "missing sigma' factor",
    "sigma_prime_in_pool": "a sigma' factor in the pooling layer",
    "spread_pool": "error spread evenly over the pooling window",
    "no_mask": "no max-pooling mask (every input gets the error)",
    "transposed_W": "weight indices swapped",
    "flipped": "flipped kernel (convolution, not cross-correlation)",
    "unshared": "one position only (the shared filter is not summed)",
    "with_sigma_prime": "an extra sigma' factor",
    # problem 7's known mistakes (checks/problem7.py)
    "no_theta": "all Theta factors missing",
    "one_theta_missing": "one Theta factor missing",
    "sigmoid": "the sigmoid chain instead of ReLU",
    # problem 5 (checks/problem5.py)
    "build_failed": "build_cnn fails",
    "not_rebuildable": "the network cannot be rebuilt by the grader",
    "architecture": "architecture differs from the specification",
    "training_failed": "the network cannot be trained",
    "run_missing": "a budget's run was not recorded",
    "wrong_input_size": "wrong input size for the condition",
    "wrong_epochs": "a run used other epochs than the reference",
    "wrong_outputs": "the trained network does not give 10 logits",
    "test_set_fails": "the trained network fails on the test set",
    "below_floor": "test accuracy below the floor",
    "epochs_not_int": "epochs_for returns no int",
    "epochs_no_valueerror": "epochs_for does not raise ValueError for impossible budgets",
    "epochs_wrong": "epochs_for gives other epochs",
    # problem 5c's augmentation (checks/augmentation.py)
    "augmentation_size": "augmented images are not 24x24",
    "not_crop_or_rotation": "output is not a crop of a rotation",
    "not_random": "the same output on every call",
    "fixed_crop": "the crop position does not vary",
    "no_rotation": "no rotation (random crops only)",
    "fixed_angle": "rotation by one fixed angle",
    # problem 6's numpy backward pass and problem 7's functions
    "gradient_missing": "a gradient is missing from the result",
    "gradient_shape": "a gradient has the wrong shape",
    "gradient_wrong": "a gradient differs from autograd's",
    "stability_wrong": "wrong stability on some sampled points",
    "activation_shape": "an activation has the wrong shape",
    "activation_wrong": "an activation has wrong values",
}


class Quoted(str):
    """Text the submission produced, quoted in a message: never shown in a class report."""


class Failure(AssertionError):
    """A check's failure: the message the student reads, the named mistake and the message without quotes."""

    def __init__(self, mistake: str, message: str, scrubbed: str):
        super().__init__(message)
        self.mistake, self.scrubbed = mistake, scrubbed


def failure(mistake: str, *pieces: str) -> Failure:
    """The failure named ``mistake`` whose message is ``pieces`` joined (``Quoted`` pieces are the submission's)."""
    message = "".join(str(piece) for piece in pieces)
    scrubbed = "".join(QUOTE if isinstance(piece, Quoted) else str(piece) for piece in pieces)
    return Failure(mistake, message, scrubbed)


def raised(saying: str, error) -> Failure:
    """The answer failed with the recorded ``error`` ("ErrorName: text", as the hand-in records it), quoted after
    ``saying``: a function left as ``raise NotImplementedError()`` is not implemented, anything else raises."""
    mistake = "not_implemented" if str(error).startswith("NotImplementedError") else "answer_raised"
    return failure(mistake, saying, Quoted(error))


def title(mistake: str) -> str:
    """How the report names a mistake key (OTHER and unknown keys: what they are)."""
    if mistake == OTHER:
        return "other failures (no named mistake)"
    return MISTAKES.get(mistake, mistake)
