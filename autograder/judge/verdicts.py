"""Clean verdicts: judge every automatically graded cell again, in the grader's own process, from the files the
hidden tests recorded in the student's kernel (mnist_lab/handin.py).

Nothing here imports or runs student code: sympy answers are rebuilt from text by a restricted parser
(sympy_text.py), arrays are decoded from bytes (decode.py), networks are rebuilt from their recorded graphs
of allow-listed core ATen operations (mnist_lab/netgraph.py) and tested on MNIST by the grader. A cell's points
are the clean verdict's; the kernel's own result is kept for comparison (the scoring step flags a
disagreement for review).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ..cells import BY_ID, JUDGED, PART_A
from . import timer
from .checks import augmentation, problem5 as p5, problem6 as p6, problem7 as p7
from .decode import HandinError, read_record
from ..mistakes import OTHER, Quoted, failure
from .sympy_text import SympyTextError, parse_srepr
from ..text import ERROR_LIMIT, MESSAGE_LIMIT, cap, printable, quote

VERDICT_SECONDS = 120  # per cell; the slowest (three networks on the test set) takes a few seconds


def shown(message: str) -> str:
    """A verdict's message as people read it (feedback, Gradescope, grades.csv): whatever a check quoted of the
    submission, it is printable and at most MESSAGE_LIMIT long."""
    return cap(printable(message), MESSAGE_LIMIT)


@dataclass
class CellVerdict:
    """The grader's decision on one test cell (results.py's glossary says how it relates to the other outcomes)."""

    passed: bool
    message: str = ""  # why it failed (what the student reads)
    recorded: bool = True  # False: the kernel never recorded this cell's answers (it did not run, or was stopped)
    mistake: str = ""  # the named mistake (mistakes.py) of a failure; OTHER where the check named none
    scrubbed: str = ""  # the message without the submission's own text (what a class report may show)
    # Problem 5: the test accuracy the grader measured for each trained network it judged (condition, n_examples,
    # epochs, accuracy), whatever the verdict; never the kernel's own report.
    runs: list[dict] = field(default_factory=list)


def _failed(mistake: str, *pieces, recorded: bool = True, runs=()) -> CellVerdict:
    named = failure(mistake, *pieces)
    return CellVerdict(False, shown(str(named)), recorded, mistake, shown(named.scrubbed), list(runs))


def _sympy_lookup(record: dict, name: str):
    """A function that gives the recorded expression for an index tuple (what the symbolic checks call)."""
    answers = record.get("answers") if isinstance(record.get("answers"), dict) else {}

    def lookup(*index):
        entry = answers.get(json.dumps(list(index)))
        if not isinstance(entry, dict):
            raise failure("not_recorded", f"{name}{index} was not recorded")
        if "error" in entry:
            if "NotImplementedError" in str(entry["error"]):
                raise failure("not_implemented", f"{name} is not implemented yet")
            raise failure("answer_raised", f"{name}{index} failed: ", Quoted(quote(entry["error"], ERROR_LIMIT)))
        try:
            return parse_srepr(entry.get("srepr"))
        except SympyTextError as exc:
            raise failure("unusable", f"{name}{index}: the answer could not be read (", Quoted(quote(exc, ERROR_LIMIT)),
                          ")") from None
    lookup.__name__ = name
    return lookup


def _part_a(parts: dict) -> dict:
    """Part (a)'s network records, by part name (None where absent): (b) and (c) charge a network fault to (a)."""
    return {name.split("--")[1]: parts.get(name) for name in PART_A}


# The judges the table in cells.py names: each takes the cell's recorded parts and the seed, raises AssertionError.
# A symbolic judge is named after the student's function its records hold.
SYMBOLIC = {
    "delta_output": p6.check_delta_output, "delta_pool": p6.check_delta_pool, "delta_conv": p6.check_delta_conv,
    "grad_conv_weight": p6.check_grad_conv_weight, "grad_conv_bias": p6.check_grad_conv_bias,
    "relu_chain_gradient": p7.check_relu_chain_gradient,
}


def _network(parts, seed):
    p5.check_architecture(parts["network"])
    p5.check_training(parts["training-plain"], "plain", (10000,))


def _epochs_and_budgets(parts, seed):
    p5.check_epochs_for(parts["epochs"])
    p5.check_budgets(parts["training-plain"], "plain", (20000, 30000), _part_a(parts))


def _augmentation_and_budgets(parts, seed):
    augmentation.check_augmentation(parts["augmentation"], seed)
    p5.check_budgets(parts["training-augmented"], "augmented", (10000, 20000, 30000), _part_a(parts))


JUDGES = {
    "network": _network,
    "epochs_and_budgets": _epochs_and_budgets,
    "augmentation_and_budgets": _augmentation_and_budgets,
    "conv_net_backward": lambda parts, seed: p6.check_conv_net_backward(parts["backward"], seed),
    "gradient_is_stable": lambda parts, seed: p7.check_gradient_is_stable(parts["stability"], seed),
    "activations": lambda parts, seed: p7.check_activations(parts["activations"]),
    **{name: (lambda check, name: lambda parts, seed: check(_sympy_lookup(parts["sympy"], name)))(check, name)
       for name, check in SYMBOLIC.items()},
}


def judge_cell(grade_id: str, handin_dir: Path, seed: int) -> CellVerdict:
    """The clean verdict on one test cell from the hand-in files in ``handin_dir``."""
    cell = BY_ID[grade_id]
    parts = {}
    for part in cell.reads:  # another cell's record: optional
        path = Path(handin_dir) / f"{part}.json"
        try:
            parts[part] = read_record(path) if path.exists() else None
        except HandinError:
            parts[part] = None
    for part in cell.parts:
        path = Path(handin_dir) / f"{grade_id}--{part}.json"
        if not path.exists() and not path.is_symlink():
            return _failed("not_recorded", "the test did not record an answer (it did not run, or stopped early)",
                           recorded=False)
        try:
            parts[part] = read_record(path)
        except HandinError as exc:
            return _failed("unusable", f"the recorded answer is unusable: {exc}")  # the grader's own words
    judge = JUDGES[cell.judge]
    with p5.measuring() as runs:
        try:
            timer.within(VERDICT_SECONDS, lambda: judge(parts, seed))
        except AssertionError as exc:  # a check's named mistake; a plain assert is OTHER, its text not shown
            return CellVerdict(False, shown(str(exc)), True, getattr(exc, "mistake", OTHER),
                               shown(getattr(exc, "scrubbed", "")), runs)
        except timer.TimeLimitExpired:
            return _failed("judge_timeout", f"judging the recorded answer took longer than {VERDICT_SECONDS} s",
                           runs=runs)
        except HandinError as exc:
            return _failed("unusable", f"the recorded answer is unusable: {exc}", runs=runs)
        except SympyTextError as exc:
            return _failed("unusable", "the recorded answer is unusable: ", Quoted(quote(exc, ERROR_LIMIT)),
                           runs=runs)
        except Exception as exc:  # noqa: BLE001 - a malformed record must cost this cell, never the batch
            return _failed("not_judged", "the recorded answer could not be judged (",
                           Quoted(quote(f"{type(exc).__name__}: {exc}", ERROR_LIMIT)), ")", runs=runs)
    return CellVerdict(True, runs=runs)


def judge_all(handin_dir: Path, seed: int) -> dict[str, CellVerdict]:
    """The verdict on every test cell of the assignment."""
    return {cell.grade_id: judge_cell(cell.grade_id, handin_dir, seed) for cell in JUDGED}
