"""Clean verdicts: judge every automatically graded cell again, in the grader's own process, from the files the
hidden tests recorded in the student's kernel (mnist_lab/handin.py).

Nothing here imports or runs student code: sympy answers are rebuilt from text by a restricted parser
(sympy_text.py), arrays are decoded from bytes (decode.py), networks are rebuilt from their recorded graphs
of allow-listed core ATen operations (mnist_lab/netgraph.py) and tested on MNIST by the grader. A cell's points
are the clean verdict's; the kernel's own result is kept for comparison (runner.py flags a disagreement for
review).
"""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from .decode import HandinError, read_record
from .sympy_text import SympyTextError, parse_srepr

VERDICT_SECONDS = 120  # per cell; the slowest (three networks on the test set) takes a few seconds


@dataclass
class CellVerdict:
    """The grader's decision on one test cell."""

    passed: bool
    message: str = ""  # why it failed (what the student reads)
    recorded: bool = True  # False: the kernel never recorded this cell's answers (it did not run, or was stopped)


def _sympy_lookup(record: dict, name: str):
    """A function that gives the recorded expression for an index tuple (what the symbolic checks call)."""
    answers = record.get("answers") if isinstance(record.get("answers"), dict) else {}

    def lookup(*index):
        entry = answers.get(json.dumps(list(index)))
        if not isinstance(entry, dict):
            raise AssertionError(f"{name}{index} was not recorded")
        if "error" in entry:
            if "NotImplementedError" in str(entry["error"]):
                raise AssertionError(f"{name} is not implemented yet")
            raise AssertionError(f"{name}{index} failed: {str(entry['error'])[:300]}")
        try:
            return parse_srepr(entry.get("srepr"))
        except SympyTextError as exc:
            raise AssertionError(f"{name}{index}: the answer could not be read ({exc})") from None
    lookup.__name__ = name
    return lookup


# Another cell's records a judge may read (named "<grade id>--<part>"): used when present, None when not. Parts
# (b) and (c) read part (a)'s, so that a problem of the network is charged to part (a) alone.
PART_A = ("p5a_tests--network", "p5a_tests--training-plain")


def _part_a(parts: dict) -> dict:
    return {name.split("--")[1]: parts.get(name) for name in PART_A}


def _judges():
    """grade_id -> (the hand-in parts it needs, a function of those parts and the seed that raises on failure)."""
    from .checks import augmentation, problem5 as p5, problem6 as p6, problem7 as p7

    def symbolic(check, name):
        return ["sympy"], lambda parts, seed: check(_sympy_lookup(parts["sympy"], name))

    return {
        "p5a_tests": (["network", "training-plain"], lambda parts, seed: (
            p5.check_architecture(parts["network"]), p5.check_training(parts["training-plain"], "plain", (10000,)))),
        "p5b_tests": (["epochs", "training-plain", *PART_A], lambda parts, seed: (
            p5.check_epochs_for(parts["epochs"]),
            p5.check_budgets(parts["training-plain"], "plain", (20000, 30000), _part_a(parts)))),
        "p5c_tests": (["augmentation", "training-augmented", *PART_A], lambda parts, seed: (
            augmentation.check_augmentation(parts["augmentation"], seed),
            p5.check_budgets(parts["training-augmented"], "augmented", (10000, 20000, 30000), _part_a(parts)))),
        "p6_delta_output_tests": symbolic(p6.check_delta_output, "delta_output"),
        "p6_delta_pool_tests": symbolic(p6.check_delta_pool, "delta_pool"),
        "p6_delta_conv_tests": symbolic(p6.check_delta_conv, "delta_conv"),
        "p6_grad_conv_weight_tests": symbolic(p6.check_grad_conv_weight, "grad_conv_weight"),
        "p6_grad_conv_bias_tests": symbolic(p6.check_grad_conv_bias, "grad_conv_bias"),
        "p6_backward_tests": (["backward"], lambda parts, seed: p6.check_conv_net_backward(parts["backward"], seed)),
        "p7_gradient_tests": symbolic(p7.check_relu_chain_gradient, "relu_chain_gradient"),
        "p7_stability_tests": (["stability"],
                               lambda parts, seed: p7.check_gradient_is_stable(parts["stability"], seed)),
        "p7_activation_tests": (["activations"], lambda parts, seed: p7.check_activations(parts["activations"])),
    }


class _VerdictTimeout(BaseException):  # not an Exception: the checkers' own error handling must not catch it
    pass


def _limited(seconds: int, function):
    if threading.current_thread() is not threading.main_thread():
        return function()

    def expire(*_):
        raise _VerdictTimeout()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)  # the symbolic checker's own limits nest inside this one
    try:
        return function()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def judge_cell(grade_id: str, handin_dir: Path, seed: int) -> CellVerdict:
    """The clean verdict on one test cell from the hand-in files in ``handin_dir``."""
    needs, judge = _judges()[grade_id]
    parts = {}
    for part in needs:
        if "--" in part:  # another cell's record: optional
            path = Path(handin_dir) / f"{part}.json"
            try:
                parts[part] = read_record(path) if path.exists() else None
            except HandinError:
                parts[part] = None
            continue
        path = Path(handin_dir) / f"{grade_id}--{part}.json"
        if not path.exists() and not path.is_symlink():
            return CellVerdict(False, "the test did not record an answer (it did not run, or stopped early)",
                               recorded=False)
        try:
            parts[part] = read_record(path)
        except HandinError as exc:
            return CellVerdict(False, f"the recorded answer is unusable: {exc}")
    try:
        _limited(VERDICT_SECONDS, lambda: judge(parts, seed))
    except AssertionError as exc:
        return CellVerdict(False, str(exc)[:1000])
    except _VerdictTimeout:
        return CellVerdict(False, f"judging the recorded answer took longer than {VERDICT_SECONDS} s")
    except (HandinError, SympyTextError) as exc:
        return CellVerdict(False, f"the recorded answer is unusable: {exc}")
    except Exception as exc:  # noqa: BLE001 - a malformed record must cost this cell, never the batch
        return CellVerdict(False, f"the recorded answer could not be judged ({type(exc).__name__}: {str(exc)[:200]})")
    return CellVerdict(True)


def graded_cells() -> list[str]:
    return list(_judges())


def judge_all(handin_dir: Path, seed: int, grade_ids=None) -> dict[str, CellVerdict]:
    return {grade_id: judge_cell(grade_id, handin_dir, seed) for grade_id in (grade_ids or graded_cells())}
