"""Checks for problem 5, run by the grader on what the hidden tests recorded: the architecture, the trained
networks, the epochs per budget and the augmentation.

Trained networks arrive as a tape (the tensor operations of their forward pass) plus weights. The grader
rebuilds each as a ``TapeNet`` that runs only allow-listed torch operations with literal arguments, traces the
rebuilt network itself to check the architecture (the recorded shapes are not trusted) and measures its test
accuracy on MNIST itself.

Accuracy floor (ACCURACY_FLOOR): the reference network (solutions/problem5.py) over seeds 0, 1, 2 on a CPU
scored between 98.38% and 98.81% in every budget x condition cell (README, "Reference quality"). The floor
sits 1.4 points below the lowest reference run, so other correct designs pass (tests/test_problem5_checks.py
trains a different correct network), while a network that does not learn from its input scores about 11%.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from autograder.decode import decode_array
from mnist_lab import evaluate
from mnist_lab.experiment import REFERENCE_EPOCHS
from mnist_lab.handin import (ACCURACY_FLOOR, AUGMENT_DRAWS, AUGMENT_IMAGES, EPOCHS_CALLS, architecture_problem,
                              augmentation_images, trace_network)
from solutions import problem5 as reference

IDENTITY = {"dropout", "contiguous", "log_softmax", "softmax"}  # no effect on the predicted class in eval mode
FUNCTIONS = {"conv2d": F.conv2d, "max_pool2d": F.max_pool2d, "_max_pool2d": F.max_pool2d,
             "max_pool2d_with_indices": lambda *a, **k: F.max_pool2d_with_indices(*a, **k)[0],
             "avg_pool2d": F.avg_pool2d, "relu": F.relu, "relu_": F.relu, "leaky_relu": F.leaky_relu,
             "tanh": torch.tanh, "sigmoid": torch.sigmoid, "elu": F.elu, "gelu": F.gelu, "flatten": torch.flatten,
             "linear": F.linear, "batch_norm": F.batch_norm, "zeros_like": torch.zeros_like,
             "ones_like": torch.ones_like}
# Elementwise arithmetic and indexing, replayed as the tensor method of that name (x * 2, x / 255, x[:, :, 2:-2]).
METHODS = {"mul", "add", "sub", "div", "neg", "abs", "clamp", "__mul__", "__rmul__", "__add__", "__radd__", "__sub__",
           "__rsub__", "__truediv__", "__rtruediv__", "__neg__", "__getitem__"}


class TapeError(ValueError):
    pass


class TapeNet(nn.Module):
    """A network rebuilt from a recorded tape: allow-listed torch functions applied in order to one stream."""

    def __init__(self, tape: dict):
        super().__init__()
        if not isinstance(tape, dict) or not isinstance(tape.get("ops"), list) or not tape["ops"]:
            raise TapeError("no network was recorded")
        for op in tape["ops"]:
            name = op.get("op") if isinstance(op, dict) else None
            if name not in {*FUNCTIONS, *METHODS, *IDENTITY, "view", "reshape"}:
                raise TapeError(f"the network uses {name!r}, which the grader does not rebuild; use convolutions, "
                                "pooling, activations, flatten/view and linear layers")
        self.ops = tape["ops"]
        weights = tape.get("weights") or {}
        self.weights = {name: torch.from_numpy(decode_array(value)) for name, value in weights.items()}

    def _resolve(self, value, stream):
        if isinstance(value, list):
            return [self._resolve(v, stream) for v in value]
        if isinstance(value, dict):
            if value.get("stream"):
                return stream
            if "slice" in value and isinstance(value["slice"], list) and len(value["slice"]) == 3:
                return slice(*(self._resolve(v, stream) for v in value["slice"]))
            if value.get("ellipsis"):
                return Ellipsis
            if "param" in value:
                if value["param"] not in self.weights:
                    raise TapeError(f"the weights of {value['param']!r} were not recorded")
                return self.weights[value["param"]]
            raise TapeError("the network passes a tensor that is neither its input nor a parameter")
        return value

    def forward(self, x):
        for op in self.ops:
            name = op["op"]
            if name in IDENTITY:
                continue
            if name in ("view", "reshape"):
                x = x.reshape(x.shape[0], *op["shape"][1:])  # the trace ran on 3 images: dimension 0 is the batch
                continue
            args = self._resolve(op.get("args", []), x)
            kwargs = {k: self._resolve(v, x) for k, v in (op.get("kwargs") or {}).items()}
            kwargs.pop("inplace", None)
            if name == "batch_norm":
                kwargs["training"] = False
            if name == "__getitem__" and len(args) == 2 and isinstance(args[1], list):
                args[1] = tuple(args[1])  # an index tuple was recorded as a list
            x = FUNCTIONS[name](*args, **kwargs) if name in FUNCTIONS else getattr(torch.Tensor, name)(*args, **kwargs)
        return x


def _rebuild(tape: dict, input_size: int) -> TapeNet:
    try:
        net = TapeNet(tape)
        problem = architecture_problem(trace_network(net, input_size))  # the grader's own trace of the rebuild
    except (TapeError, ValueError, TypeError, RuntimeError, KeyError) as exc:
        raise AssertionError(f"the network cannot be rebuilt by the grader: {exc}") from None
    assert problem is None, f"build_cnn({input_size}): {problem}"
    return net


def check_architecture(recorded: dict):
    error = str(recorded.get("error", ""))
    assert "NotImplementedError" not in error, "build_cnn is not implemented yet"
    assert not error, error if error.startswith("build_cnn") else f"build_cnn failed: {error}"
    tapes = recorded.get("tapes") or {}
    for size in (28, 24):
        assert str(size) in tapes, f"build_cnn({size}) was not recorded"
        _rebuild(tapes[str(size)], size)


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
        net = _rebuild(run.get("tape"), size)
        try:
            accuracy = evaluate(net, size, device="cpu", mixed_precision=False)
        except RuntimeError as exc:
            raise AssertionError(f"the recorded {condition} network fails on the test set: {exc}") from None
        assert accuracy >= ACCURACY_FLOOR, (
            f"{condition} training on {n} examples x {REFERENCE_EPOCHS[n]} epochs reached {100 * accuracy:.2f}% "
            f"test accuracy; at least {100 * ACCURACY_FLOOR:.1f}% is expected")


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
        if "raised" in want:
            raise AssertionError(f"epochs_for({call}) must raise ValueError: no whole number of epochs keeps the "
                                 f"steps equal; got {got}")
        if "error" in got and "NotImplementedError" in got["error"]:
            raise AssertionError("epochs_for is not implemented yet")
        raise AssertionError(f"epochs_for({call}) should be {want['value']} (same number of steps as the "
                             f"reference budget), got {got.get('value', got)}")


def _candidates(image: torch.Tensor, angles, mode) -> torch.Tensor:
    """Every 24x24 crop of every rotation of one image: (angles * 25, 576)."""
    rotated = torch.stack([TF.rotate(image, float(a), interpolation=mode) for a in angles])
    crops = [rotated[:, :, t:t + 24, l:l + 24] for t in range(5) for l in range(5)]
    return torch.stack(crops, 1).reshape(-1, 576)


# Ordered by size, so that among equally good matches the smallest rotation wins (a tiny rotation with
# nearest-neighbour sampling can leave an image unchanged).
ANGLES = sorted(torch.arange(-20, 20.25, 0.25).tolist(), key=lambda a: (abs(a), a))
MODES = (TF.InterpolationMode.NEAREST, TF.InterpolationMode.BILINEAR)
MATCH_TOLERANCE = 0.04  # mean absolute pixel difference (images in [0, 1]) to the nearest rotation and crop


def check_augmentation(recorded: dict, seed: int):
    """Each recorded output must be a crop of a rotation (within 15 degrees) of its input image; the angles and
    crops must vary from draw to draw, and most outputs must be rotated."""
    assert "error" not in recorded, f"make_augmentation failed: {recorded['error']}"
    outputs = torch.from_numpy(decode_array(recorded.get("outputs"))).float()
    assert tuple(outputs.shape) == (AUGMENT_IMAGES, AUGMENT_DRAWS, 1, 24, 24), (
        f"the augmentation must give 24x24 images, got {tuple(outputs.shape[2:])}")
    angle_of = torch.tensor(ANGLES * len(MODES)).repeat_interleave(25)
    for image, draws in zip(augmentation_images(seed), outputs):
        candidates = torch.cat([_candidates(image, ANGLES, mode) for mode in MODES])
        errors = torch.cdist(draws.reshape(-1, 576), candidates, p=1) / 576
        best, where = errors.min(1)
        angles = angle_of[where]
        assert (best <= MATCH_TOLERANCE).all(), (
            "an augmented image is not a 24x24 crop of the input rotated by at most 15 degrees "
            f"(closest match off by {best.max().item():.3f} per pixel)")
        assert angles.abs().max() <= 15.5, f"a rotation of {angles.abs().max().item():.1f} degrees exceeds 15"
        distinct = {tuple(o.flatten().tolist()) for o in draws}
        assert len(distinct) >= 10, "the same image must come out differently on different calls (random per image)"
        assert (angles.abs() >= 1).sum() >= AUGMENT_DRAWS // 2, \
            "most augmented images should be rotated, not only cropped"
        assert len(set((where % 25).tolist())) >= 3, "the crop position must vary from draw to draw"
