"""The grader's named mistakes (mistakes.py): every failure a check raises names one of the table's keys, the
report-safe message leaves out what the submission wrote, and problem 5's judge keeps the accuracies it measured."""

import ast
from pathlib import Path

import sympy as sp
import torch

from autograder.judge.checks import problem6, problem7
from autograder.mistakes import MISTAKES, OTHER, QUOTE, Quoted, failure, title
from mnist_lab.notation import dC_da3, delta2, relu_z, sigma_prime, z1
from solutions import problem6 as reference6
from solutions import problem7 as reference7
from solutions.problem5 import build_cnn

ROOT = Path(__file__).resolve().parents[1]
MAKERS = {"failure", "_failed", "Mistake"}  # calls whose first argument is a mistake key
FORWARDERS = {"symbolic.py", "verdicts.py"}  # pass on a key made elsewhere (a Mistake's, a check's)


def used_keys() -> dict[str, str]:
    """Every mistake key written in the grader's source: key -> where."""
    found = {}
    for path in [*(ROOT / "autograder" / "judge").rglob("*.py"), ROOT / "autograder" / "submission" / "score.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in MAKERS:
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found[first.value] = f"{path.name}:{node.lineno}"
                elif path.name not in FORWARDERS:
                    raise AssertionError(f"{path.name}:{node.lineno}: a mistake key must be a literal string")
            if isinstance(node, ast.Tuple) and len(node.elts) == 2 and path.name == "score.py":
                value = node.elts[1]
                if isinstance(value, ast.Constant) and value.value == "stopped":
                    found["stopped"] = f"{path.name}:{node.lineno}"
    return found


def test_every_key_a_check_uses_is_in_the_table():
    used = used_keys()
    assert len(used) >= 40, used
    assert not {k: v for k, v in used.items() if k not in MISTAKES}
    assert OTHER not in MISTAKES and title(OTHER).startswith("other")
    # the table holds no key that nothing uses (a renamed key would leave its old title behind)
    assert set(MISTAKES) == set(used), set(MISTAKES) ^ set(used)


def test_checks_raise_no_plain_assertion():
    for path in (ROOT / "autograder" / "judge" / "checks").glob("*.py"):
        tree = ast.parse(path.read_text())
        assert not [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Assert)], path.name
        raised = [n for n in ast.walk(tree) if isinstance(n, ast.Raise) and isinstance(n.exc, ast.Call)
                  and getattr(n.exc.func, "id", "") == "AssertionError"]
        assert not raised, path.name


def test_quoted_text_is_scrubbed():
    named = failure("answer_raised", "delta_pool(0, 1) failed: ", Quoted("ValueError: <b>Alice</b>"), ".")
    assert str(named) == "delta_pool(0, 1) failed: ValueError: <b>Alice</b>."
    assert named.scrubbed == f"delta_pool(0, 1) failed: {QUOTE}." and named.mistake == "answer_raised"
    assert isinstance(named, AssertionError)


def lookup(function):
    """A symbolic check's argument: the student's function as the recorded answers would give it."""
    def answer(*index):
        return function(*index)
    answer.__name__ = function.__name__
    return answer


def failed(check, function):
    try:
        check(lookup(function))
    except AssertionError as exc:
        return exc
    raise AssertionError("the check passed")


def test_symbolic_mistakes_are_named():
    def delta_conv(x, y):  # the "partial" example: sigma' forgotten
        return reference6.delta_conv(x, y).subs(sigma_prime(z1[x, y]), 1)
    exc = failed(problem6.check_delta_conv, delta_conv)
    assert exc.mistake == "no_sigma_prime" and "missing the factor sigma'(z1[x, y])" in str(exc)
    assert exc.scrubbed == str(exc)  # the grader's own words only

    def spread(x, y):
        return delta2[x // 2, y // 2] / 4 * sigma_prime(z1[x, y])
    assert failed(problem6.check_delta_conv, spread).mistake == "spread_pool"

    def plain_wrong(o):
        return 2 * dC_da3[o]
    assert failed(problem6.check_delta_output, plain_wrong).mistake == "wrong_value"

    def one_theta(*_):  # the same key for each unit's missing Theta
        return reference7.relu_chain_gradient().subs(sp.Heaviside(relu_z[1]), 1)
    one_theta.__name__ = "relu_chain_gradient"
    exc = failed(problem7.check_relu_chain_gradient, one_theta)
    assert exc.mistake == "one_theta_missing", str(exc)


def test_a_symbol_named_by_the_student_never_reaches_the_scrubbed_message():
    script = "</pre><script>alert(1)</script>"

    def delta_output(o):  # the red team's html_in_symbol
        return reference6.delta_output(o) * sp.Symbol(script)
    exc = failed(problem6.check_delta_output, delta_output)
    assert exc.mistake == "unknown_symbols" and script in str(exc)
    assert "script" not in exc.scrubbed and exc.scrubbed.endswith(QUOTE)


def test_the_judge_keeps_the_accuracy_it_measured(collect_and_judge):
    """An untrained network recorded as problem 5's run: the verdict fails below the floor, and carries the clean
    accuracy the grader measured (about chance), not the kernel's claim."""
    from autograder.judge.checks.problem5 import measuring

    def untrained_runs(h):
        h.network("p5a_tests", build_cnn)
        torch.manual_seed(0)
        h.record("p5a_tests", "training-plain", {"condition": "plain", "runs": [
            {"n_examples": 10000, "epochs": 6, "input_size": 28, "kernel_accuracy": 0.99,
             "graph": h.record_network(build_cnn(28), 28)}]})
    verdict = collect_and_judge("p5a_tests", untrained_runs)
    assert not verdict.passed and verdict.mistake == "below_floor", verdict.message
    assert [(r["condition"], r["n_examples"], r["epochs"]) for r in verdict.runs] == [("plain", 10000, 6)]
    assert verdict.runs[0]["accuracy"] < 0.5  # measured by the grader; the record claimed 0.99
    with measuring() as outer:
        with measuring() as inner:
            pass
    assert outer == [] and inner == []


def test_a_function_left_unimplemented_is_not_implemented_whatever_the_cell():
    from autograder.judge.checks import problem7 as checks7
    from autograder.mistakes import raised

    assert raised("elu(x, alpha=1.0) failed: ", "NotImplementedError: ").mistake == "not_implemented"
    exc = raised("leaky_relu(x, alpha=0.01) failed: ", "MemoryError: <i>x</i>")
    assert exc.mistake == "answer_raised" and exc.scrubbed == f"leaky_relu(x, alpha=0.01) failed: {QUOTE}"
    try:
        checks7.check_gradient_is_stable({"error": "NotImplementedError: "}, 0)
    except AssertionError as failed:
        assert failed.mistake == "not_implemented" and str(failed) == "gradient_is_stable failed: NotImplementedError: "
