"""Problem 5's checks, end to end through the hand-in (kernel side) and the clean verdict (grader side): a different
correct answer passes, broken ones fail with a useful message."""

import os
import time
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision import transforms
from torchvision.transforms import v2

from mnist_lab import TrainConfig, handin, run_budget_experiment
from solutions.problem5 import build_cnn, epochs_for, make_augmentation


class OtherCorrectCNN(nn.Module):
    """16 filters in both layers, ReLU before pooling, functional pooling, a Linear head named differently."""

    def __init__(self, input_size=28):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5, padding=(28 - input_size) // 2)
        self.head = nn.Linear(256, 10)
        self.conv2 = nn.Conv2d(16, 16, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), kernel_size=(2, 2))
        return self.head(torch.flatten(x, 1))


class IgnoresItsInput(OtherCorrectCNN):
    def forward(self, x):
        return super().forward(torch.zeros_like(x))


def architecture(judge, builder):
    return judge("p5a_tests", lambda h: h.network("p5a_tests", builder),
                 lambda h: h.record("p5a_tests", "training-plain", {"runs": []}))


def test_reference_passes_every_structural_check(collect_and_judge):
    verdict = architecture(collect_and_judge, build_cnn)
    assert verdict.message.startswith("no plain network trained")  # the architecture passed; training is next
    verdict = collect_and_judge("p5b_tests", lambda h: h.epochs("p5b_tests", epochs_for),
                                lambda h: h.record("p5b_tests", "training-plain", {"runs": []}))
    assert verdict.message.startswith("no plain network trained")
    verdict = collect_and_judge("p5c_tests", lambda h: h.augmentation("p5c_tests", make_augmentation),
                                lambda h: h.record("p5c_tests", "training-augmented", {"runs": []}))
    assert verdict.message.startswith("no augmented network trained")


def test_other_correct_architecture_passes(collect_and_judge):
    assert architecture(collect_and_judge, OtherCorrectCNN).message.startswith("no plain network trained")


@pytest.mark.parametrize("builder, message", [
    (lambda n=28: nn.Sequential(nn.Conv2d(1, 16, 5, padding=(28 - n) // 2), nn.MaxPool2d(2), nn.ReLU(),
                                nn.Conv2d(16, 16, 3), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 10)), "not 256"),
    (lambda n=28: nn.Sequential(nn.Conv2d(1, 16, 5, padding=(28 - n) // 2), nn.MaxPool2d(2), nn.ReLU(),
                                nn.Conv2d(16, 16, 5), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(256, 10)),
     "two max-pooling"),
    (lambda n=28: nn.Sequential(nn.Conv2d(1, 4, 5, padding=(28 - n) // 2), nn.ReLU(), nn.Conv2d(4, 16, 5), nn.MaxPool2d(4),
                                nn.Flatten(), nn.Linear(400, 10)), "two max-pooling"),
    (lambda n=28: nn.Sequential(nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.Conv2d(16, 16, 5), nn.MaxPool2d(2),
                                nn.Flatten(), nn.Linear(256, 10)), "batch of 24x24 images"),
])
def test_wrong_architectures_are_rejected(collect_and_judge, builder, message):
    verdict = architecture(collect_and_judge, builder)
    assert not verdict.passed and message in verdict.message, verdict.message


@pytest.mark.parametrize("wrong, message", [
    (lambda n, reference_examples=10000, reference_epochs=6: 6, "should be 3"),
    (lambda n, reference_examples=10000, reference_epochs=6: round(reference_examples * reference_epochs / n),
     "must raise ValueError"),
])
def test_wrong_epochs_are_rejected(collect_and_judge, wrong, message):
    verdict = collect_and_judge("p5b_tests", lambda h: h.epochs("p5b_tests", wrong),
                                lambda h: h.record("p5b_tests", "training-plain", {"runs": []}))
    assert not verdict.passed and message in verdict.message, verdict.message


@pytest.mark.parametrize("transform, message", [
    (lambda: transforms.RandomCrop(24), "rotated"),
    (lambda: transforms.CenterCrop(24), "differently"),
    (lambda: transforms.RandomRotation(15), "24x24"),
    (lambda: transforms.Compose([transforms.RandomRotation(15), transforms.CenterCrop(24)]), "crop position"),
    (lambda: transforms.Compose([transforms.RandomRotation(15), transforms.Resize(24)]), "crop of a rotation"),
])
def test_wrong_augmentations_are_rejected(collect_and_judge, transform, message):
    verdict = collect_and_judge("p5c_tests", lambda h: h.augmentation("p5c_tests", transform),
                                lambda h: h.record("p5c_tests", "training-augmented", {"runs": []}))
    assert not verdict.passed and message in verdict.message, verdict.message


@pytest.mark.parametrize("transform", [
    lambda: transforms.Compose([transforms.RandomApply([transforms.RandomRotation(15)], p=0.5),
                                transforms.RandomCrop(24)]),
    lambda: transforms.Compose([transforms.RandomRotation(30), transforms.RandomCrop(24)]),
    lambda: transforms.Compose([transforms.RandomCrop(24), transforms.RandomRotation(15)]),
    lambda: v2.Compose([v2.RandomApply([v2.RandomRotation(45)], p=0.5), v2.RandomCrop(24)]),
], ids=["rotate-some", "30-degrees", "crop-then-rotate", "v2"])
def test_other_faithful_augmentations_pass(collect_and_judge, transform):
    verdict = collect_and_judge("p5c_tests", lambda h: h.augmentation("p5c_tests", transform),
                                lambda h: h.record("p5c_tests", "training-augmented", {"runs": []}))
    assert verdict.message.startswith("no augmented network trained"), verdict.message  # the augmentation passed


@pytest.mark.slow
def test_other_correct_network_trains_above_the_floor_and_a_broken_one_does_not(collect_and_judge):
    from autograder.judge.checks import problem5 as check
    from autograder.judge.decode import read_record

    def trained(builder, augmentation, condition):
        collect_and_judge("p5a_tests", lambda h: h.training("p5a_tests", builder, augmentation, condition, (10000,)))
        return read_record(Path(os.environ["PS3_HANDIN_DIR"]) / f"p5a_tests--training-{condition}.json")

    check.check_training(trained(OtherCorrectCNN, None, "plain"), "plain", (10000,))
    check.check_training(trained(OtherCorrectCNN, make_augmentation, "augmented"), "augmented", (10000,))
    floor = f"{100 * handin.ACCURACY_FLOOR:.1f}%"
    with pytest.raises(AssertionError, match=rf"reached \d+\.\d+% test accuracy; at least {floor}"):
        check.check_training(trained(IgnoresItsInput, None, "plain"), "plain", (10000,))


@pytest.mark.slow
def test_identical_runs_are_trained_once_per_process():
    config = TrainConfig(progress=False)
    kwargs = dict(budgets=(2560,), seeds=(5,), conditions=("plain",), config=config)
    first = run_budget_experiment(build_cnn, lambda n: 2, **kwargs)
    start = time.perf_counter()
    again = run_budget_experiment(build_cnn, lambda n: 2, **{**kwargs, "config": TrainConfig(progress=True)})
    assert time.perf_counter() - start < 0.5  # from memory: the progress bar does not change a run
    assert again["runs"] == first["runs"]
    other_seed = run_budget_experiment(build_cnn, lambda n: 2, **{**kwargs, "seeds": (6,)})
    assert other_seed["runs"][0]["test_accuracy"] != first["runs"][0]["test_accuracy"]
    fresh = run_budget_experiment(build_cnn, lambda n: 2, use_cache=False, **kwargs)
    assert fresh["runs"][0]["test_accuracy"] == first["runs"][0]["test_accuracy"]  # seeded: same numbers
