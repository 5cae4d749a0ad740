"""Fair grades for correct answers: the lab trains any network that runs on a contiguous float batch, each mistake
costs its own cell, and no valid network depends on seed luck (the accuracy floor, README "Accuracy floor")."""

import json

import pytest
import torch
import torch.nn as nn

from mnist_lab import TrainConfig, handin, train_model
from mnist_lab.train import bf16_native, choose_speedups
from solutions.problem5 import build_cnn, epochs_for, make_augmentation
from valid_networks import HARDEST, MEMBERS

# Each hard member's lowest run in the floor measurement (benchmarks/results/family-cpu.json, 450 runs, lowest
# 95.60%): (condition, budget), trained on seeds 0-4 by the slow test below.
LOWEST_RUN = {"c4_8x8": ("augmented", 10000), "dropout2d_8x8": ("augmented", 20000), "sigmoid": ("augmented", 20000),
              "tiny2_tanh": ("augmented", 30000)}


def four_hundred(input_size=28):  # a correct network, except for 400 values after the second pooling
    return nn.Sequential(nn.Conv2d(1, 16, 5, padding=(28 - input_size) // 2), nn.MaxPool2d(2), nn.ReLU(),
                         nn.Conv2d(16, 16, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(400, 10))


def no_padding(input_size=28):  # right for 28x28, but 24x24 crops leave 144 values for Linear(256, 10)
    return nn.Sequential(nn.Conv2d(1, 16, 5), nn.MaxPool2d(2), nn.ReLU(), nn.Conv2d(16, 16, 5), nn.MaxPool2d(2),
                         nn.ReLU(), nn.Flatten(), nn.Linear(256, 10))


class Blind(nn.Module):  # right architecture, ignores its input
    def __init__(self, input_size=28):
        super().__init__()
        self.inner = build_cnn(input_size)

    def forward(self, x):
        return self.inner(x * 0)


def test_the_lab_keeps_a_speed_up_only_where_it_leaves_the_logits_unchanged():
    sample = torch.randn(64, 1, 28, 28)
    device = torch.device("cpu")
    reference = choose_speedups(build_cnn(28), sample, device)
    assert reference.channels_last  # nn.Flatten reshapes: channels-last is safe, and fast
    assert reference.autocast == bf16_native(device)
    view_net = MEMBERS["tiny1"](28)  # x.view(x.size(0), -1) fails on a channels-last activation
    speedups = choose_speedups(view_net, sample, device)
    assert not speedups.channels_last
    assert all(p.is_contiguous() for p in view_net.parameters())  # left as written


@pytest.mark.slow
def test_the_lab_trains_a_view_network_on_cpu_the_same_way_twice():
    config = TrainConfig(device="cpu", progress=False)
    results = []
    for _ in range(2):
        torch.manual_seed(3)
        model = MEMBERS["tiny1"](28)
        results.append(train_model(model, 2560, 2, config=config, seed=3).test_accuracy)
    assert results[0] == results[1] > 0.5


def test_a_float_from_epochs_for_is_named(collect_and_judge):
    verdict = collect_and_judge("p5b_tests", lambda h: h.epochs("p5b_tests", lambda n, reference_examples=10000,
                                                                reference_epochs=6: reference_examples * reference_epochs / n),
                                lambda h: h.record("p5b_tests", "training-plain", {"runs": []}))
    assert not verdict.passed
    assert "epochs_for(10000) returned a float, not an int" in verdict.message


def judged_parts(collect_and_judge, builder, augmentation=make_augmentation):
    """All three automatic cells of problem 5 for ``builder``, as the hidden tests record and the grader judges."""
    part_a = collect_and_judge("p5a_tests", lambda h: h.network("p5a_tests", builder),
                               lambda h: h.training("p5a_tests", builder, None, "plain", (10000,)))
    part_b = collect_and_judge("p5b_tests", lambda h: h.epochs("p5b_tests", epochs_for),
                               lambda h: h.training("p5b_tests", builder, None, "plain", (20000, 30000)))
    part_c = collect_and_judge("p5c_tests", lambda h: h.augmentation("p5c_tests", augmentation),
                               lambda h: h.training("p5c_tests", builder, augmentation, "augmented",
                                                    (10000, 20000, 30000)))
    return part_a, part_b, part_c


@pytest.mark.slow
@pytest.mark.parametrize("builder, message", [
    (four_hundred, "leaves 400 values"),
    (no_padding, "fails on a batch of 24x24 images"),
    (Blind, "test accuracy; at least"),
])
def test_a_network_problem_costs_part_a_only(collect_and_judge, builder, message):
    part_a, part_b, part_c = judged_parts(collect_and_judge, builder)
    assert not part_a.passed and message in part_a.message, part_a.message
    assert part_b.passed, part_b.message
    assert part_c.passed, part_c.message


@pytest.mark.slow
def test_a_valid_network_of_other_layers_is_rebuilt_and_graded(collect_and_judge):
    # PReLU, batch norm, Dropout, reshape (bn_dropout_8x8); Dropout2d and dropout (heavy_dropout)
    for name in ("bn_dropout_8x8", "heavy_dropout"):
        part_a = collect_and_judge("p5a_tests", lambda h: h.network("p5a_tests", MEMBERS[name]),
                                   lambda h: h.training("p5a_tests", MEMBERS[name], None, "plain", (10000,)))
        assert part_a.passed, (name, part_a.message)


@pytest.mark.slow
@pytest.mark.acceptance
@pytest.mark.parametrize("name", HARDEST)
def test_the_hardest_valid_networks_pass_on_seeds_0_to_4(name):
    """The lowest run of each of the family's hardest members, on every seed of the measurement, trained by the lab
    and judged by the grader's own rebuild and evaluation. A calibration of the accuracy floor (twenty trainings,
    about five minutes on the 2-core machine): the acceptance tier, beside the whole cohort."""
    from autograder.judge.checks.problem5 import check_training

    condition, budget = LOWEST_RUN[name]
    size = 24 if condition == "augmented" else 28
    for seed in range(5):
        torch.manual_seed(seed)
        model = MEMBERS[name](size)
        result = train_model(model, budget, epochs_for(budget), make_augmentation() if size == 24 else None,
                             TrainConfig(progress=False), seed=seed)
        record = {"runs": [{"n_examples": budget, "epochs": epochs_for(budget), "input_size": size,
                            "graph": handin.record_network(model.cpu().float(), size)}]}
        check_training(json.loads(json.dumps(record)), condition, (budget,))
        assert result.test_accuracy >= handin.ACCURACY_FLOOR + 0.01, (name, seed, result.test_accuracy)
