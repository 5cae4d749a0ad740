"""The lab's package imports each part on first use: a notebook that needs only the notation and the hand-in
(problem 6) never waits for torch, while ``from mnist_lab import ...`` works for every public name."""

import subprocess
import sys

import pytest

import mnist_lab

ONLY_NOTATION_AND_HANDIN = """
import sys
import numpy as np
from mnist_lab.notation import K, sigma
from mnist_lab import handin
handin.encode_array(np.ones(3))
print("torch" in sys.modules)
"""


def test_problem_6s_imports_do_not_load_torch():
    done = subprocess.run([sys.executable, "-c", ONLY_NOTATION_AND_HANDIN], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


@pytest.mark.parametrize("name", mnist_lab.__all__)
def test_every_public_name_is_there_on_first_use(name):
    assert getattr(mnist_lab, name) is not None
    assert name in dir(mnist_lab)


def test_a_name_the_lab_does_not_have_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute .train_modle."):
        mnist_lab.train_modle  # noqa: B018 - a typo of train_model
    with pytest.raises(ImportError):
        exec("from mnist_lab import nothing_like_this")


def test_a_tensor_is_encoded_once_torch_is_there():
    import torch

    from mnist_lab.handin import decode_array, encode_array

    assert decode_array(encode_array(torch.arange(3.0))).tolist() == [0.0, 1.0, 2.0]
