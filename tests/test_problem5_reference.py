"""The reference answers of problem 5: the architecture, the epochs per budget, the augmentation."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from mnist_lab import RandomRotateCrop, compile_augmentation
from solutions.problem5 import build_cnn, epochs_for, make_augmentation


def flattened_size(model: nn.Module, input_size: int) -> int:
    """Number of values entering the first Linear layer (what the problem calls 'after the second pooling')."""
    seen = []
    first_linear = next(m for m in model.modules() if isinstance(m, nn.Linear))
    handle = first_linear.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape))
    model(torch.zeros(2, 1, input_size, input_size))
    handle.remove()
    return seen[0][1]


@pytest.mark.parametrize("input_size", [28, 24])
def test_two_conv_layers_each_pooled_2x2_and_exactly_256_values(input_size):
    model = build_cnn(input_size)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert len(convs) == 2 and len(pools) == 2
    assert all(p.kernel_size == 2 for p in pools)
    assert flattened_size(model, input_size) == 256
    assert model(torch.zeros(5, 1, input_size, input_size)).shape == (5, 10)


def test_other_input_sizes_are_refused():
    with pytest.raises(ValueError, match="input_size"):
        build_cnn(32)


@pytest.mark.parametrize("n, epochs", [(10000, 6), (20000, 3), (30000, 2), (60000, 1), (5000, 12)])
def test_epochs_keep_the_number_of_sample_steps_equal(n, epochs):
    assert epochs_for(n) == epochs
    assert n * epochs_for(n) == 10000 * 6
    assert epochs_for(np.int64(n)) == epochs  # numpy integers are integers too


def test_epochs_for_other_reference_budget():
    assert epochs_for(4000, reference_examples=2000, reference_epochs=4) == 2


@pytest.mark.parametrize("bad", [7000, 25000, 0, -10000, 2.5, "10000", True])
def test_budgets_that_do_not_divide_or_are_not_counts_are_rejected(bad):
    with pytest.raises(ValueError):
        epochs_for(bad)


def test_augmentation_is_torchvision_rotation_and_24_crop_on_the_fast_path():
    transform = make_augmentation()
    fast = compile_augmentation(transform)
    assert isinstance(fast, RandomRotateCrop) and fast.size == 24 and fast.degrees[1] > 0
    assert transform(torch.rand(1, 28, 28)).shape == (1, 24, 24)  # still an ordinary torchvision transform
