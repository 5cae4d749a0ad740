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

import torch

from autograder.judge.decode import decode_array
from mnist_lab import evaluate
from mnist_lab.experiment import REFERENCE_EPOCHS
from mnist_lab.handin import ACCURACY_FLOOR, EPOCHS_CALLS
from mnist_lab.netgraph import TRACE_BATCH, GraphError, GraphNet, architecture
from solutions import problem5 as reference


def rebuild(graph) -> GraphNet:
    """The grader's own network from a recorded graph; AssertionError (the student's message) if it cannot."""
    if not isinstance(graph, dict):
        raise AssertionError("no network was recorded")
    if graph.get("error"):
        raise AssertionError(str(graph["error"])[:400])
    weights = graph.get("weights")
    if not isinstance(weights, dict):
        raise AssertionError("the network's weights were not recorded")
    try:
        return GraphNet(graph, {name: torch.from_numpy(decode_array(value)) for name, value in weights.items()})
    except GraphError as exc:
        raise AssertionError(f"the network cannot be rebuilt by the grader: {exc}") from None


def check_architecture(recorded: dict):
    error = str(recorded.get("error", ""))
    assert "NotImplementedError" not in error, "build_cnn is not implemented yet"
    assert not error, f"build_cnn failed: {error}"
    failures = recorded.get("failures") if isinstance(recorded.get("failures"), dict) else {}
    graphs = recorded.get("graphs") if isinstance(recorded.get("graphs"), dict) else {}
    for size in (28, 24):
        assert str(size) not in failures, str(failures.get(str(size)))[:400]
        assert str(size) in graphs, f"build_cnn({size}) was not recorded"
        problem = architecture(rebuild(graphs[str(size)]))
        assert problem is None, f"build_cnn({size}): {problem}"


def check_training(recorded: dict, condition: str, budgets):
    """Every budget trained with the reference epochs, rebuilt, and at least ACCURACY_FLOOR on the test set."""
    assert "error" not in recorded, f"cannot train the {condition} condition: {recorded['error']}"
    runs = {run.get("n_examples"): run for run in recorded.get("runs", []) if isinstance(run, dict)}
    for n in budgets:
        run = runs.get(n)
        assert run is not None, f"no {condition} network trained on {n} examples was recorded"
        size = 24 if condition == "augmented" else 28
        assert run.get("input_size") == size, f"the {condition} network must take {size}x{size} inputs"
        assert run.get("epochs") == REFERENCE_EPOCHS[n], f"the {condition} run on {n} examples used other epochs"
        net = rebuild(run.get("graph"))
        assert net.input_size == size and net.output_shape == [TRACE_BATCH, 10], \
            f"the trained {condition} network must map {size}x{size} images to 10 logits"
        try:
            accuracy = evaluate(net, size, device="cpu", batch_size=TRACE_BATCH, mixed_precision=False)
        except (RuntimeError, GraphError) as exc:
            raise AssertionError(f"the recorded {condition} network fails on the test set: {exc}") from None
        assert accuracy >= ACCURACY_FLOOR, (
            f"{condition} training on {n} examples x {REFERENCE_EPOCHS[n]} epochs reached {100 * accuracy:.2f}% "
            f"test accuracy; at least {100 * ACCURACY_FLOOR:.1f}% is expected")


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
    assert isinstance(answers, list) and len(answers) == len(EPOCHS_CALLS), "epochs_for's answers were not recorded"
    for (args, kwargs), got in zip(EPOCHS_CALLS, answers):
        call = ", ".join([str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()])
        try:
            want = {"value": reference.epochs_for(*args, **kwargs)}
        except ValueError:
            want = {"raised": "ValueError"}
        if got == want:
            continue
        if not isinstance(got, dict):
            raise AssertionError(f"epochs_for({call}) was not recorded")
        if "error" in got and "NotImplementedError" in str(got["error"]):
            raise AssertionError("epochs_for is not implemented yet")
        if "returned" in got:  # the same sentence as the notebook's visible test
            raise AssertionError(f"epochs_for({call}) returned a {str(got['returned'])[:20]}, not an int: return the "
                                 "number of epochs as a whole number (int)")
        if "raised" in want:
            raise AssertionError(f"epochs_for({call}) must raise ValueError: no whole number of epochs keeps the "
                                 f"steps equal; got {got.get('value', got.get('error', 'no ValueError'))}")
        if "error" in got:
            raise AssertionError(f"epochs_for({call}) raised {str(got['error'])[:200]}")
        raise AssertionError(f"epochs_for({call}) should be {want['value']} (same number of steps as the "
                             f"reference budget), got {got.get('value', got)}")
