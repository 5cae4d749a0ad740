"""python -m mnist_lab: fetch MNIST if needed, verify it, and say where it is."""

from .data import default_root, load_mnist

data = load_mnist()
print(f"MNIST verified in {default_root()}: {len(data.train_labels)} train, {len(data.test_labels)} test images")
