"""Hidden-test checks for problem 5: the architecture, the epochs per budget, the augmentation, the training.

Accuracy floor (ACCURACY_FLOOR): the reference network (solutions/problem5.py) over seeds 0, 1, 2 on a CPU
scored between 98.38% and 98.81% in every budget x condition cell (README, "Reference quality"). The floor
sits 1.4 points below the lowest reference run, so other correct designs pass (tests/test_problem5_checks.py
trains a different correct network), while a network that does not learn from its input scores about 11%.
One seed is graded: seed-to-seed spread of the reference is at most 0.4 points.
"""

import torch
import torch.nn as nn
from torch.overrides import TorchFunctionMode

from mnist_lab import TrainConfig, compile_augmentation, lab_data, run_budget_experiment
from mnist_lab.experiment import REFERENCE_EPOCHS

ACCURACY_FLOOR = 0.970
GRADING_SEEDS = (0,)


class _LayerRecorder(TorchFunctionMode):
    """Records the convolutions and max-pools a forward pass calls, whether via nn modules or F functions."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        if name == "conv2d":
            self.calls.append(("conv", None, tuple(out.shape)))
        elif "max_pool2d" in name:
            kernel = kwargs.get("kernel_size", args[1] if len(args) > 1 else None)
            result = out[0] if isinstance(out, tuple) else out
            self.calls.append(("pool", kernel, tuple(result.shape)))
        return out


def _layers(model: nn.Module, input_size: int):
    recorder = _LayerRecorder()
    with torch.no_grad(), recorder:
        out = model(torch.zeros(2, 1, input_size, input_size))
    return recorder.calls, out


def check_architecture(build_cnn):
    for input_size in (28, 24):
        try:
            model = build_cnn(input_size)
        except NotImplementedError:
            raise AssertionError("build_cnn is not implemented yet") from None
        assert isinstance(model, nn.Module), f"build_cnn({input_size}) must return an nn.Module"
        model.eval()
        try:
            calls, out = _layers(model, input_size)
        except Exception as exc:  # noqa: BLE001 - any failure of the student's forward pass is reported
            raise AssertionError(f"build_cnn({input_size}) fails on a batch of {input_size}x{input_size} images: "
                                 f"{type(exc).__name__}: {exc}") from None
        assert tuple(out.shape) == (2, 10), (
            f"for {input_size}x{input_size} inputs the network must give 10 logits per image, got {tuple(out.shape)}")
        kinds = [kind for kind, _, _ in calls]
        assert kinds.count("conv") == 2, f"expected exactly two convolutional layers, found {kinds.count('conv')}"
        assert kinds.count("pool") == 2, f"expected two max-pooling layers, found {kinds.count('pool')}"
        assert kinds == ["conv", "pool", "conv", "pool"], (
            f"each convolution must be followed by a max-pooling, got the order {kinds}")
        for kind, kernel, _ in calls:
            if kind == "pool":
                assert kernel in (2, (2, 2), [2, 2]), f"max-pooling must be 2x2, found kernel size {kernel}"
        flat = 1
        for dim in calls[-1][2][1:]:
            flat *= dim
        assert flat == 256, (
            f"after the second max-pooling the {input_size}x{input_size} input leaves {flat} values per image "
            f"(shape {calls[-1][2][1:]}), not 256")


def check_epochs_for(epochs_for):
    for n, epochs in REFERENCE_EPOCHS.items():
        try:
            got = epochs_for(n)
        except NotImplementedError:
            raise AssertionError("epochs_for is not implemented yet") from None
        assert got == epochs, f"epochs_for({n}) should be {epochs} (same number of steps as 10000 x 6), got {got}"
    assert epochs_for(5000) == 12 and epochs_for(60000) == 1, "epochs_for must work for any budget that divides 60000"
    assert epochs_for(4000, reference_examples=2000, reference_epochs=4) == 2, "use the reference arguments"
    for bad in (7000, 25000):
        try:
            epochs_for(bad)
        except ValueError:
            continue
        raise AssertionError(f"epochs_for({bad}) must raise ValueError: no whole number of epochs keeps steps equal")


def check_augmentation(make_augmentation):
    try:
        transform = make_augmentation()
    except NotImplementedError:
        raise AssertionError("make_augmentation is not implemented yet") from None
    images = lab_data("cpu").test_x[100:104]
    for image in images:
        outputs = torch.stack([transform(image) for _ in range(24)])
        assert outputs.shape[1:] == (1, 24, 24), f"the augmentation must give 24x24 images, got {tuple(outputs.shape[1:])}"
        distinct = {tuple(o.flatten().tolist()) for o in outputs}
        assert len(distinct) >= 10, "the same image must come out differently on different calls (random per image)"
        crops = {tuple(image[:, t:t + 24, l:l + 24].flatten().tolist()) for t in range(5) for l in range(5)}
        rotated = sum(1 for o in distinct if o not in crops)
        assert rotated >= 12, "most augmented images should be rotated, not only cropped"
    batch = compile_augmentation(transform)(images.repeat(8, 1, 1, 1))
    assert batch.shape == (32, 1, 24, 24), "the augmentation must also work through the training lab"


def check_training(build_cnn, make_augmentation, condition: str, budgets):
    """Train (or take from this kernel's earlier identical runs) and require the accuracy floor."""
    try:
        results = run_budget_experiment(build_cnn, REFERENCE_EPOCHS.__getitem__, make_augmentation,
                                        budgets=budgets, seeds=GRADING_SEEDS, conditions=(condition,),
                                        config=TrainConfig(progress=False))
    except NotImplementedError as exc:
        raise AssertionError(f"cannot train the {condition} condition: something is not implemented ({exc})") from None
    for run in results["runs"]:
        assert run["test_accuracy"] >= ACCURACY_FLOOR, (
            f"{condition} training on {run['n_examples']} examples x {run['epochs']} epochs reached "
            f"{100 * run['test_accuracy']:.2f}% test accuracy; at least {100 * ACCURACY_FLOOR:.1f}% is expected")
    return results
