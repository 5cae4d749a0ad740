"""Training lab for problem set 3: verified MNIST, a fast seeded training loop, and the budget experiment.

Shipped next to the notebooks; the reference solutions and the autograder import the same code.
"""

from .augment import RandomRotateCrop, center_crop, compile_augmentation
from .data import MNISTCorruptError, MNISTError, MNISTMissingError, load_mnist
from .experiment import REFERENCE_EPOCHS, plot_budget_experiment, run_budget_experiment
from .handin import architecture_problem
from .train import RunResult, TrainConfig, evaluate, lab_data, resolve_device, train_model

__all__ = [
    "MNISTCorruptError", "MNISTError", "MNISTMissingError", "REFERENCE_EPOCHS", "RandomRotateCrop", "RunResult",
    "TrainConfig", "architecture_problem", "center_crop", "compile_augmentation", "evaluate", "lab_data", "load_mnist",
    "plot_budget_experiment", "resolve_device", "run_budget_experiment", "train_model",
]
