"""Checks for problem 5, run by the grader on what the hidden tests recorded: the architecture, the trained
networks and the epochs per budget (the augmentation's check is in ``augmentation``).

Networks arrive as a graph of core ATen operations plus weights (mnist_lab/netgraph.py). The grader rebuilds each
as a ``GraphNet``, which runs only allow-listed compute operations with checked literal arguments, reads the
architecture from its own replay (the recorded shapes are not trusted) and measures the test accuracy on MNIST
itself.

Each mistake costs its own cell. Part (a) judges the network: its architecture and that it trains. Parts (b) and
(c) also train it (the budgets, the augmentation), but when part (a)'s records show the network itself failing at
that input size (it cannot be built, rebuilt or trained, or it misses the floor), their training is not judged
again: the network's problem costs part (a) alone.

Accuracy floor (ACCURACY_FLOOR, in mnist_lab/handin.py): see the README's "Accuracy floor" for the family of
valid networks it was measured on.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Iterator

import torch

from autograder.judge.decode import decode_array
from autograder.mistakes import Quoted, failure
from autograder.text import ERROR_LIMIT, QUOTE_LIMIT, quote
from mnist_lab import evaluate
from mnist_lab.experiment import REFERENCE_EPOCHS
from mnist_lab.handin import ACCURACY_FLOOR, EPOCHS_CALLS
from mnist_lab.netgraph import TRACE_BATCH, GraphError, GraphNet, architecture
from solutions import problem5 as reference

_measured: contextvars.ContextVar[list | None] = contextvars.ContextVar("measured_runs", default=None)


def rebuild(graph) -> GraphNet:
    """The grader's own network from a recorded graph; AssertionError (the student's message) if it cannot."""
    if not isinstance(graph, dict):
        raise failure("not_rebuildable", "no network was recorded")
    if graph.get("error"):
        raise failure("build_failed", Quoted(quote(graph["error"], ERROR_LIMIT)))
    weights = graph.get("weights")
    if not isinstance(weights, dict):
        raise failure("not_rebuildable", "the network's weights were not recorded")
    try:
        return GraphNet(graph, {name: torch.from_numpy(decode_array(value)) for name, value in weights.items()})
    except GraphError as exc:
        raise failure("not_rebuildable", "the network cannot be rebuilt by the grader: ",
                      Quoted(quote(exc, ERROR_LIMIT))) from None


def check_architecture(recorded: dict):
    error = str(recorded.get("error", ""))
    if "NotImplementedError" in error:
        raise failure("not_implemented", "build_cnn is not implemented yet")
    if error:
        raise failure("build_failed", "build_cnn failed: ", Quoted(quote(error, ERROR_LIMIT)))
    failures = recorded.get("failures") if isinstance(recorded.get("failures"), dict) else {}
    graphs = recorded.get("graphs") if isinstance(recorded.get("graphs"), dict) else {}
    for size in (28, 24):
        if str(size) in failures:
            raise failure("build_failed", Quoted(quote(failures.get(str(size)), ERROR_LIMIT)))
        if str(size) not in graphs:
            raise failure("not_recorded", f"build_cnn({size}) was not recorded")
        problem = architecture(rebuild(graphs[str(size)]))
        if problem is not None:
            raise failure("architecture", f"build_cnn({size}): {problem}")


def check_training(recorded: dict, condition: str, budgets):
    """Every budget trained with the reference epochs, rebuilt, and at least ACCURACY_FLOOR on the test set. Each
    run the grader measures is also kept where ``measuring`` collects them."""
    if "error" in recorded:
        raise failure("training_failed", f"cannot train the {condition} condition: ",
                      Quoted(quote(recorded["error"], ERROR_LIMIT)))
    runs = {run.get("n_examples"): run for run in recorded.get("runs", []) if isinstance(run, dict)}
    for n in budgets:
        run = runs.get(n)
        if run is None:
            raise failure("run_missing", f"no {condition} network trained on {n} examples was recorded")
        size = 24 if condition == "augmented" else 28
        if run.get("input_size") != size:
            raise failure("wrong_input_size", f"the {condition} network must take {size}x{size} inputs")
        if run.get("epochs") != REFERENCE_EPOCHS[n]:
            raise failure("wrong_epochs", f"the {condition} run on {n} examples used other epochs")
        net = rebuild(run.get("graph"))
        if not (net.input_size == size and net.output_shape == [TRACE_BATCH, 10]):
            raise failure("wrong_outputs", f"the trained {condition} network must map {size}x{size} images to 10 "
                          "logits")
        try:
            accuracy = evaluate(net, size, device="cpu", batch_size=TRACE_BATCH, mixed_precision=False)
        except (RuntimeError, GraphError) as exc:
            raise failure("test_set_fails", f"the recorded {condition} network fails on the test set: ",
                          Quoted(quote(exc, ERROR_LIMIT))) from None
        measured = _measured.get()
        if measured is not None:
            measured.append({"condition": condition, "n_examples": n, "epochs": REFERENCE_EPOCHS[n],
                             "accuracy": float(accuracy)})
        if accuracy < ACCURACY_FLOOR:
            raise failure("below_floor", f"{condition} training on {n} examples x {REFERENCE_EPOCHS[n]} epochs "
                          f"reached {100 * accuracy:.2f}% test accuracy; at least {100 * ACCURACY_FLOOR:.1f}% is "
                          "expected")


@contextlib.contextmanager
def measuring() -> Iterator[list[dict]]:
    """Collect the test accuracy of every trained network ``check_training`` measures inside the block (the clean
    accuracies of the student's runs: condition, n_examples, epochs, accuracy). Blocks nest: an inner block keeps
    its runs from the outer one."""
    runs: list[dict] = []
    token = _measured.set(runs)
    try:
        yield runs
    finally:
        _measured.reset(token)


def network_fault(part_a: dict, input_size: int) -> str | None:
    """Why part (a)'s records show the network itself failing at ``input_size``: it cannot be built, rebuilt or
    trained, or its plain 10000 x 6 run misses the floor. None when they show it working, or are missing."""
    network, plain = part_a.get("network"), part_a.get("training-plain")
    if not isinstance(network, dict) or not isinstance(plain, dict):
        return None
    if network.get("error"):
        return "build_cnn fails"
    if str(input_size) in (network.get("failures") or {}):
        return f"build_cnn({input_size}) fails"
    if "error" in plain:
        return f"the network cannot be trained: {plain['error']}"
    if not any(isinstance(run, dict) and run.get("n_examples") == 10000 for run in plain.get("runs") or []):
        return None  # nothing recorded says the network fails
    try:
        net = rebuild((network.get("graphs") or {}).get(str(input_size)))
        if net.output_shape != [TRACE_BATCH, 10]:
            return f"build_cnn({input_size}) does not give 10 logits"
        with measuring():  # part (a)'s run, measured again: it belongs to part (a)'s runs, not this cell's
            check_training(plain, "plain", (10000,))
    except AssertionError as exc:
        return str(exc)
    return None


def check_budgets(recorded: dict, condition: str, budgets, part_a: dict):
    """Part (b)'s or (c)'s training: as ``check_training``, unless the failure is the network's own (part a)."""
    try:
        check_training(recorded, condition, budgets)
    except AssertionError:
        if network_fault(part_a, 24 if condition == "augmented" else 28) is None:
            raise


def check_epochs_for(recorded: dict):
    answers = recorded.get("answers")
    if not (isinstance(answers, list) and len(answers) == len(EPOCHS_CALLS)):
        raise failure("not_recorded", "epochs_for's answers were not recorded")
    for (args, kwargs), got in zip(EPOCHS_CALLS, answers):
        call = ", ".join([str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()])
        try:
            want = {"value": reference.epochs_for(*args, **kwargs)}
        except ValueError:
            want = {"raised": "ValueError"}
        if got == want:
            continue
        if not isinstance(got, dict):
            raise failure("not_recorded", f"epochs_for({call}) was not recorded")
        if "error" in got and "NotImplementedError" in str(got["error"]):
            raise failure("not_implemented", "epochs_for is not implemented yet")
        if "returned" in got:  # the same sentence as the notebook's visible test
            raise failure("epochs_not_int", f"epochs_for({call}) returned a ", Quoted(quote(got["returned"], 20)),
                          ", not an int: return the number of epochs as a whole number (int)")
        if "raised" in want:
            raise failure("epochs_no_valueerror", f"epochs_for({call}) must raise ValueError: no whole number of "
                          "epochs keeps the steps equal; got ",
                          Quoted(quote(got.get("value", got.get("error", "no ValueError")), QUOTE_LIMIT)))
        if "error" in got:
            raise failure("answer_raised", f"epochs_for({call}) raised ", Quoted(quote(got["error"], ERROR_LIMIT)))
        raise failure("epochs_wrong", f"epochs_for({call}) should be {want['value']} (same number of steps as the "
                      "reference budget), got ", Quoted(quote(got.get("value", got))))
