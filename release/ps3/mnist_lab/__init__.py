"""Training lab for problem set 3: verified MNIST, a fast seeded training loop, and the budget experiment.

Shipped next to the notebooks; the reference solutions and the autograder import the same code. Each name below is
imported on first use (``from mnist_lab import train_model`` works as usual): a notebook that needs only
``mnist_lab.notation`` or ``mnist_lab.handin`` does not wait for torch.
"""

from importlib import import_module

_NAMES = {
    "RandomRotateCrop": "augment", "center_crop": "augment", "compile_augmentation": "augment",
    "MNISTCorruptError": "data", "MNISTError": "data", "MNISTMissingError": "data", "load_mnist": "data",
    "REFERENCE_EPOCHS": "experiment", "plot_budget_experiment": "experiment", "run_budget_experiment": "experiment",
    "architecture_problem": "handin",
    "RunResult": "train", "TrainConfig": "train", "evaluate": "train", "lab_data": "train",
    "resolve_device": "train", "train_model": "train",
}
__all__ = sorted(_NAMES)


def __getattr__(name: str):
    if name in _NAMES:
        return getattr(import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_NAMES])
