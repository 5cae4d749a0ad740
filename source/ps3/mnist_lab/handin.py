"""Hand-in: what the hidden tests record of a student's answers, for a grader process to judge on its own.

When grading, the hidden tests run inside the student's kernel, where student code could have replaced
anything they call. So the tests here only *collect* what the answers produce, on inputs drawn from a seed
the grader chose (``PS3_HANDIN_SEED``), and write it as plain JSON to ``PS3_HANDIN_DIR``: sympy answers as
``srepr`` text, numbers and arrays as base64 bytes with dtype and shape (never pickle), trained networks as
a graph of the core ATen operations of their forward pass plus their weights (``netgraph``). The grader
(autograder/judge/verdicts.py) re-computes every verdict from these files in a clean process; nothing a submission
does in its own kernel can change how they are judged. The in-kernel checks below use no reference answers (none are reachable
from the kernel): they give a first result, which the grader compares with its own.

Outside grading (no ``PS3_HANDIN_DIR``) nothing is written and only the in-kernel checks run.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

# torch is imported by the functions that need it, not here: problem 6's hidden tests record sympy answers and
# numpy arrays only, and importing torch would add more than a second to that notebook's grading.

HANDIN_DIR_ENV = "PS3_HANDIN_DIR"
SEED_ENV = "PS3_HANDIN_SEED"
ARRAY_DTYPES = ("float32", "float64", "int64", "bool", "uint8")
ACCURACY_FLOOR = 0.90  # far below every valid network measured on seeds 0-4, far above blind: README "Accuracy floor"

# Inputs of the collected answers: which indices, points and budgets. Public on purpose: knowing them
# does not help, since the grader judges the collected values itself.
P6_INDICES = {"delta_output": [(o,) for o in range(3)],
              "delta_pool": [(j, k) for j in range(2) for k in range(2)],
              "delta_conv": [(x, y) for x in range(4) for y in range(4)],
              "grad_conv_weight": [(l, m) for l in range(3) for m in range(3)],
              "grad_conv_bias": [()]}
BACKWARD_SHAPES = [(6, 3, 3), (8, 3, 4), (7, 2, 2), (28, 5, 10)]  # (input n, filter k, outputs)
EPOCHS_CALLS = [((10000,), {}), ((20000,), {}), ((30000,), {}), ((5000,), {}), ((60000,), {}),
                ((4000,), {"reference_examples": 2000, "reference_epochs": 4}), ((7000,), {}), ((25000,), {})]
AUGMENT_IMAGES, AUGMENT_DRAWS = 4, 24


def seed() -> int:
    return int(os.environ.get(SEED_ENV) or 0)


# --- encoding (JSON only) ------------------------------------------------------------------------------------

def encode_array(value) -> dict:
    torch = sys.modules.get("torch")  # a tensor exists only where torch was imported
    is_tensor = torch is not None and isinstance(value, torch.Tensor)
    array = np.array(value.detach().cpu().numpy() if is_tensor else value, order="C")
    if array.dtype.name not in ARRAY_DTYPES:
        array = array.astype(np.float64)
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


def decode_array(value: dict) -> np.ndarray:
    """The array ``encode_array`` wrote."""
    return np.frombuffer(base64.b64decode(value["data"]), dtype=value["dtype"]).reshape(value["shape"]).copy()


def _failure(exc: BaseException) -> dict:
    return {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}


def record(cell: str, part: str, data: dict) -> None:
    """Write one part of a test cell's hand-in as ``<dir>/<cell>--<part>.json`` (no-op outside grading)."""
    folder = os.environ.get(HANDIN_DIR_ENV)
    if not folder:
        return
    path = Path(folder) / f"{cell}--{part}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.part")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def _stub(exc: BaseException) -> AssertionError:
    return AssertionError("not implemented yet" if isinstance(exc, NotImplementedError) else
                          f"{type(exc).__name__}: {exc}")


# --- problems 6 and 7: symbolic answers ---------------------------------------------------------------------

def sympy_answers(cell: str, function, indices) -> None:
    """Record ``srepr(function(*i))`` for every index tuple; in kernel: each must be a sympy expression."""
    import sympy as sp

    answers, problem = {}, None
    for index in indices:
        try:
            value = function(*index)
            answers[json.dumps(list(index))] = {"srepr": sp.srepr(value)} if isinstance(value, sp.Basic) else \
                {"error": f"not a sympy expression: {type(value).__name__}"}
        except Exception as exc:  # noqa: BLE001 - a failing answer is recorded, then reported
            answers[json.dumps(list(index))] = _failure(exc)
            problem = problem or exc
    record(cell, "sympy", {"function": getattr(function, "__name__", "?"), "answers": answers})
    if problem is not None:
        raise _stub(problem)
    bad = [k for k, v in answers.items() if "error" in v]
    name = getattr(function, "__name__", "the function")
    assert not bad, f"{name}{tuple(json.loads(bad[0]))}: {answers[bad[0]]['error']}"


# --- problem 6: the numpy backward pass ---------------------------------------------------------------------

def random_network(seed_: int, n: int, k: int, n_out: int) -> dict:
    rng = np.random.default_rng(seed_)
    size = n - k + 1
    return dict(a0=rng.normal(size=(n, n)), w=rng.normal(size=(k, k)), b=float(rng.normal()),
                W=rng.normal(size=(n_out, size // 2, size // 2)), b3=rng.normal(size=n_out),
                y=rng.uniform(size=n_out))


def backward(cell: str, conv_net_backward) -> None:
    """Record the gradients ``conv_net_backward`` gives on seeded networks of four sizes."""
    results, problem = [], None
    for i, shape in enumerate(BACKWARD_SHAPES):
        try:
            got = conv_net_backward(**random_network(seed() + i, *shape))
            if not isinstance(got, dict):
                raise TypeError(f"conv_net_backward must return a dict, got {type(got).__name__}")
            results.append({name: encode_array(np.asarray(got[name], dtype=np.float64))
                            for name in ("w", "b", "W", "b3") if name in got})
        except Exception as exc:  # noqa: BLE001
            results.append(_failure(exc))
            problem = problem or exc
    record(cell, "backward", {"results": results})
    if problem is not None:
        raise _stub(problem)


# --- problem 7: stability and activations -------------------------------------------------------------------

def stability_points(seed_: int, per_pattern: int = 40):
    """Points (z, w) over every sign pattern of z, weight products from about 0.03 to 30."""
    rng = random.Random(seed_)
    for signs in itertools.product((1, -1), repeat=4):
        for _ in range(per_pattern):
            z = [s * rng.uniform(0.05, 3.0) for s in signs]
            scale = 10 ** (rng.uniform(-1.5, 1.5) / 3)
            yield z, [rng.choice((1, -1)) * scale * rng.uniform(0.8, 1.25) for _ in range(3)]


def stability(cell: str, gradient_is_stable) -> None:
    answers = []
    try:
        for z, w in stability_points(seed()):
            value = gradient_is_stable(list(z), list(w))
            answers.append(bool(value))
    except Exception as exc:  # noqa: BLE001
        record(cell, "stability", _failure(exc))
        raise _stub(exc) from None
    record(cell, "stability", {"answers": answers})


def activation_points() -> torch.Tensor:
    import torch

    x = torch.linspace(-4, 4, 401, dtype=torch.float64)
    return x[x != 0]  # the kink at 0 has no single derivative


ACTIVATION_ALPHAS = {"leaky_relu": (0.01, 0.2), "leaky_relu_derivative": (0.01, 0.2), "elu": (1.0, 0.5),
                     "elu_derivative": (1.0, 0.5)}


def activation_reference(name: str, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """torch's own leaky ReLU / ELU, and their derivatives by autograd."""
    import torch

    F = torch.nn.functional
    base = {"leaky": lambda t: F.leaky_relu(t, alpha), "elu": lambda t: F.elu(t, alpha)}[name.split("_")[0]]
    if not name.endswith("derivative"):
        return base(x)
    x = x.clone().requires_grad_(True)
    base(x).sum().backward()
    return x.grad


def activations(cell: str, **functions) -> None:
    """Record each activation on fixed points for two alphas; in kernel: compare with torch's."""
    import torch

    x, outputs, problem = activation_points(), {}, None
    for name, function in functions.items():
        for alpha in ACTIVATION_ALPHAS[name]:
            try:
                value = function(x.clone(), alpha)
                if not isinstance(value, torch.Tensor):
                    raise TypeError(f"{name} must return a torch tensor, got {type(value).__name__}")
                outputs[f"{name}@{alpha}"] = encode_array(value.detach().double())
            except Exception as exc:  # noqa: BLE001
                outputs[f"{name}@{alpha}"] = _failure(exc)
                problem = problem or exc
    record(cell, "activations", {"outputs": outputs})
    if problem is not None:
        raise _stub(problem)
    for key, value in outputs.items():
        name, alpha = key.split("@")
        got = torch.from_numpy(decode_array(value))
        want = activation_reference(name, x, float(alpha))
        assert got.shape == want.shape and torch.allclose(got, want, rtol=1e-6, atol=1e-9), \
            f"{name}(x, alpha={alpha}) differs from torch's"


# --- problem 5: networks as graphs, epochs, augmentation -----------------------------------------------------

def each(*steps) -> None:
    """Run every step of a hidden test, then fail with the first failure: one wrong answer must not keep the
    others of the cell from being recorded (each is judged on its own)."""
    first = None
    for step in steps:
        try:
            step()
        except AssertionError as exc:
            first = first or exc
    if first is not None:
        raise first


def record_network(model: torch.nn.Module, input_size: int) -> dict:
    """The graph of ``model``'s forward pass with its weights (see netgraph), or why it could not be recorded."""
    from .netgraph import record_graph

    try:
        return record_graph(model, input_size, encode_array)
    except Exception as exc:  # noqa: BLE001 - reported to the student through the grader
        return {"error": f"the forward pass of build_cnn({input_size}) could not be recorded "
                         f"({type(exc).__name__}: {str(exc)[:200]})"}


def rebuild(graph: dict):
    """A GraphNet from a recorded graph (the grader does the same with its own decoder)."""
    import torch

    from .netgraph import GraphNet

    return GraphNet(graph, {name: torch.from_numpy(decode_array(value))
                            for name, value in (graph.get("weights") or {}).items()})


def graph_problem(graph: dict) -> tuple[str | None, bool]:
    """What the grader's architecture check says of a recorded graph, and whether the graph cannot be rebuilt."""
    from .netgraph import GraphError, architecture

    if graph.get("error"):
        return graph["error"], True
    try:
        return architecture(rebuild(graph)), False
    except GraphError as exc:
        return str(exc), True


def architecture_problem(model: torch.nn.Module, input_size: int) -> str | None:
    """The grader's own architecture check of problem 5(a) on ``model`` (recorded, rebuilt and read as the
    grader does): None when it holds, else what is wrong."""
    return graph_problem(record_network(model, input_size))[0]


# What this kernel learnt about the network of part (a): parts (b) and (c) do not charge its problems again.
_NETWORK_FAULT: dict[int, str] = {}  # input size -> why the network cannot be judged by training at that size


def network_fault(input_size: int) -> str | None:
    return _NETWORK_FAULT.get(input_size) or _NETWORK_FAULT.get(0)


def forget_network() -> None:
    """Forget what was learnt about part (a)'s network (a kernel starts without it; tests start anew)."""
    _NETWORK_FAULT.clear()


def network(cell: str, build_cnn) -> None:
    """Record the graphs of freshly built networks for 28x28 and 24x24 inputs; in kernel: the architecture."""
    import torch

    graphs, failures, problems = {}, {}, []
    for size in (28, 24):
        try:
            model = build_cnn(size)
            if not isinstance(model, torch.nn.Module):
                raise TypeError(f"build_cnn({size}) must return an nn.Module, got {type(model).__name__}")
            with torch.no_grad():
                model.eval()(torch.zeros(2, 1, size, size))
        except NotImplementedError as exc:
            _NETWORK_FAULT[0] = "build_cnn is not implemented"
            record(cell, "network", {"graphs": graphs, **_failure(exc)})
            raise _stub(exc) from None
        except Exception as exc:  # noqa: BLE001
            problem = f"build_cnn({size}) fails on a batch of {size}x{size} images: {type(exc).__name__}: {exc}"
            _NETWORK_FAULT[size] = failures[str(size)] = problem[:400]
            problems.append(problem[:400])
            continue
        graphs[str(size)] = graph = record_network(model, size)
        problem, unusable = graph_problem(graph)
        if unusable:
            _NETWORK_FAULT[size] = problem
        if problem:
            problems.append(f"build_cnn({size}): {problem}")
    record(cell, "network", {"graphs": graphs, "failures": failures})
    assert not problems, problems[0]


def training(cell: str, build_cnn, make_augmentation, condition: str, budgets) -> None:
    """Train through the lab (or take this kernel's identical earlier runs) with the reference epochs and seed 0;
    record each trained network's graph and weights. In kernel: the accuracy floor, which parts (b) and (c)
    do not apply when the network already failed it in part (a)."""
    from .experiment import REFERENCE_EPOCHS, run_budget_experiment
    from .train import TrainConfig

    size = 24 if condition == "augmented" else 28
    part_a = cell == "p5a_tests"
    models: list = []
    try:
        results = run_budget_experiment(build_cnn, REFERENCE_EPOCHS.__getitem__, make_augmentation, budgets=budgets,
                                        seeds=(0,), conditions=(condition,), config=TrainConfig(progress=False),
                                        keep_models=models)
    except Exception as exc:  # noqa: BLE001
        record(cell, f"training-{condition}", _failure(exc))
        if part_a:
            _NETWORK_FAULT[0] = f"the network cannot be trained: {type(exc).__name__}"
        if part_a or not network_fault(size):
            raise _stub(exc) from None
        return
    runs = [{"n_examples": run["n_examples"], "epochs": run["epochs"], "input_size": run["input_size"],
             "kernel_accuracy": run["test_accuracy"], "graph": record_network(model.cpu().float(), run["input_size"])}
            for run, model in zip(results["runs"], models)]
    record(cell, f"training-{condition}", {"condition": condition, "runs": runs})
    low = [run for run in runs if run["kernel_accuracy"] < ACCURACY_FLOOR]
    if part_a and low:
        _NETWORK_FAULT[0] = "the network does not reach the accuracy floor"
    if low and (part_a or not network_fault(size)):
        run = low[0]
        raise AssertionError(f"{condition} training on {run['n_examples']} examples x {run['epochs']} epochs reached "
                             f"{100 * run['kernel_accuracy']:.2f}% test accuracy; at least "
                             f"{100 * ACCURACY_FLOOR:.1f}% is expected")


def _returned(value) -> dict:
    """What ``epochs_for`` returned: an int is an answer; anything else is described without its text."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return {"value": int(value)}
    kind = type(value)
    return {"returned": kind.__name__ if kind.__module__ in ("builtins", "numpy") else "object"}


def epochs(cell: str, epochs_for) -> None:
    """Record ``epochs_for`` on fixed budgets (a ValueError is an answer too); in kernel: ints, 10000 -> 6."""
    answers = []
    for args, kwargs in EPOCHS_CALLS:
        try:
            answers.append(_returned(epochs_for(*args, **kwargs)))
        except ValueError:
            answers.append({"raised": "ValueError"})
        except Exception as exc:  # noqa: BLE001
            answers.append(_failure(exc))
    record(cell, "epochs", {"answers": answers})
    if "error" in answers[0] and "NotImplementedError" in answers[0]["error"]:
        raise AssertionError("not implemented yet")
    assert "returned" not in answers[0], f"epochs_for(10000) returned a {answers[0]['returned']}, not an int"
    assert answers[0] == {"value": 6}, "epochs_for(10000) should be 6"


def augmentation_images(seed_: int) -> torch.Tensor:
    """The test images the augmentation is applied to, drawn by the grader's seed (the grader draws the same)."""
    from .train import lab_data

    return lab_data("cpu").test_x[random.Random(seed_).sample(range(10000), AUGMENT_IMAGES)]


def augmentation(cell: str, make_augmentation) -> None:
    """Record 24 draws of the augmentation on each of 4 seeded test images; in kernel: sizes and randomness."""
    import torch

    from .augment import compile_augmentation

    images = augmentation_images(seed())
    try:
        transform = make_augmentation()
        torch.manual_seed(seed())
        outputs = torch.stack([torch.stack([torch.as_tensor(transform(image)).float()
                                            for _ in range(AUGMENT_DRAWS)]) for image in images])
    except Exception as exc:  # noqa: BLE001
        record(cell, "augmentation", _failure(exc))
        raise _stub(exc) from None
    record(cell, "augmentation", {"outputs": encode_array(outputs)})
    assert outputs.shape[2:] == (1, 24, 24), f"the augmentation must give 24x24 images, got {tuple(outputs.shape[2:])}"
    batch = compile_augmentation(transform)(images.repeat(8, 1, 1, 1))
    assert batch.shape == (32, 1, 24, 24), "the augmentation must also work through the training lab"
