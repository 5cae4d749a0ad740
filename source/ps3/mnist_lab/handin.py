"""Hand-in: what the hidden tests record of a student's answers, for a grader process to judge on its own.

When grading, the hidden tests run inside the student's kernel, where student code could have replaced
anything they call. So the tests here only *collect* what the answers produce, on inputs drawn from a seed
the grader chose (``PS3_HANDIN_SEED``), and write it as plain JSON to ``PS3_HANDIN_DIR``: sympy answers as
``srepr`` text, numbers and arrays as base64 bytes with dtype and shape (never pickle), trained networks as
a tape of the tensor operations of their forward pass plus their weights. The grader (autograder/verdicts.py)
re-computes every verdict from these files in a clean process; nothing a submission does in its own kernel
can change how they are judged. The in-kernel checks below use no reference answers (none are reachable
from the kernel): they give a first result, which the grader compares with its own.

Outside grading (no ``PS3_HANDIN_DIR``) nothing is written and only the in-kernel checks run.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import random
from pathlib import Path

import numpy as np
import torch

HANDIN_DIR_ENV = "PS3_HANDIN_DIR"
SEED_ENV = "PS3_HANDIN_SEED"
ARRAY_DTYPES = ("float32", "float64", "int64", "bool", "uint8")
ACCURACY_FLOOR = 0.970  # see autograder/checks/problem5.py for how it was chosen

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
    array = np.array(value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value, order="C")
    if array.dtype.name not in ARRAY_DTYPES:
        array = array.astype(np.float64)
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": base64.b64encode(array.tobytes()).decode()}


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
    x = torch.linspace(-4, 4, 401, dtype=torch.float64)
    return x[x != 0]  # the kink at 0 has no single derivative


ACTIVATION_ALPHAS = {"leaky_relu": (0.01, 0.2), "leaky_relu_derivative": (0.01, 0.2), "elu": (1.0, 0.5),
                     "elu_derivative": (1.0, 0.5)}


def activation_reference(name: str, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """torch's own leaky ReLU / ELU, and their derivatives by autograd."""
    F = torch.nn.functional
    base = {"leaky": lambda t: F.leaky_relu(t, alpha), "elu": lambda t: F.elu(t, alpha)}[name.split("_")[0]]
    if not name.endswith("derivative"):
        return base(x)
    x = x.clone().requires_grad_(True)
    base(x).sum().backward()
    return x.grad


def activations(cell: str, **functions) -> None:
    """Record each activation on fixed points for two alphas; in kernel: compare with torch's."""
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
        got = torch.from_numpy(np.frombuffer(base64.b64decode(value["data"]), dtype=value["dtype"]).copy())
        want = activation_reference(name, x, float(alpha))
        assert got.shape == want.shape and torch.allclose(got, want, rtol=1e-6, atol=1e-9), \
            f"{name}(x, alpha={alpha}) differs from torch's"


# --- problem 5: networks as tapes, epochs, augmentation ------------------------------------------------------

_TRACE_BATCH = 3


class _Tape(torch.overrides.TorchFunctionMode):
    """Records every tensor-producing call of a forward pass whose input is the running activation (the grader
    decides which of them it can rebuild)."""

    def __init__(self, names: dict[int, str]):
        super().__init__()
        self.names, self.ops, self.current = names, [], None

    def _arg(self, value):
        if isinstance(value, torch.Tensor):
            if self.current is not None and value is self.current:
                return {"stream": True}
            if id(value) in self.names:
                return {"param": self.names[id(value)]}
            return {"tensor": list(value.shape)}
        if isinstance(value, (list, tuple)):
            return [self._arg(v) for v in value]
        if isinstance(value, slice):
            return {"slice": [self._arg(value.start), self._arg(value.stop), self._arg(value.step)]}
        if value is Ellipsis:
            return {"ellipsis": True}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return {"other": type(value).__name__}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        result = out[0] if isinstance(out, tuple) and out and isinstance(out[0], torch.Tensor) else out
        uses_stream = any(a is self.current for a in list(args) + list(kwargs.values()))
        if not isinstance(result, torch.Tensor) or not uses_stream:
            return out  # sizes, shapes and work on parameters are not steps of the forward pass
        self.ops.append({"op": getattr(func, "__name__", repr(func)), "args": [self._arg(a) for a in args],
                         "kwargs": {k: self._arg(v) for k, v in kwargs.items()}, "shape": list(result.shape)})
        self.current = result
        return out


def trace_network(model: torch.nn.Module, input_size: int) -> dict:
    """The tape of ``model``'s forward pass (eval mode) on a batch of 3 images, plus its weights."""
    names = {id(t): n for n, t in list(model.named_parameters()) + list(model.named_buffers())}
    tape = _Tape(names)
    x = torch.zeros(_TRACE_BATCH, 1, input_size, input_size)
    was_training = model.training
    model.eval()
    tape.current = x
    with torch.no_grad(), tape:
        out = model(x)
    model.train(was_training)
    used = {a["param"] for op in tape.ops for a in _flat(op["args"], op["kwargs"]) if "param" in a}
    state = dict(list(model.named_parameters()) + list(model.named_buffers()))
    return {"input_size": input_size, "ops": tape.ops, "output_shape": list(out.shape),
            "weights": {n: encode_array(state[n].detach().float() if state[n].is_floating_point() else state[n])
                        for n in sorted(used)}}


def _flat(args, kwargs):
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, list):
            yield from _flat(value, {})
        elif isinstance(value, dict):
            yield value


def architecture_problem(tape: dict) -> str | None:
    """Why a tape is not two convolutions each followed by 2x2 max-pooling with 256 values after; None if it is."""
    if tape.get("output_shape") != [_TRACE_BATCH, 10]:
        return f"the network must give 10 logits per image, got shape {tape.get('output_shape')}"
    ops = tape["ops"]
    kinds = [("conv" if op["op"] == "conv2d" else "pool") for op in ops
             if op["op"] == "conv2d" or "max_pool2d" in op["op"]]
    if kinds.count("conv") != 2:
        return f"expected exactly two convolutional layers, found {kinds.count('conv')}"
    if kinds.count("pool") != 2:
        return f"expected two max-pooling layers, found {kinds.count('pool')}"
    if kinds != ["conv", "pool", "conv", "pool"]:
        return f"each convolution must be followed by a max-pooling, got the order {kinds}"
    pools = [op for op in ops if "max_pool2d" in op["op"]]
    for op in pools:
        kernel = op["kwargs"].get("kernel_size", op["args"][1] if len(op["args"]) > 1 else None)
        if kernel not in (2, [2, 2]):
            return f"max-pooling must be 2x2, found kernel size {kernel}"
    shape = pools[-1]["shape"][1:]
    if int(np.prod(shape)) != 256:
        return f"after the second max-pooling the {tape['input_size']}x{tape['input_size']} input leaves " \
               f"{int(np.prod(shape))} values per image (shape {shape}), not 256"
    return None


def network(cell: str, build_cnn) -> None:
    """Record the tapes of freshly built networks for 28x28 and 24x24 inputs; in kernel: check the architecture."""
    tapes = {}
    for size in (28, 24):
        try:
            model = build_cnn(size)
            if not isinstance(model, torch.nn.Module):
                raise TypeError(f"build_cnn({size}) must return an nn.Module")
            tapes[str(size)] = trace_network(model, size)
        except NotImplementedError as exc:
            record(cell, "network", {"tapes": tapes, **_failure(exc)})
            raise _stub(exc) from None
        except Exception as exc:  # noqa: BLE001
            problem = f"build_cnn({size}) fails on a batch of {size}x{size} images: {type(exc).__name__}: {exc}"
            record(cell, "network", {"tapes": tapes, "error": problem[:400]})
            raise AssertionError(problem) from None
    record(cell, "network", {"tapes": tapes})
    for tape in tapes.values():
        problem = architecture_problem(tape)
        assert problem is None, problem


def training(cell: str, build_cnn, make_augmentation, condition: str, budgets) -> None:
    """Train through the lab (or take this kernel's identical earlier runs) with the reference epochs and seed 0;
    record each trained network's tape and weights. In kernel: the accuracy floor."""
    from .experiment import REFERENCE_EPOCHS, run_budget_experiment
    from .train import TrainConfig

    models: list = []
    try:
        results = run_budget_experiment(build_cnn, REFERENCE_EPOCHS.__getitem__, make_augmentation, budgets=budgets,
                                        seeds=(0,), conditions=(condition,), config=TrainConfig(progress=False),
                                        keep_models=models)
    except Exception as exc:  # noqa: BLE001
        record(cell, f"training-{condition}", _failure(exc))
        raise _stub(exc) from None
    runs = [{"n_examples": run["n_examples"], "epochs": run["epochs"], "input_size": run["input_size"],
             "kernel_accuracy": run["test_accuracy"], "tape": trace_network(model.cpu().float(), run["input_size"])}
            for run, model in zip(results["runs"], models)]
    record(cell, f"training-{condition}", {"condition": condition, "runs": runs})
    for run in runs:
        assert run["kernel_accuracy"] >= ACCURACY_FLOOR, (
            f"{condition} training on {run['n_examples']} examples x {run['epochs']} epochs reached "
            f"{100 * run['kernel_accuracy']:.2f}% test accuracy; at least {100 * ACCURACY_FLOOR:.1f}% is expected")


def epochs(cell: str, epochs_for) -> None:
    """Record ``epochs_for`` on fixed budgets (a ValueError is an answer too)."""
    answers = []
    for args, kwargs in EPOCHS_CALLS:
        try:
            value = epochs_for(*args, **kwargs)
            answers.append({"value": int(value)} if isinstance(value, (int, np.integer)) and not isinstance(
                value, bool) else {"error": f"returned {type(value).__name__} {str(value)[:40]}"})
        except ValueError:
            answers.append({"raised": "ValueError"})
        except Exception as exc:  # noqa: BLE001
            answers.append(_failure(exc))
    record(cell, "epochs", {"answers": answers})
    assert answers[0] == {"value": 6}, "epochs_for(10000) should be 6"


def augmentation_images(seed_: int) -> torch.Tensor:
    """The test images the augmentation is applied to, drawn by the grader's seed (the grader draws the same)."""
    from .train import lab_data

    return lab_data("cpu").test_x[random.Random(seed_).sample(range(10000), AUGMENT_IMAGES)]


def augmentation(cell: str, make_augmentation) -> None:
    """Record 24 draws of the augmentation on each of 4 seeded test images; in kernel: sizes and randomness."""
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
