"""The acceptance cohort: realistic students of a first deep-learning course, each with the points a fair grader
must give them, decided from the notebooks' text and the grading rules before any grading.

Each student starts from the release notebooks (read when the cohort is built, so it follows the current
release) and replaces the stubs of the answer cells with their own code and text. Answers are picked from the
libraries below; every answer that should cost points says which cell loses them, why (one line) and, where
the message must name the mistake, a fragment of that message. The rules the expectations follow:

- 5a: build_cnn(28) and build_cnn(24) map (B, 1, n, n) to (B, 10); exactly two convolutions, each followed by
  a 2x2 max-pooling (activations, dropout, batch norm, padding, a residual add: all fine); exactly 256 values
  after the second pooling for both sizes; the plain 10000 x 6 run reaches the accuracy floor.
- 5b: epochs_for gives the exact int (Python or numpy integer, not a float) and raises ValueError when no whole
  number of epochs keeps the steps equal; its training runs count only when the network trains in (a).
- 5c: 24x24 crops of rotations (any range, crop before or after, RandomApply, nearest or bilinear), random per
  call; its training runs count only when the network works at 24x24 and trains in (a).
- 6 and 7: any expression equal in value to the reference (sigma' may be a derivative of sigma).
- A network problem costs 5a only, an epochs_for problem 5b only, an augmentation problem 5c only.
- Written answers are never automatic: answered ones are pending for a person, unanswered ones score 0.

``python tests/cohort.py --table`` prints the table of cases; ``--zip PATH`` writes the Moodle zip.
"""

from __future__ import annotations

import argparse
import io
import re
import textwrap
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from autograder.cells import CELLS, JUDGED
from autograder.course import NOTEBOOKS, release_dir, source_dir

RELEASE = release_dir()
SOURCE = source_dir()
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
WRITTEN_STUB = "YOUR ANSWER HERE"

# The answer cell each automatically graded test cell judges (the rules charge every mistake to one cell).
TESTED = {cell.grade_id: cell.answer for cell in JUDGED}  # test cell -> the answer cell it tests
SHORT = {cell.grade_id: cell.label for cell in CELLS}


@dataclass(frozen=True)
class Answer:
    """What a student wrote in one answer cell (grade id ``cell``) and what it costs.

    ``code``: the stub's replacement (dedented; a cell that defines its own function or class replaces the whole
    cell), a tuple of replacements for a cell with several stubs (None keeps that stub), or None to leave the cell
    as handed out. ``lost``: why the test cell judging it loses its points ("" = full marks). ``says``: a
    fragment the grader's message must contain when it does. ``before``: a code cell the student added above.
    """

    cell: str
    code: str | tuple | None
    lost: str = ""
    says: str = ""
    before: str = ""


def ok(cell, code, before=""):
    return Answer(cell, textwrap.dedent(code).strip("\n") if isinstance(code, str) else code, before=before)


def wrong(cell, code, lost, says=""):
    return Answer(cell, textwrap.dedent(code).strip("\n") if isinstance(code, str) else code, lost, says)


def text(cell, answer):
    """A written answer (markdown); None leaves "YOUR ANSWER HERE"."""
    return Answer(cell, textwrap.dedent(answer).strip() if answer else None)


# ----------------------------------------------------------------------------------------------------------------
# Problem 5 (a): networks. All small (a few seconds per training run), 256 values after the second pooling.

NET_CLASS_VIEW = ok("build_cnn", '''
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self, input_size=28):
            super().__init__()
            # 24x24 crops get padding 2, so both sizes end at 4x4 after the second pooling
            self.conv1 = nn.Conv2d(1, 16, kernel_size=5, padding=2 if input_size == 24 else 0)
            self.conv2 = nn.Conv2d(16, 16, kernel_size=5)
            self.pool = nn.MaxPool2d(2, 2)
            self.fc = nn.Linear(16 * 4 * 4, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(x.size(0), -1)  # 16*4*4 = 256
            return self.fc(x)


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return Net(input_size)
''')

NET_SEQ_ORDERED = ok("build_cnn", '''
    from collections import OrderedDict

    pad = 0 if input_size == 28 else 2
    model = nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(1, 8, 5, padding=pad)),
        ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(8, 16, 5)),
        ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)),
        ("flatten", nn.Flatten()),
        ("fc", nn.Linear(256, 10)),
    ]))
    return model
''')

# pytorch/examples' MNIST net, shrunk: a pooling after each conv, 256 features, Dropout2d and Dropout kept.
NET_EXAMPLES = ok("build_cnn", '''
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self, input_size=28):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, 1, padding=(28 - input_size) // 2)
            self.conv2 = nn.Conv2d(16, 16, 5, 1)
            self.dropout1 = nn.Dropout2d(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(256, 128)
            self.fc2 = nn.Linear(128, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.conv2(x)
            x = F.relu(x)
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return Net(input_size)
''')

# The older pytorch/examples net (conv2_drop, F.dropout, x.view(-1, ...)), with F imported in a cell of its own.
NET_CLASSIC = ok("build_cnn", '''
    class Net(nn.Module):
        def __init__(self, input_size):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 10, kernel_size=5, padding=(28 - input_size) // 2)
            self.conv2 = nn.Conv2d(10, 16, kernel_size=5)
            self.conv2_drop = nn.Dropout2d()
            self.fc1 = nn.Linear(256, 50)
            self.fc2 = nn.Linear(50, 10)

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, 256)
            x = F.relu(self.fc1(x))
            x = F.dropout(x, training=self.training)
            x = self.fc2(x)
            return F.log_softmax(x, dim=1)


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return Net(input_size)
''', before="import torch.nn.functional as F\nimport matplotlib.pyplot as plt")

NET_PRELU_BN = ok("build_cnn", '''
    p = (28 - input_size) // 2
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=p),
        nn.BatchNorm2d(16),
        nn.PReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 16, 5),
        nn.BatchNorm2d(16),
        nn.PReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 10),
    )
''')

NET_LEAKY = ok("build_cnn", '''
    class MyCNN(nn.Module):
        def __init__(self, input_size):
            super().__init__()
            pad = 2 if input_size == 24 else 0
            self.features = nn.Sequential(
                nn.Conv2d(1, 12, kernel_size=5, padding=pad), nn.LeakyReLU(0.1), nn.MaxPool2d(kernel_size=2),
                nn.Conv2d(12, 16, kernel_size=5), nn.LeakyReLU(0.1), nn.MaxPool2d(kernel_size=2),
            )
            self.classifier = nn.Linear(256, 10)

        def forward(self, x):
            x = self.features(x)
            x = torch.flatten(x, 1)
            return self.classifier(x)


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return MyCNN(input_size)
''')

NET_TANH = ok("build_cnn", '''
    # tanh like in LeNet-5
    if input_size == 28:
        first = nn.Conv2d(1, 8, 5)
    else:
        first = nn.Conv2d(1, 8, 5, padding=2)
    return nn.Sequential(first, nn.Tanh(), nn.MaxPool2d(2, 2), nn.Conv2d(8, 16, 5), nn.Tanh(), nn.MaxPool2d(2, 2),
                         nn.Flatten(), nn.Linear(16 * 4 * 4, 10))
''')

NET_GELU_ZEROPAD = ok("build_cnn", '''
    import torch.nn.functional as F


    class GeluNet(nn.Module):
        """GELU and ELU, a ZeroPad2d layer for crops, functional pooling, flatten(1)."""

        def __init__(self, input_size=28):
            super().__init__()
            self.pad = nn.ZeroPad2d((28 - input_size) // 2)  # 24x24 crops back to 28x28
            self.conv1 = nn.Conv2d(1, 12, 5)
            self.conv2 = nn.Conv2d(12, 16, 5)
            self.act1, self.act2 = nn.GELU(), nn.ELU()
            self.drop = nn.Dropout(0.1)
            self.head = nn.Linear(256, 10)

        def forward(self, x):
            x = F.max_pool2d(self.act1(self.conv1(self.pad(x))), 2)
            x = F.max_pool2d(self.act2(self.conv2(x)), kernel_size=2, stride=2)
            return self.head(self.drop(x.flatten(1)))


    def build_cnn(input_size=28):
        return GeluNet(input_size)
''')

NET_RESIDUAL = ok("build_cnn", '''
    import torch.nn.functional as F


    class ResCNN(nn.Module):
        """Two convolutions; the second one gets a skip connection (ResNet style), cropped to its output size."""

        def __init__(self, input_size=28):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 5, padding=(28 - input_size) // 2)
            self.conv2 = nn.Conv2d(16, 16, 5)
            self.fc = nn.Linear(256, 10)

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))       # 16 x 12 x 12
            x = F.relu(self.conv2(x)) + x[:, :, 2:-2, 2:-2]  # residual add, 16 x 8 x 8
            x = F.max_pool2d(x, 2)                            # 16 x 4 x 4
            return self.fc(x.flatten(1))


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return ResCNN(input_size)
''')

NET_FPAD = ok("build_cnn", '''
    import torch.nn.functional as F


    class PaddedNet(nn.Module):
        def __init__(self, input_size=28):
            super().__init__()
            self.pad = (28 - input_size) // 2  # 24x24 crops are padded back to 28x28
            self.conv1 = nn.Conv2d(1, 8, 5)
            self.conv2 = nn.Conv2d(8, 16, 5)
            self.out = nn.Linear(256, 10)

        def forward(self, x):
            if self.pad:
                x = F.pad(x, (self.pad, self.pad, self.pad, self.pad))
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.out(x.reshape(x.shape[0], -1))


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return PaddedNet(input_size)
''')

NET_LOGSOFTMAX = ok("build_cnn", '''
    padding = 2 if input_size == 24 else 0
    return nn.Sequential(
        nn.Conv2d(1, 10, kernel_size=5, padding=padding),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(10, 16, kernel_size=5),
        nn.Dropout2d(0.1),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(256, 10),
        nn.LogSoftmax(dim=1),
    )
''')

NET_RESHAPE = ok("build_cnn", '''
    import torch.nn.functional as F


    class ConvNet(nn.Module):
        def __init__(self, input_size=28):
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 5, padding=(input_size == 24) * 2)
            self.c2 = nn.Conv2d(8, 16, 5)
            self.l1 = nn.Linear(256, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.c1(x)), kernel_size=2)
            x = F.max_pool2d(F.relu(self.c2(x)), kernel_size=2)
            x = x.reshape(-1, 256)
            return self.l1(x)


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return ConvNet(input_size)
''')

# No padding: the second kernel shrinks with the input instead (28: 24-12-8-4, 24: 20-10-8-4).
NET_KERNEL_BY_SIZE = ok("build_cnn", '''
    k2 = 5 if input_size == 28 else 3
    layers = [nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(16, 16, k2), nn.ReLU(), nn.MaxPool2d(2),
              nn.Flatten(), nn.Linear(256, 10)]
    return nn.Sequential(*layers)
''')

NET_LAZY = ok("build_cnn", '''
    # "Dive into Deep Learning" style: lazy layers find their input sizes on the first batch
    return nn.Sequential(
        nn.LazyConv2d(8, kernel_size=5, padding=2 if input_size == 24 else 0), nn.ReLU(), nn.MaxPool2d(2),
        nn.LazyConv2d(16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.LazyLinear(10),
    )
''')

NET_400 = wrong("build_cnn", '''
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self, input_size=28):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 5, padding=2)  # "same" padding keeps the size
            self.conv2 = nn.Conv2d(16, 16, 5)
            n = (input_size // 2 - 4) // 2  # side after the second pooling
            self.fc = nn.Linear(16 * n * n, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            return self.fc(x.view(x.size(0), -1))


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return Net(input_size)
''', "28x28 inputs leave 16 x 5 x 5 = 400 values after the second pooling, not 256", "400")

NET_NO_PAD = wrong("build_cnn", '''
    return nn.Sequential(
        nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 10))
''', "no padding for 24x24: 16 x 3 x 3 = 144 values reach Linear(256, 10), build_cnn(24) fails", "24")

NET_AVGPOOL = wrong("build_cnn", '''
    pad = (28 - input_size) // 2
    return nn.Sequential(
        nn.Conv2d(1, 8, 5, padding=pad), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(256, 10))
''', "average pooling instead of max-pooling", "max-pool")

NET_THREE_CONV = wrong("build_cnn", '''
    # deeper is better: two small convolutions before the first pooling
    pad = (28 - input_size) // 2
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=pad), nn.ReLU(),
        nn.Conv2d(8, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(256, 10))
''', "three convolutional layers instead of two", "convolution")

NET_FLATTEN_ALL = wrong("build_cnn", '''
    class CNN(nn.Module):
        def __init__(self, input_size):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 5, padding=(28 - input_size) // 2)
            self.conv2 = nn.Conv2d(8, 16, 5)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(256, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.conv1(x)))
            x = self.pool(torch.relu(self.conv2(x)))
            x = x.flatten()  # 256 values
            return self.fc(x)


    def build_cnn(input_size=28):
        """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
        return CNN(input_size)
''', "x.flatten() also flattens the batch: the network fails on a batch")

NET_STUB = wrong("build_cnn", None, "build_cnn left as NotImplementedError", "not implemented")

# ----------------------------------------------------------------------------------------------------------------
# Problem 5 (b): epochs_for. The grader calls it on 10000, 20000, 30000, 5000, 60000, 4000 (reference 2000 x 4),
# 7000 and 25000 (the last two must raise ValueError).

EP_MODULO = ok("epochs_for", '''
    total = reference_examples * reference_epochs
    if total % n_examples != 0:
        raise ValueError(f"{n_examples} examples cannot get the same number of steps")
    return total // n_examples
''')

EP_DIVMOD = ok("epochs_for", '''
    epochs, rest = divmod(reference_examples * reference_epochs, n_examples)
    if rest:
        raise ValueError("no whole number of epochs")
    return epochs
''')

EP_IS_INTEGER = ok("epochs_for", '''
    epochs = reference_examples * reference_epochs / n_examples
    if not epochs.is_integer():
        raise ValueError(f"epochs would be {epochs}, not a whole number")
    return int(epochs)
''')

EP_NUMPY = ok("epochs_for", '''
    import numpy as np

    steps = np.int64(reference_examples) * reference_epochs  # sample-steps of the reference run
    if steps % n_examples:
        raise ValueError("n_examples must divide reference_examples * reference_epochs")
    return steps // n_examples  # numpy integer
''')

EP_FRACTION = ok("epochs_for", '''
    from fractions import Fraction

    epochs = Fraction(reference_examples * reference_epochs, n_examples)
    if epochs.denominator != 1:
        raise ValueError(f"{n_examples} examples would need {float(epochs):.2f} epochs")
    return epochs.numerator
''')

EP_FLOAT = wrong("epochs_for", '''
    epochs = reference_examples * reference_epochs / n_examples
    if epochs != int(epochs):
        raise ValueError("not a whole number of epochs")
    return epochs
''', "returns a float (6.0), not an int", "float")

EP_NO_RAISE = wrong("epochs_for", '''
    return (reference_examples * reference_epochs) // n_examples
''', "never raises ValueError (7000 examples give 8 epochs)", "ValueError")

EP_ROUND = wrong("epochs_for", '''
    return round(reference_epochs * reference_examples / n_examples)
''', "rounds instead of raising ValueError for 7000 examples", "ValueError")

EP_DICT = wrong("epochs_for", '''
    epochs = {10000: 6, 20000: 3, 30000: 2}
    return epochs[n_examples]
''', "a table of the three budgets: KeyError for 5000 examples", "5000")

EP_ASSERT = wrong("epochs_for", '''
    total = reference_examples * reference_epochs
    assert total % n_examples == 0, "no whole number of epochs"
    return total // n_examples
''', "AssertionError instead of ValueError", "ValueError")

EP_60000 = wrong("epochs_for", '''
    if 60000 % n_examples:  # 10000 * 6
        raise ValueError("does not divide the 60000 reference samples")
    return 60000 // n_examples
''', "ignores reference_examples / reference_epochs (4000 with 2000 x 4 gives 15)", "4000")

EP_STUB = wrong("epochs_for", None, "epochs_for left as NotImplementedError")

# ----------------------------------------------------------------------------------------------------------------
# Problem 5 (c): augmentations.

AUG_V1 = ok("make_augmentation", '''
    return transforms.Compose([transforms.RandomRotation(15), transforms.RandomCrop(24)])
''')

AUG_V2_30 = ok("make_augmentation", '''
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomRotation(degrees=30), v2.RandomCrop(size=(24, 24))])
''')

AUG_RANGE = ok("make_augmentation", '''
    augmentation = transforms.Compose([
        transforms.RandomRotation(degrees=(-10, 10)),
        transforms.RandomCrop((24, 24)),
    ])
    return augmentation
''')

AUG_APPLY_HALF = ok("make_augmentation", '''
    # rotate only half of the images
    rotate = transforms.RandomApply([transforms.RandomRotation(20)], p=0.5)
    return transforms.Compose([rotate, transforms.RandomCrop(24)])
''')

AUG_CROP_FIRST = ok("make_augmentation", '''
    return transforms.Compose([transforms.RandomCrop(24), transforms.RandomRotation(15)])
''')

AUG_BILINEAR = ok("make_augmentation", '''
    from torchvision.transforms import InterpolationMode

    return transforms.Compose([
        transforms.RandomRotation(15, interpolation=InterpolationMode.BILINEAR),
        transforms.RandomCrop(24),
    ])
''')

AUG_V2_15 = ok("make_augmentation", '''
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomRotation(15), v2.RandomCrop(24)])
''')

AUG_SEQUENTIAL = ok("make_augmentation", '''
    # transforms are nn.Modules, so nn.Sequential works like Compose
    return nn.Sequential(transforms.RandomRotation(degrees=15), transforms.RandomCrop(24))
''')

# Per-image styles the lab cannot batch (applied image by image: slower, and as right).
AUG_PIL = ok("make_augmentation", '''
    # the classic torchvision pipeline works on PIL images: convert, augment, convert back
    return transforms.Compose([
        transforms.ToPILImage(),
        transforms.RandomRotation(15),
        transforms.RandomCrop(24),
        transforms.ToTensor(),
    ])
''')

AUG_V2_PIPELINE = ok("make_augmentation", '''
    from torchvision.transforms import v2

    return v2.Compose([
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.RandomRotation(20),
        v2.RandomCrop(24),
    ])
''')

AUG_AFFINE_CLASS = ok("make_augmentation", '''
    import math

    import torch.nn.functional as F

    class RotateAndCrop:
        """Rotate about the centre with affine_grid/grid_sample, then cut a random 24x24 window."""

        def __init__(self, degrees=15.0, size=24):
            self.degrees, self.size = degrees, size

        def __call__(self, image):
            angle = math.radians(float(torch.empty(1).uniform_(-self.degrees, self.degrees)))
            theta = torch.tensor([[math.cos(angle), -math.sin(angle), 0.0],
                                  [math.sin(angle), math.cos(angle), 0.0]])
            grid = F.affine_grid(theta[None], [1, *image.shape], align_corners=False)
            rotated = F.grid_sample(image[None], grid, mode="nearest", align_corners=False)[0]
            top, left = torch.randint(0, image.shape[-1] - self.size + 1, (2,)).tolist()
            return rotated[:, top:top + self.size, left:left + self.size]

    return RotateAndCrop()
''')

AUG_PADDED_CROP = wrong("make_augmentation", '''
    # pad first so that the crop can move the whole digit
    return transforms.Compose([transforms.RandomRotation(15), transforms.RandomCrop(24, padding=2)])
''', "RandomCrop(24, padding=2): a padded crop is not a crop of the image (rule 2)", "neither a 24x24 crop")

AUG_CROP_ONLY = wrong("make_augmentation", '''
    return transforms.RandomCrop(24)
''', "random crop only, no rotation", "rotat")

AUG_RESIZE = wrong("make_augmentation", '''
    return transforms.Compose([transforms.RandomRotation(15), transforms.Resize(24)])
''', "resizes to 24x24 instead of cropping", "crop")

AUG_CENTER = wrong("make_augmentation", '''
    return transforms.Compose([transforms.RandomRotation(15), transforms.CenterCrop(24)])
''', "CenterCrop: the crop position never varies", "crop")

AUG_TOTENSOR = wrong("make_augmentation", '''
    return transforms.Compose([
        transforms.ToTensor(),
        transforms.RandomRotation(15),
        transforms.RandomCrop(24),
    ])
''', "ToTensor() on a tensor raises TypeError", "TypeError")

AUG_STUB = wrong("make_augmentation", None, "make_augmentation left as NotImplementedError")

# ----------------------------------------------------------------------------------------------------------------
# Problem 6: sympy answers and the numpy backward pass.

DOUT_PLAIN = ok("delta_output", "return dC_da3[o] * sigma_prime(z3[o])")
DOUT_DIFF = ok("delta_output", "return dC_da3[o] * sp.diff(sigma(z3[o]), z3[o])")
DOUT_DERIVATIVE = ok("delta_output", "return sp.Derivative(sigma(z3[o]), z3[o]) * dC_da3[o]")
DOUT_OWN = ok("delta_output", '''
    dC = sp.IndexedBase("dC_da3")
    z = sp.IndexedBase("z3")
    s_prime = sp.Function("sigma_prime")
    return dC[o] * s_prime(z[o])
''')
DOUT_NO_SIGMA = wrong("delta_output", "return dC_da3[o]", "sigma'(z3[o]) missing in equation (1)", "sigma'")

DPOOL_PYSUM = ok("delta_pool", "return sum(W[o, j, k] * delta3[o] for o in range(N_OUT))")
DPOOL_SPSUM = ok("delta_pool", '''
    o = sp.Symbol("o", integer=True)
    return sp.Sum(W[o, j, k] * delta3[o], (o, 0, N_OUT - 1))
''')
DPOOL_WRITTEN = ok("delta_pool", "return W[0, j, k] * delta3[0] + W[1, j, k] * delta3[1] + W[2, j, k] * delta3[2]")
DPOOL_LOOP = ok("delta_pool", '''
    result = 0
    for o in range(N_OUT):
        result += delta3[o] * W[o, j, k]
    return result
''')
DPOOL_TRANSPOSED = wrong("delta_pool", "return sum(W[o, k, j] * delta3[o] for o in range(N_OUT))",
                         "wrong index: W[o, k, j] instead of W[o, j, k]", "swapped")
DPOOL_SIGMA = wrong("delta_pool", "return sum(W[o, j, k] * delta3[o] for o in range(N_OUT)) * sigma_prime(a2[j, k])",
                    "a sigma' factor after the pooling layer, which has no activation", "activation")

DCONV_PLAIN = ok("delta_conv", "return delta2[x // 2, y // 2] * M[x, y] * sigma_prime(z1[x, y])")
DCONV_INT = ok("delta_conv", '''
    j, k = int(x / 2), int(y / 2)  # the pooling block of (x, y)
    return M[x, y] * delta2[j, k] * sigma_prime(z1[x, y])
''')
DCONV_KRONECKER = ok("delta_conv", '''
    # the error of the block that contains (x, y), picked with Kronecker deltas
    routed = sum(sp.KroneckerDelta(j, x // 2) * sp.KroneckerDelta(k, y // 2) * delta2[j, k]
                 for j in range(N_POOL) for k in range(N_POOL))
    return routed * M[x, y] * sigma_prime(z1[x, y])
''')
DCONV_INDICATOR = ok("delta_conv", '''
    routed = sum(delta2[j, k] for j in range(N_POOL) for k in range(N_POOL) if (j, k) == (x // 2, y // 2))
    return routed * M[x, y] * sigma_prime(z1[x, y])
''')
DCONV_DIFF = ok("delta_conv", "return M[x, y] * delta2[x // 2, y // 2] * sp.diff(sigma(z1[x, y]), z1[x, y])")
DCONV_FLOOR = ok("delta_conv", "return delta2[sp.floor(x / 2), sp.floor(y / 2)] * M[x, y] * sigma_prime(z1[x, y])")
DCONV_NO_SIGMA = wrong("delta_conv", "return delta2[x // 2, y // 2] * M[x, y]",
                       "sigma'(z1[x, y]) missing", "sigma'")
DCONV_NO_MASK = wrong("delta_conv", "return delta2[x // 2, y // 2] * sigma_prime(z1[x, y])",
                      "no max-pooling mask: every input of the block gets the error", "mask")
DCONV_SPREAD = wrong("delta_conv", "return delta2[x // 2, y // 2] / 4 * sigma_prime(z1[x, y])",
                     "error spread evenly over the block (average pooling)", "spread")
DCONV_MODULO = wrong("delta_conv", "return delta2[x % 2, y % 2] * M[x, y] * sigma_prime(z1[x, y])",
                     "wrong index: delta2[x % 2, y % 2] is not the block of (x, y)")

GW_PYSUM = ok("grad_conv_weight",
              "return sum(delta1[x, y] * a0[x + l, y + m] for x in range(N_CONV) for y in range(N_CONV))")
GW_SPSUM = ok("grad_conv_weight", '''
    x, y = sp.symbols("x y", integer=True)
    return sp.Sum(delta1[x, y] * a0[x + l, y + m], (x, 0, N_CONV - 1), (y, 0, N_CONV - 1))
''')
GW_LOOPS = ok("grad_conv_weight", '''
    grad = sp.Integer(0)
    for x in range(N_CONV):
        for y in range(N_CONV):
            grad = grad + a0[x + l, y + m] * delta1[x, y]
    return grad
''')
GW_FLIPPED = wrong("grad_conv_weight", '''
    # backprop through a convolution uses the flipped kernel
    return sum(delta1[x, y] * a0[x + K - 1 - l, y + K - 1 - m] for x in range(N_CONV) for y in range(N_CONV))
''', "flipped kernel (true convolution) for a cross-correlation layer", "flipped")
GW_SWAPPED = wrong("grad_conv_weight",
                   "return sum(delta1[x, y] * a0[x + m, y + l] for x in range(N_CONV) for y in range(N_CONV))",
                   "wrong index: a0[x + m, y + l] swaps the filter's axes")

GB_PYSUM = ok("grad_conv_bias", "return sum(delta1[x, y] for x in range(N_CONV) for y in range(N_CONV))")
GB_SPSUM = ok("grad_conv_bias", '''
    x, y = sp.symbols("x y", integer=True)
    return sp.Sum(delta1[x, y], (x, 0, N_CONV - 1), (y, 0, N_CONV - 1))
''')
GB_ADD = ok("grad_conv_bias", "return sp.Add(*[delta1[i, j] for i in range(4) for j in range(4)])")
GB_SIGMA = wrong("grad_conv_bias", '''
    return sum(delta1[x, y] * sigma_prime(z1[x, y]) for x in range(N_CONV) for y in range(N_CONV))
''', "an extra sigma'(z1): delta1 already contains it", "already contains")
GB_POOL_RANGE = wrong("grad_conv_bias", "return sum(delta1[x, y] for x in range(N_POOL) for y in range(N_POOL))",
                      "sums over N_POOL x N_POOL positions instead of N_CONV x N_CONV")

_BACKWARD_VECTORISED = '''
    sig = lambda t: 1 / (1 + np.exp(-t))
    k = w.shape[0]
    m = a0.shape[0] - k + 1
    # forward: the cross-correlation as a sum of shifted copies of the input
    z1 = b + sum(w[l, q] * a0[l:l + m, q:q + m] for l in range(k) for q in range(k))
    a1 = sig(z1)
    blocks = a1.reshape(m // 2, 2, m // 2, 2)
    a2 = blocks.max(axis=(1, 3))
    mask = (blocks == a2[:, None, :, None]).reshape(m, m)
    z3 = np.tensordot(W, a2, axes=2) + b3
    a3 = sig(z3)
    # backward
    delta3 = (a3 - y) * a3 * (1 - a3)
    delta2 = np.tensordot(delta3, W, axes=1)
    delta1 = np.kron(delta2, np.ones((2, 2))) * mask * a1 * (1 - a1)
    grad_w = np.array([[np.sum(delta1 * a0[l:l + m, q:q + m]) for q in range(k)] for l in range(k)])
    return {"w": grad_w, "b": delta1.sum(), "W": np.multiply.outer(delta3, a2), "b3": delta3}
'''
BACKWARD_VECTORISED = ok("conv_net_backward", _BACKWARD_VECTORISED)
BACKWARD_LOOPS = ok("conv_net_backward", '''
    def sigmoid(t):
        return 1.0 / (1.0 + np.exp(-t))

    n, k = a0.shape[0], w.shape[0]
    m = n - k + 1  # feature map size
    p = m // 2  # after pooling
    n_out = W.shape[0]

    # forward pass
    z1 = np.zeros((m, m))
    for r in range(m):
        for s in range(m):
            z1[r, s] = np.sum(w * a0[r:r + k, s:s + k]) + b
    a1 = sigmoid(z1)
    a2 = np.zeros((p, p))
    mask = np.zeros((m, m))
    for i in range(p):
        for j in range(p):
            block = a1[2 * i:2 * i + 2, 2 * j:2 * j + 2]
            di, dj = np.unravel_index(np.argmax(block), block.shape)
            a2[i, j] = block[di, dj]
            mask[2 * i + di, 2 * j + dj] = 1.0
    z3 = np.zeros(n_out)
    for o in range(n_out):
        z3[o] = np.sum(W[o] * a2) + b3[o]
    a3 = sigmoid(z3)

    # backward pass
    d3 = (a3 - y) * a3 * (1 - a3)
    d2 = np.zeros((p, p))
    for o in range(n_out):
        d2 += d3[o] * W[o]
    d1 = np.zeros((m, m))
    for r in range(m):
        for s in range(m):
            d1[r, s] = d2[r // 2, s // 2] * mask[r, s] * a1[r, s] * (1 - a1[r, s])
    dw = np.zeros((k, k))
    for i in range(k):
        for j in range(k):
            dw[i, j] = np.sum(d1 * a0[i:i + m, j:j + m])
    dW = np.zeros_like(W)
    for o in range(n_out):
        dW[o] = d3[o] * a2
    return {"w": dw, "b": float(np.sum(d1)), "W": dW, "b3": d3}
''')
BACKWARD_SIGN = wrong("conv_net_backward", _BACKWARD_VECTORISED.replace("(a3 - y) * a3", "(y - a3) * a3"),
                      "dC/da3 written as y - a3: every gradient has the wrong sign", "autograd")
BACKWARD_NO_SIGMA1 = wrong("conv_net_backward", _BACKWARD_VECTORISED.replace(" * mask * a1 * (1 - a1)", " * mask"),
                           "sigma'(z1) of the convolutional layer missing", "autograd")
BACKWARD_STUB = wrong("conv_net_backward", None, "conv_net_backward left as NotImplementedError")

# ----------------------------------------------------------------------------------------------------------------
# Problem 7: the ReLU chain, its stability and two activations.

GRAD_HEAVISIDE = ok("relu_chain_gradient",
                    "return sp.Heaviside(z1) * w2 * sp.Heaviside(z2) * w3 * sp.Heaviside(z3) * w4 * sp.Heaviside(z4)"
                    " * dC_da4")
GRAD_PIECEWISE = ok("relu_chain_gradient", '''
    def relu_prime(z):
        return sp.Piecewise((1, z > 0), (0, True))

    return relu_prime(z1) * w2 * relu_prime(z2) * w3 * relu_prime(z3) * w4 * relu_prime(z4) * dC_da4
''')
GRAD_MAX_DIFF = ok("relu_chain_gradient", '''
    relu = lambda z: sp.Max(0, z)
    d = [sp.diff(relu(z), z) for z in (z1, z2, z3, z4)]
    return d[0] * w2 * d[1] * w3 * d[2] * w4 * d[3] * dC_da4
''')
GRAD_OWN_SYMBOLS = ok("relu_chain_gradient", '''
    z_1, z_2, z_3, z_4 = sp.symbols("z1 z2 z3 z4")
    w_2, w_3, w_4 = sp.symbols("w2 w3 w4")
    dC = sp.Symbol("dC_da4")
    H = sp.Heaviside
    return H(z_1) * H(z_2) * H(z_3) * H(z_4) * w_2 * w_3 * w_4 * dC
''')
GRAD_ALL_ACTIVE = ok("relu_chain_gradient", '''
    all_active = sp.And(z1 > 0, z2 > 0, z3 > 0, z4 > 0)
    return sp.Piecewise((w2 * w3 * w4 * dC_da4, all_active), (0, True))
''')
GRAD_MUL = ok("relu_chain_gradient",
              "return sp.Mul(*[sp.Heaviside(z) for z in (z1, z2, z3, z4)]) * w2 * w3 * w4 * dC_da4")
GRAD_NO_THETA1 = wrong("relu_chain_gradient", '''
    # b1 is added inside z1, so only the later units' derivatives appear
    return w2 * sp.Heaviside(z2) * w3 * sp.Heaviside(z3) * w4 * sp.Heaviside(z4) * dC_da4
''', "the factor Theta(z1) is missing", "Theta")
GRAD_NO_THETA = wrong("relu_chain_gradient", '''
    # ReLU' = 1, so only the weights remain
    return w2 * w3 * w4 * dC_da4
''', "no Theta factors at all (ReLU' taken as 1)", "Theta")
GRAD_SIGMOID = wrong("relu_chain_gradient", '''
    s = sp.Function("sigma_prime")
    return s(z1) * w2 * s(z2) * w3 * s(z3) * w4 * s(z4) * dC_da4
''', "the sigmoid chain copied from the lecture", "sigmoid")

STABLE_EARLY = ok("gradient_is_stable", '''
    if min(z) <= 0:
        return False  # a dead unit: the gradient is exactly zero
    product = w[0] * w[1] * w[2]
    return 0.5 <= abs(product) <= 2
''')
STABLE_NUMPY = ok("gradient_is_stable", '''
    import numpy as np

    return bool(np.all(np.asarray(z) > 0) and 0.5 <= np.abs(np.prod(w)) <= 2.0)
''')
STABLE_LOG = ok("gradient_is_stable", '''
    import math

    return all(v > 0 for v in z) and abs(math.log2(abs(math.prod(w)))) <= 1
''')
STABLE_NO_ABS = wrong("gradient_is_stable", '''
    return all(v > 0 for v in z) and 0.5 <= w[0] * w[1] * w[2] <= 2
''', "no absolute value: negative weight products are called unstable")
STABLE_UPPER = wrong("gradient_is_stable", '''
    import numpy as np

    return all(v > 0 for v in z) and abs(np.prod(w)) <= 2
''', "no lower bound: vanishing weight products are called stable")
STABLE_ONLY_Z = wrong("gradient_is_stable", "return all(zi > 0 for zi in z)",
                      "ignores the weights (only checks for dead units)")

ACT_WHERE = ok("activations", (
    "return torch.where(x > 0, x, alpha * x)",
    "return torch.where(x > 0, torch.ones_like(x), alpha * torch.ones_like(x))",
    "return torch.where(x > 0, x, alpha * (torch.exp(x) - 1))",
    "return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x))",
))
ACT_CLAMP = ok("activations", (
    "return torch.clamp(x, min=0) + alpha * torch.clamp(x, max=0)",
    "return (x > 0).to(x.dtype) + alpha * (x <= 0).to(x.dtype)",
    "return torch.clamp(x, min=0) + alpha * (torch.exp(torch.clamp(x, max=0)) - 1)",
    "# for x < 0: d/dx alpha (e^x - 1) = alpha e^x = elu(x) + alpha\n"
    "return torch.where(x > 0, torch.ones_like(x), elu(x, alpha) + alpha)",
))
ACT_FUNCTIONAL = ok("activations", '''
    import torch.nn.functional as F


    def leaky_relu(x, alpha=0.01):
        """Leaky ReLU of a tensor."""
        return F.leaky_relu(x, negative_slope=alpha)


    def _autograd_derivative(function, x, alpha):
        # let autograd differentiate the activation, elementwise
        x = x.detach().clone().requires_grad_(True)
        function(x, alpha).sum().backward()
        return x.grad


    def leaky_relu_derivative(x, alpha=0.01):
        """Derivative of leaky ReLU with respect to x, elementwise."""
        return _autograd_derivative(leaky_relu, x, alpha)


    def elu(x, alpha=1.0):
        """ELU of a tensor."""
        return F.elu(x, alpha=alpha)


    def elu_derivative(x, alpha=1.0):
        """Derivative of ELU with respect to x, elementwise."""
        return _autograd_derivative(elu, x, alpha)
''')
ACT_FLOAT_MASKS = ok("activations", (
    "return x * (x > 0).float() + alpha * x * (x <= 0).float()",
    "return (x > 0).float() + alpha * (x <= 0).float()",
    "return torch.where(x > 0, x, alpha * torch.expm1(x))",
    "return torch.where(x > 0, 1.0, alpha * torch.exp(x))",
))
ACT_LEAKY_ZERO = wrong("activations", (
    "return torch.where(x > 0, x, alpha * x)",
    "return torch.where(x > 0, 1.0, 0.0)",
    "return torch.where(x > 0, x, alpha * (torch.exp(x) - 1))",
    "return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x))",
), "leaky ReLU's derivative is 0 for x < 0 (should be alpha)")
ACT_LEAKY_COPY = wrong("activations", (
    "return torch.where(x > 0, x, alpha * x)",
    "return torch.where(x > 0, torch.ones_like(x), alpha * x)",
    "return torch.where(x > 0, x, alpha * torch.expm1(x))",
    "return torch.where(x > 0, torch.ones_like(x), alpha * torch.exp(x))",
), "leaky ReLU's derivative is alpha * x for x < 0 (should be alpha)", "leaky_relu_derivative")
ACT_ELU_NO_ALPHA = wrong("activations", (
    "return torch.where(x > 0, x, alpha * x)",
    "return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, alpha))",
    "return torch.where(x > 0, x, alpha * (torch.exp(x) - 1))",
    "return torch.where(x > 0, torch.ones_like(x), torch.exp(x))",
), "ELU's derivative ignores alpha (e^x instead of alpha e^x)", "elu_derivative")
ACT_HARDCODED = wrong("activations", '''
    import torch.nn.functional as F


    def leaky_relu(x, alpha=0.01):
        """Leaky ReLU of a tensor."""
        return F.leaky_relu(x, 0.01)


    def leaky_relu_derivative(x, alpha=0.01):
        """Derivative of leaky ReLU with respect to x, elementwise."""
        return torch.where(x > 0, torch.ones_like(x), 0.01 * torch.ones_like(x))


    def elu(x, alpha=1.0):
        """ELU of a tensor."""
        return F.elu(x)


    def elu_derivative(x, alpha=1.0):
        """Derivative of ELU with respect to x, elementwise."""
        return torch.where(x > 0, torch.ones_like(x), torch.exp(x))
''', "alpha hard-coded (0.01 and 1): wrong for alpha = 0.2", "alpha=0.2")
ACT_ELU_STUB = wrong("activations", (
    "return torch.where(x > 0, x, alpha * x)",
    "return torch.where(x > 0, torch.ones_like(x), alpha * torch.ones_like(x))",
    None,
    None,
), "ELU and its derivative left as NotImplementedError")

# ----------------------------------------------------------------------------------------------------------------
# Written answers (graded by a person: answered ones are pending).

W5B = [text("p5b_answer", "All three budgets end at about 98.5%; 20000 x 3 is a little better than 10000 x 6, "
            "but the difference is smaller than what I would expect from another seed, so repeated examples are "
            "almost as good as new ones here."),
       text("p5b_answer", "More different examples = slightly higher accuracy (98.4 -> 98.6 %). I only ran one "
            "seed so I cannot say if this is significant."),
       text("p5b_answer", "see plot. accuracy is basically the same")]
W5C = [text("p5c_answer", "With augmentation the 10000 example run improves the most, because rotated and "
            "cropped copies act like new examples. For 30000 the two curves are the same within noise."),
       text("p5c_answer", "Augmentation helps a bit for small data sets, for 30000 it does not matter. The "
            "network is tested on the centre crop.")]
W6 = [text("p6_answer", "(1) stays the same. (2) goes through W without sigma' because pooling has no "
           "activation, then the max-pool sends the error only to the maximum (mask M) and then sigma'(z1). "
           "(3)/(4): shared weights, so sum over all positions."),
      text("p6_answer", "The weights are shared, so the gradients of w and b are sums of delta1 over the whole "
           "feature map; max pooling only passes the error to the winning unit.")]
W7 = [text("p7b_answer", "1. Leaky ReLU or ELU, which have a nonzero slope for negative inputs, so a unit can "
           "recover. 2. He initialisation and a smaller learning rate, so units do not get pushed into the "
           "negative region in the first place."),
      text("p7b_answer", "Use leaky relu instead of relu; use batch normalization so the inputs stay centred.")]

WRITTEN_ALL = (W5B[0], W5C[0], W6[0], W7[0])
WRITTEN_SHORT = (W5B[1], W5C[1], W6[1], W7[1])
WRITTEN_NONE = (text("p5b_answer", None), text("p5c_answer", None), text("p6_answer", None),
                text("p7b_answer", None))

P6_PYTHON = (DOUT_PLAIN, DPOOL_PYSUM, DCONV_PLAIN, GW_PYSUM, GB_PYSUM, BACKWARD_VECTORISED)
P6_SYMPY_SUMS = (DOUT_PLAIN, DPOOL_SPSUM, DCONV_PLAIN, GW_SPSUM, GB_SPSUM, BACKWARD_LOOPS)
P7_HEAVISIDE = (GRAD_HEAVISIDE, STABLE_EARLY, ACT_WHERE)


@dataclass(frozen=True)
class Student:
    """One Moodle participant: their answers (later picks replace earlier ones of the same cell) and their files."""

    name: str
    pid: int  # Moodle participant id, the student id after ingest
    what: str
    answers: tuple
    files: dict = field(default_factory=lambda: {nb: f"{nb}.ipynb" for nb in NOTEBOOKS})  # notebook -> path
    zipped: str = ""  # the files uploaded inside this zip
    extra_files: tuple = ()  # (path, bytes) uploaded beside the notebooks

    @property
    def folder(self) -> str:
        return f"{self.name}_{self.pid}_assignsubmission_file_"

    def answer(self, cell: str) -> Answer | None:
        return {a.cell: a for a in self.answers}.get(cell)


def S(name, pid, what, *answers, **layout):
    return Student(name, pid, what, answers, **layout)


def P5(net, epochs, aug):
    return (net, epochs, aug)


STUDENTS = [
    # Correct work in many styles: every automatic point.
    S("Lena Hoffmann", 482913, "class-based net with x.view(x.size(0), -1), % check, v1 rotation 15",
      *P5(NET_CLASS_VIEW, EP_MODULO, AUG_V1), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Jonas Becker", 482914, "nn.Sequential from an OrderedDict, divmod, v2 rotation 30; sp.Sum everywhere, "
      "numpy backward with loops; Piecewise ReLU'",
      *P5(NET_SEQ_ORDERED, EP_DIVMOD, AUG_V2_30), *P6_SYMPY_SUMS, GRAD_PIECEWISE, STABLE_NUMPY, ACT_CLAMP,
      *WRITTEN_ALL),
    S("Aylin Demir", 482917, "pytorch/examples net adapted to 256 (Dropout2d, Dropout, log_softmax); "
      "RandomApply(rotation, p=0.5); sigma' as sp.diff(sigma(z), z)",
      *P5(NET_EXAMPLES, EP_IS_INTEGER, AUG_APPLY_HALF), *P6_PYTHON, DOUT_DIFF, DCONV_DIFF, GRAD_MAX_DIFF,
      STABLE_LOG, ACT_FUNCTIONAL, *WRITTEN_ALL),
    S("Lea Brandt", 483058, "GELU and ELU, nn.ZeroPad2d for crops, F.max_pool2d, x.flatten(1); Fraction epochs, "
      "bilinear rotation",
      *P5(NET_GELU_ZEROPAD, EP_FRACTION, AUG_BILINEAR), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Mateo García", 482921, "BatchNorm2d + PReLU, numpy-integer epochs, crop before rotation; own sympy "
      "objects with the notation's names",
      *P5(NET_PRELU_BN, EP_NUMPY, AUG_CROP_FIRST), *P6_PYTHON, DOUT_OWN, GRAD_OWN_SYMBOLS, STABLE_EARLY,
      ACT_WHERE, *WRITTEN_SHORT),
    S("Sophie Wagner", 482925, "LeakyReLU + torch.flatten, bilinear rotation; Derivative(sigma) in delta_output; "
      "F.leaky_relu/F.elu with autograd derivatives",
      *P5(NET_LEAKY, EP_MODULO, AUG_BILINEAR), *P6_SYMPY_SUMS, DOUT_DERIVATIVE, GRAD_MUL, STABLE_NUMPY,
      ACT_FUNCTIONAL, *WRITTEN_ALL),
    S("Wei Zhang", 482930, "tanh LeNet style, RandomRotation((-10, 10)); sums written out, KroneckerDelta "
      "routing, one Piecewise for the whole chain",
      *P5(NET_TANH, EP_DIVMOD, AUG_RANGE), DOUT_PLAIN, DPOOL_WRITTEN, DCONV_KRONECKER, GW_LOOPS, GB_ADD,
      BACKWARD_LOOPS, GRAD_ALL_ACTIVE, STABLE_EARLY, ACT_FLOAT_MASKS, *WRITTEN_ALL),
    S("Priya Nair", 482934, "residual add (cropped skip) between the two convolutions, v2 rotation 15; "
      "indicator sum in delta_conv",
      *P5(NET_RESIDUAL, EP_FRACTION, AUG_V2_15), DOUT_PLAIN, DPOOL_LOOP, DCONV_INDICATOR, GW_PYSUM, GB_SPSUM,
      BACKWARD_VECTORISED, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Lukas Schmidt", 482938, "F.pad in forward for 24x24 inputs, x.reshape(x.shape[0], -1); nn.Sequential "
      "of transforms; files named 'Problem 5.ipynb' etc.",
      *P5(NET_FPAD, EP_IS_INTEGER, AUG_SEQUENTIAL), *P6_PYTHON, DCONV_FLOOR, GRAD_PIECEWISE, STABLE_LOG,
      ACT_WHERE, *WRITTEN_SHORT,
      files={"problem5": "Problem 5.ipynb", "problem6": "Problem 6.ipynb", "problem7": "Problem 7.ipynb"}),
    S("Hannah Müller", 482941, "Sequential with Dropout2d before pooling and LogSoftmax; int(x / 2) block index",
      *P5(NET_LOGSOFTMAX, EP_MODULO, AUG_V1), *P6_PYTHON, DCONV_INT, GRAD_MUL, STABLE_NUMPY, ACT_CLAMP,
      *WRITTEN_ALL),
    S("Noah Fischer", 482945, "functional F.max_pool2d/F.relu, x.reshape(-1, 256); uploaded as one zip with a "
      "plot next to the notebooks",
      *P5(NET_RESHAPE, EP_DIVMOD, AUG_RANGE), *P6_SYMPY_SUMS, *P7_HEAVISIDE, *WRITTEN_ALL,
      zipped="PS3_Fischer.zip", extra_files=(("accuracy_plot.png", b"\x89PNG\r\n\x1a\n"),)),
    S("Olga Petrova", 482950, "old pytorch/examples net (conv2_drop, F imported in an extra cell above); "
      "files 'ps3_p5.ipynb' in a folder",
      *P5(NET_CLASSIC, EP_FRACTION, AUG_APPLY_HALF), DOUT_DIFF, DPOOL_SPSUM, DCONV_KRONECKER, GW_SPSUM, GB_ADD,
      BACKWARD_LOOPS, GRAD_ALL_ACTIVE, STABLE_LOG, ACT_FLOAT_MASKS, *WRITTEN_SHORT,
      files={"problem5": "PS3/ps3_p5.ipynb", "problem6": "PS3/ps3_p6.ipynb", "problem7": "PS3/ps3_p7.ipynb"}),
    S("Jakob Vogel", 482953, "no padding: the second kernel depends on input_size; v2 rotation 30",
      *P5(NET_KERNEL_BY_SIZE, EP_NUMPY, AUG_V2_30), *P6_PYTHON, DPOOL_WRITTEN, GRAD_OWN_SYMBOLS, STABLE_NUMPY,
      ACT_FUNCTIONAL, *WRITTEN_ALL),

    S("Finn Baumann", 483060, "lazy layers (nn.LazyConv2d, nn.LazyLinear) as in Dive into Deep Learning",
      *P5(NET_LAZY, EP_MODULO, AUG_V1), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Selin Arslan", 483063, "augmentation through PIL: ToPILImage, rotation, crop, ToTensor (image by image)",
      *P5(NET_CLASS_VIEW, EP_DIVMOD, AUG_PIL), *P6_PYTHON, GRAD_PIECEWISE, STABLE_NUMPY, ACT_CLAMP, *WRITTEN_ALL),
    S("Marco Bianchi", 483066, "v2 pipeline with ToImage and ToDtype before rotation and crop (image by image)",
      *P5(NET_TANH, EP_IS_INTEGER, AUG_V2_PIPELINE), *P6_SYMPY_SUMS, *P7_HEAVISIDE, *WRITTEN_SHORT),
    S("Johanna Roth", 483069, "own class with __call__: affine_grid + grid_sample rotation, slicing crop",
      *P5(NET_RESHAPE, EP_FRACTION, AUG_AFFINE_CLASS), *P6_PYTHON, GRAD_MAX_DIFF, STABLE_LOG, ACT_WHERE,
      *WRITTEN_ALL),

    # Network mistakes: cost part (a) only.
    S("Felix Weber", 482957, "'same' padding in conv1: 400 values after the second pooling at 28x28",
      *P5(NET_400, EP_MODULO, AUG_V1), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Mia Schneider", 482960, "forgot padding: build_cnn(24) breaks (144 values into Linear(256, 10))",
      *P5(NET_NO_PAD, EP_DIVMOD, AUG_V1), *P6_SYMPY_SUMS, GRAD_PIECEWISE, STABLE_EARLY, ACT_WHERE, *WRITTEN_ALL),
    S("Yusuf Kaya", 482964, "average pooling instead of max-pooling",
      *P5(NET_AVGPOOL, EP_IS_INTEGER, AUG_BILINEAR), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_SHORT),
    S("Sara Hofmann", 482968, "three convolutional layers",
      *P5(NET_THREE_CONV, EP_MODULO, AUG_V2_15), *P6_PYTHON, GRAD_MAX_DIFF, STABLE_NUMPY, ACT_CLAMP, *WRITTEN_ALL),
    S("Marie Braun", 482971, "build_cnn left as NotImplementedError; epochs_for and augmentation done",
      *P5(NET_STUB, EP_DIVMOD, AUG_V1), *P6_PYTHON, *P7_HEAVISIDE, W5B[2], W5C[1], W6[1], W7[1]),

    # epochs_for mistakes: cost part (b) only.
    S("Elias Meyer", 482975, "epochs_for returns 6.0 (a float)",
      *P5(NET_SEQ_ORDERED, EP_FLOAT, AUG_V1), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Emma Koch", 482979, "epochs_for never raises ValueError",
      *P5(NET_CLASS_VIEW, EP_NO_RAISE, AUG_RANGE), *P6_SYMPY_SUMS, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Ahmed Hassan", 482983, "epochs as a lookup table of the three budgets; CenterCrop after the rotation",
      *P5(NET_LEAKY, EP_DICT, AUG_CENTER), *P6_PYTHON, GRAD_PIECEWISE, STABLE_NUMPY, ACT_WHERE, *WRITTEN_SHORT),
    S("Jan Krause", 482986, "x.flatten() flattens the batch too; assert instead of ValueError",
      *P5(NET_FLATTEN_ALL, EP_ASSERT, AUG_V1), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Tobias Kühn", 482990, "epochs_for hard-codes 60000 sample-steps; ELU not done",
      *P5(NET_TANH, EP_60000, AUG_V2_15), *P6_PYTHON, GRAD_HEAVISIDE, STABLE_EARLY, ACT_ELU_STUB, *WRITTEN_ALL),
    S("Greta Lorenz", 482994, "round() instead of raising; wrong ELU derivative (alpha ignored)",
      *P5(NET_PRELU_BN, EP_ROUND, AUG_CROP_FIRST), *P6_PYTHON, GRAD_MUL, STABLE_LOG, ACT_ELU_NO_ALPHA,
      *WRITTEN_ALL),

    # Augmentation mistakes: cost part (c) only.
    S("Ben Richter", 482997, "random crop without rotation",
      *P5(NET_RESHAPE, EP_MODULO, AUG_CROP_ONLY), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Clara Klein", 483001, "rotation then Resize(24): no crop",
      *P5(NET_TANH, EP_DIVMOD, AUG_RESIZE), *P6_SYMPY_SUMS, GRAD_PIECEWISE, STABLE_NUMPY, ACT_CLAMP, *WRITTEN_ALL),
    S("Julia Krüger", 483005, "ToTensor() first in the Compose (the images are already tensors)",
      *P5(NET_CLASS_VIEW, EP_IS_INTEGER, AUG_TOTENSOR), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_SHORT),
    S("Erik Lindqvist", 483072, "RandomCrop(24, padding=2): a padded crop moves the digit beyond any crop",
      *P5(NET_LEAKY, EP_MODULO, AUG_PADDED_CROP), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_ALL),

    # Problem 6 and 7 mistakes.
    S("David Wolf", 483008, "forgot sigma'(z1) in delta_conv",
      *P5(NET_CLASS_VIEW, EP_MODULO, AUG_V1), *P6_PYTHON, DCONV_NO_SIGMA, *P7_HEAVISIDE, *WRITTEN_ALL),
    S("Anna Schröder", 483012, "W[o, k, j] in delta_pool; a0[x + m, y + l] in grad_conv_weight",
      *P5(NET_LOGSOFTMAX, EP_DIVMOD, AUG_V2_30), *P6_PYTHON, DPOOL_TRANSPOSED, GW_SWAPPED, *P7_HEAVISIDE,
      *WRITTEN_ALL),
    S("Paul Neumann", 483015, "Theta(z1) missing in the ReLU chain",
      *P5(NET_SEQ_ORDERED, EP_MODULO, AUG_V1), *P6_PYTHON, GRAD_NO_THETA1, STABLE_EARLY, ACT_WHERE, *WRITTEN_ALL),
    S("Laura Schwarz", 483019, "leaky ReLU derivative 0 for negative inputs",
      *P5(NET_RESHAPE, EP_IS_INTEGER, AUG_V1), *P6_PYTHON, GRAD_HEAVISIDE, STABLE_NUMPY, ACT_LEAKY_ZERO,
      *WRITTEN_ALL),
    S("Leon Hartmann", 483022, "numpy backward with the wrong sign of dC/da3; bias gradient summed over N_POOL",
      *P5(NET_PRELU_BN, EP_MODULO, AUG_RANGE), *P6_PYTHON, BACKWARD_SIGN, GB_POOL_RANGE, *P7_HEAVISIDE,
      *WRITTEN_ALL),
    S("Emily Lange", 483026, "stability without abs(); flipped kernel in grad_conv_weight",
      *P5(NET_LEAKY, EP_DIVMOD, AUG_APPLY_HALF), *P6_SYMPY_SUMS, GW_FLIPPED, GRAD_PIECEWISE, STABLE_NO_ABS,
      ACT_CLAMP, *WRITTEN_ALL),
    S("Chiara Rossi", 483030, "sigmoid chain copied for ReLU; average-pooling error in delta_conv; "
      "sigma' in the pool error",
      *P5(NET_FPAD, EP_FRACTION, AUG_V1), *P6_PYTHON, DCONV_SPREAD, DPOOL_SIGMA, GRAD_SIGMOID, STABLE_EARLY,
      ACT_WHERE, *WRITTEN_SHORT),
    S("Fatima Al-Sayed", 483033, "no pooling mask in delta_conv; stability without lower bound; alpha hard-coded",
      *P5(NET_EXAMPLES, EP_MODULO, AUG_V1), *P6_PYTHON, DCONV_NO_MASK, *P7_HEAVISIDE, STABLE_UPPER,
      ACT_HARDCODED, *WRITTEN_ALL),
    S("Kevin Lehmann", 483037, "missing sigma' in delta_output, extra sigma' in the bias gradient, no sigma'(z1) "
      "in the numpy backward; Theta factors dropped",
      *P5(NET_SEQ_ORDERED, EP_DIVMOD, AUG_V2_15), *P6_PYTHON, DOUT_NO_SIGMA, GB_SIGMA, BACKWARD_NO_SIGMA1,
      GRAD_NO_THETA, STABLE_ONLY_Z, ACT_LEAKY_COPY, *WRITTEN_ALL),
    S("Tim Zimmermann", 483040, "did everything, wrote nothing (written answers left as YOUR ANSWER HERE)",
      *P5(NET_CLASS_VIEW, EP_MODULO, AUG_V1), *P6_PYTHON, *P7_HEAVISIDE, *WRITTEN_NONE),
    S("Moritz Schulz", 483044, "x % 2 instead of x // 2 for the block; conv_net_backward not done",
      *P5(NET_KERNEL_BY_SIZE, EP_MODULO, AUG_V1), *P6_PYTHON, DCONV_MODULO, BACKWARD_STUB, *P7_HEAVISIDE,
      W5B[1], W5C[0], text("p6_answer", None), W7[0]),

    # Partial hand-ins.
    S("Niklas Werner", 483047, "hands in problems 6 and 7 only, as 'Problem 6 (1).ipynb' and 'Problem_7.ipynb'",
      *P6_SYMPY_SUMS, GRAD_PIECEWISE, STABLE_NUMPY, ACT_CLAMP, W6[1], W7[0],
      files={"problem6": "Problem 6 (1).ipynb", "problem7": "Problem_7.ipynb"}),
    S("Ida Schäfer", 483051, "hands in problem 5 only, as 'Aufgabe5.ipynb'",
      *P5(NET_PRELU_BN, EP_FRACTION, AUG_BILINEAR), W5B[0], W5C[0], files={"problem5": "Aufgabe5.ipynb"}),
    S("Samuel Okafor", 483054, "hands in problems 5 and 7; problem 6 forgotten",
      *P5(NET_RESIDUAL, EP_MODULO, AUG_V1), GRAD_MAX_DIFF, STABLE_EARLY, ACT_FUNCTIONAL, W5B[1], W5C[1], W7[1],
      files={"problem5": "problem5.ipynb", "problem7": "problem7.ipynb"}),
]


# ----------------------------------------------------------------------------------------------------------------
# Building the notebooks and the Moodle zip.

def _indent(code: str) -> str:
    return textwrap.indent(code, "    ", lambda line: line.strip() != "")


def fill_answer(source: str, code) -> str:
    """The solution cell ``source`` with its stubs replaced: whole-cell code, one body, or one body per stub."""
    stub = _indent(STUB)
    if code is None:
        return source
    own = re.findall(r"^def (\w+)\(", source, re.M)  # the functions the cell hands out
    if isinstance(code, str) and any(re.search(rf"^def {name}\(", code, re.M) for name in own):
        return code + "\n"  # the student rewrote the whole cell (a class above the function, imports)
    bodies = code if isinstance(code, tuple) else (code,)
    parts = source.split(stub)
    if len(parts) != len(bodies) + 1:
        raise ValueError(f"{len(bodies)} bodies for {len(parts) - 1} stubs in:\n{source}")
    out = parts[0]
    for body, rest in zip(bodies, parts[1:]):
        out += (stub if body is None else _indent(body)) + rest
    return out


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def notebook(student: Student, name: str) -> str:
    """The student's version of release notebook ``name``, as JSON text."""
    nb = nbformat.read(RELEASE / f"{name}.ipynb", as_version=4)
    cells = []
    for cell in nb.cells:
        answer = student.answer(_grade_id(cell) or "")
        if answer and answer.before:
            extra = nbformat.v4.new_code_cell(answer.before)
            extra["id"] = f"own-cell-before-{answer.cell}"  # a fixed id: the same cohort gives the same files
            cells.append(extra)
        if answer and cell.cell_type == "markdown":
            cell.source = cell.source.replace(WRITTEN_STUB, answer.code) if answer.code else cell.source
        elif answer:
            cell.source = fill_answer(cell.source, answer.code)
        cells.append(cell)
    nb.cells = cells
    return nbformat.writes(nb)


# Problem 5 trains the student's network seven times (about a minute a student on this project's 2-core machine,
# where problems 6 and 7 take seconds), so the whole cohort takes about 50 minutes there: more than CI's 90 minutes
# leave beside the other tests. CI (`make test`) therefore grades every student's problems 6 and 7 and the problem 5
# of this sample (passing and failing each of 5a, 5b and 5c; networks the grader must not confuse with wrong ones);
# `make acceptance` grades the whole cohort. pid -> why the student is in the sample.
PROBLEM5_SAMPLE = {
    482917: "dropout, log_softmax and RandomApply(p=0.5): randomness that must still count as augmentation",
    482953: "no padding: the second kernel depends on the input size",
    483051: "problem 5 only, as 'Aufgabe5.ipynb'",
    482957: "400 values after the second pooling: 5a only",
    482971: "build_cnn left as NotImplementedError, the rest done",
    482983: "epochs_for as a table, CenterCrop: 5b and 5c",
    483060: "lazy layers: weights exist only after a first batch",
}


def ci_cohort() -> list[Student]:
    """The cohort CI grades: every student, problem 5 left out of the hand-in of those not in PROBLEM5_SAMPLE (their
    problem 5 then expects 0 points, "not submitted", like any notebook not handed in)."""
    without_problem5 = (lambda s: replace(s, files={nb: p for nb, p in s.files.items() if nb != "problem5"}))
    return [s if s.pid in PROBLEM5_SAMPLE else without_problem5(s) for s in STUDENTS]

def _student_files(student: Student) -> dict[str, bytes]:
    files = {path: notebook(student, nb).encode() for nb, path in student.files.items()}
    files.update(dict(student.extra_files))
    if not student.zipped:
        return files
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return {student.zipped: packed.getvalue()}


def write_moodle_zip(path: Path, students=None, notebooks=NOTEBOOKS) -> Path:
    """Moodle's "Download all submissions" zip: a folder per student, ``<Full Name>_<id>_assignsubmission_file_``.
    ``notebooks`` leaves out the others (for quick checks of the mechanics)."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for student in students or STUDENTS:
            keep = replace(student, files={nb: p for nb, p in student.files.items() if nb in notebooks})
            for name, data in _student_files(keep).items():
                zf.writestr(f"{student.folder}/{name}", data)
    return path


# ----------------------------------------------------------------------------------------------------------------
# Expectations.

@dataclass(frozen=True)
class Expect:
    points: float | None  # None: pending for a person
    max_points: float
    reason: str = ""  # why not full marks
    says: str = ""  # a fragment the grader's message must contain


def graded_cells() -> dict[str, tuple[str, float, bool]]:
    """grade id -> (notebook, points, automatic) of every graded cell of the assignment (autograder/cells.py, which a
    test keeps equal to the gradebook nbgrader generates from the source notebooks)."""
    return {cell.grade_id: (cell.notebook, float(cell.points), not cell.written) for cell in CELLS}


def expected(student: Student, notebooks=NOTEBOOKS) -> dict[str, Expect]:
    """grade id -> what the student must get, from the rules in this module's docstring."""
    out = {}
    for grade_id, (name, points, automatic) in graded_cells().items():
        if name not in student.files or name not in notebooks:
            out[grade_id] = Expect(0.0, points, "notebook not submitted", "not submitted")
        elif not automatic:
            answered = (student.answer(grade_id) or text(grade_id, None)).code
            out[grade_id] = Expect(None, points) if answered else Expect(0.0, points, "written answer left blank",
                                                                         "not answered")
        else:
            answer = student.answer(TESTED[grade_id])
            if answer is None:
                out[grade_id] = Expect(0.0, points, "(no answer picked: the cohort is incomplete)")
            elif answer.lost:
                out[grade_id] = Expect(0.0, points, answer.lost, answer.says)
            else:
                out[grade_id] = Expect(points, points)
    return out


def totals(expect: dict[str, Expect]) -> tuple[float, float]:
    """(automatic points, pending points)."""
    return (sum(e.points for e in expect.values() if e.points is not None),
            sum(e.max_points for e in expect.values() if e.points is None))


def markdown_table(students=None) -> str:
    """The cases as a markdown table (the README's copy is regenerated from this)."""
    rows = ["| student | id | what is special | 5 (a, b, c) | 6 | 7 | automatic | pending | points lost |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in students or STUDENTS:
        expect = expected(s)
        p5 = ", ".join(f"{expect[g].points:g}" for g in ("p5a_tests", "p5b_tests", "p5c_tests"))
        p6, p7 = (sum(e.points or 0 for g, e in expect.items() if g.startswith(p) and not g.endswith("_answer"))
                  for p in ("p6", "p7"))
        automatic, pending = totals(expect)
        rows.append(f"| {s.name} | {s.pid} | {s.what} | {p5} | {p6:g} | {p7:g} | {automatic:g} | {pending:g} | "
                    f"{_lost_summary(expect)} |")
    return "\n".join(rows)


def _lost_summary(expect: dict[str, Expect]) -> str:
    missing = sorted({g for g, e in expect.items() if e.reason == "notebook not submitted"})
    notebooks = sorted({graded_cells()[g][0] for g in missing})
    parts = [f"{', '.join(notebooks)} not submitted"] if notebooks else []
    parts += [f"{SHORT[g]}: {e.reason}" for g, e in expect.items()
              if e.reason and e.reason != "notebook not submitted"]
    return "; ".join(parts) or "—"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="print the markdown table of the cases")
    parser.add_argument("--zip", type=Path, help="write the cohort as a Moodle 'download all submissions' zip")
    args = parser.parse_args(argv)
    if args.zip:
        write_moodle_zip(args.zip)
        print(f"wrote {args.zip} ({len(STUDENTS)} students)")
    if args.table or not args.zip:
        print(markdown_table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
