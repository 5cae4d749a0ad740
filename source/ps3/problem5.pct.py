# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Problem 5 — Convolutional networks on MNIST (6 points)
#
# You will build a small convolutional network, then use it to ask a question about data: at a fixed
# number of training steps, is it better to see **more distinct examples** or to see **the same examples more
# often**? Finally you repeat the experiment with data augmentation.
#
# The training loop is provided by the course's `mnist_lab` package (next to this notebook): it loads the
# verified MNIST data once, trains on the CPU or a GPU (`device="auto"`), and is seeded, so the same code gives
# the same numbers on the same machine. You write the network, the number of epochs for a budget and the
# augmentation; the lab does the rest.
#
# **Grading.** Each part has a cell of tests. The visible tests check what can be checked in a second (shapes,
# types, the architecture rules below); hidden tests check correctness and train your network with seed 0 through
# the same lab, on every budget without and with augmentation: each of these runs must reach at least **90% test
# accuracy**. Every correct network we measured (15 networks on seeds 0-4, in the README of the course repository)
# stays above 95% on every run, while a network that ignores its input reaches about 11%: the floor only catches a
# network that does not learn. Each mistake costs one part: a problem of the network (its architecture, a network
# that cannot be trained, or one below the floor) costs part (a) only, and parts (b) and (c) are then judged on
# `epochs_for` and `make_augmentation` alone. Parts (b) and (c) also have a written answer graded by hand.

# %% nbgrader={"grade_id": "p5_setup"}
import numbers

import torch
import torch.nn as nn
from torchvision import transforms

from mnist_lab import TrainConfig, architecture_problem, plot_budget_experiment, run_budget_experiment, train_model

# %% [markdown]
# ## (a) The network (2 points)
#
# Write `build_cnn(input_size=28)` returning an `nn.Module` that maps a batch of shape `(B, 1, input_size,
# input_size)` to 10 logits per image, with
#
# - **two** convolutional layers, **each followed by a 2x2 max-pooling**,
# - layer sizes chosen so that, after the second max-pooling, every image is described by **exactly 256 numbers**
#   (the flattened array has 256 entries),
# - a fully-connected layer from those 256 numbers to the 10 classes.
#
# Part (c) trains on 24x24 crops, so `build_cnn(24)` must also work and also give 256 numbers after the second
# pooling. Useful arithmetic: a `k x k` convolution without padding turns `n x n` into `(n - k + 1) x (n - k + 1)`,
# padding `p` adds `2p`, and a 2x2 max-pooling halves the size (rounding down).
#
# Anything else is your choice: activations (ReLU, tanh, PReLU, ...), dropout, batch norm, padding, a residual
# connection, `view`/`reshape`/`flatten`, `nn.Sequential` or your own `nn.Module`. The grader rebuilds your network
# from a recording of its forward pass, so in eval mode the forward pass must give the same result every time (use
# `nn.Dropout`, which switches off in eval mode, rather than `F.dropout` without `training=self.training`). If the
# grader cannot rebuild a layer, the test's message names it and says what to use instead.

# %% nbgrader={"grade_id": "build_cnn", "solution": true}
def build_cnn(input_size=28):
    """Return a CNN for (B, 1, input_size, input_size) inputs, input_size 28 or 24, giving (B, 10) logits."""
    ### BEGIN SOLUTION
    if input_size not in (24, 28):
        raise ValueError(f"input_size must be 28 (full images) or 24 (random crops), got {input_size}")
    padding = (28 - input_size) // 2
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=5, padding=padding),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Conv2d(8, 16, kernel_size=5),
        nn.MaxPool2d(2),
        nn.ReLU(),
        nn.Flatten(),  # 16 channels x 4 x 4 = 256
        nn.Linear(256, 10),
    )
    ### END SOLUTION


# %% nbgrader={"grade_id": "p5a_tests", "grade": true, "points": 2}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.each(lambda: handin.network("p5a_tests", build_cnn),
            lambda: handin.training("p5a_tests", build_cnn, None, "plain", (10000,)))
### END HIDDEN TESTS
for size in (28, 24):
    model = build_cnn(size)
    assert isinstance(model, nn.Module), f"build_cnn({size}) should return a torch.nn.Module"
    logits = model(torch.zeros(5, 1, size, size))
    assert logits.shape == (5, 10), f"build_cnn({size}) should map (5, 1, {size}, {size}) to (5, 10), not {tuple(logits.shape)}"
    problem = architecture_problem(model, size)  # the grader's own architecture check
    assert problem is None, f"build_cnn({size}): {problem}"
print("build_cnn: shapes and architecture look right")

# %% [markdown]
# ## (b) New examples or repeated examples? (2 points)
#
# Train on **10000** examples for **6** epochs, on **20000** examples for **3** epochs and on **30000** examples
# for **2** epochs. Each run makes the same number of training steps; only the number of *distinct* examples
# changes. Write `epochs_for(n_examples, reference_examples=10000, reference_epochs=6)`, which returns the
# number of epochs that gives `n_examples` the same number of steps as the reference budget, as an `int` (a
# float such as `3.0` is not accepted: epochs are counted), and raises `ValueError` when no whole number of
# epochs does (for example 7000 examples).

# %% nbgrader={"grade_id": "epochs_for", "solution": true}
def epochs_for(n_examples, reference_examples=10000, reference_epochs=6):
    """Epochs giving n_examples as many training steps as reference_examples x reference_epochs."""
    ### BEGIN SOLUTION
    if isinstance(n_examples, bool) or not isinstance(n_examples, numbers.Integral) or n_examples <= 0:
        raise ValueError(f"n_examples must be a positive integer, got {n_examples!r}")
    total = reference_examples * reference_epochs
    if total % n_examples:
        raise ValueError(
            f"{n_examples} examples do not divide the {total} sample-steps of "
            f"{reference_examples} x {reference_epochs}: no whole number of epochs keeps the steps equal"
        )
    return total // int(n_examples)
    ### END SOLUTION


# %% nbgrader={"grade_id": "p5b_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.each(lambda: handin.epochs("p5b_tests", epochs_for),
            lambda: handin.training("p5b_tests", build_cnn, None, "plain", (20000, 30000)))
### END HIDDEN TESTS
value = epochs_for(10000)
assert isinstance(value, numbers.Integral) and not isinstance(value, bool), (
    f"epochs_for(10000) returned a {type(value).__name__}, not an int: return the number of epochs as a whole "
    "number (int)")
assert epochs_for(10000) == 6, "10000 examples are the reference budget: 6 epochs"
assert epochs_for(20000) * 20000 == 10000 * 6, "20000 examples need as many steps as 10000 x 6"
try:
    epochs_for(7000)
except ValueError:
    pass
else:
    raise AssertionError("epochs_for(7000) must raise ValueError: no whole number of epochs keeps the steps equal")
print("epochs_for: the reference budgets work")

# %% [markdown]
# ## (c) Data augmentation (2 points)
#
# Write `make_augmentation()` returning a torchvision transform that, **for every image separately**, randomly
# rotates the image and takes a random crop of **24x24** from it (`transforms.RandomRotation`,
# `transforms.RandomCrop`). The lab applies it to each training image with its own random angle and crop, and
# tests the network on the centre 24x24 of each test image.
#
# The details are your choice: any range of angles (`RandomRotation(15)`, `RandomRotation((-10, 10))`, up to 180
# degrees); rotating every image or only some of them by chance (`transforms.RandomApply([...], p=0.5)`); the
# rotation before or after the crop; `torchvision.transforms` or `torchvision.transforms.v2`; nearest or
# bilinear interpolation; black fill (the default). The grader calls your transform 24 times on each of 4 test
# images (96 results) and checks that
#
# 1. every result is 24x24;
# 2. every result is a 24x24 crop of a rotation of its image, or a rotation of a 24x24 crop of it, up to a mean
#    absolute pixel difference of 0.04 (pixels in [0, 1]): no flips, rescaling, shearing or added noise;
# 3. the same image comes out differently on different calls: at least 10 different results in its 24 calls;
# 4. the crop position varies: at least 3 different crop positions in each image's 24 calls;
# 5. at least one of the 96 results is visibly rotated: the rotation that matches it best is 1 degree or more
#    (angles tried in 1-degree steps). A rotation too small to move any pixel does not count: with nearest
#    interpolation, a digit rotated by less than about 3 degrees usually comes out unchanged;
# 6. the rotation is random: when several results are rotated, their angles span at least 3 degrees (a fixed
#    angle such as `RandomRotation((10, 10))` is not a random rotation).
#
# The visible tests below check rules 1, 3, 4 and 5 on a random image and rule 2 on two test digits (12 calls
# each), with the grader's messages; rule 6 is the grader's alone.

# %% nbgrader={"grade_id": "make_augmentation", "solution": true}
def make_augmentation():
    """A torchvision transform: random rotation, then a random 24x24 crop, drawn anew for every image."""
    ### BEGIN SOLUTION
    from torchvision import transforms  # here, not above: the grader imports this module and needs no torchvision

    return transforms.Compose([transforms.RandomRotation(15), transforms.RandomCrop(24)])
    ### END SOLUTION


# %% nbgrader={"grade_id": "p5c_tests", "grade": true, "points": 1}
### BEGIN HIDDEN TESTS
from mnist_lab import handin

handin.each(lambda: handin.augmentation("p5c_tests", make_augmentation),
            lambda: handin.training("p5c_tests", build_cnn, make_augmentation, "augmented", (10000, 20000, 30000)))
### END HIDDEN TESTS
from mnist_lab.crop_rotation import crop_or_rotation_problem
from mnist_lab.handin import augmentation_images

augment = make_augmentation()
image = torch.rand(1, 28, 28)
size = tuple(augment(image).shape)
assert size == (1, 24, 24), f"the augmentation must give 24x24 images, got {size}"
different = len({tuple(augment(image).flatten().tolist()) for _ in range(24)})
assert different >= 10, ("the same image must come out differently on different calls (random per image): "
                         f"{different} different results in 24 calls, at least 10 expected")
dot = torch.zeros(1, 28, 28)
dot[:, 13:15, 13:15] = 1  # at the image centre: rotating about that centre leaves it there, only the crop moves it
rows = torch.arange(24.0)[:, None]
positions = set()
for _ in range(24):
    out = augment(dot)[0]
    positions.add((round(float((out * rows).sum() / out.sum()), 1), round(float((out * rows.T).sum() / out.sum()), 1)))
assert len(positions) >= 3, ("the crop position must vary from draw to draw: "
                             f"{len(positions)} different crop positions in 24 calls, at least 3 expected")
torch.manual_seed(0)
for digit in augmentation_images(0)[:2]:  # rule 2 with the grader's own geometry (mnist_lab/crop_rotation.py)
    draws = torch.stack([torch.as_tensor(augment(digit)).float() for _ in range(12)])
    problem = crop_or_rotation_problem(draws[:, 0], digit[0])
    assert problem is None, problem
crops = image.unfold(1, 24, 1).unfold(2, 24, 1).reshape(25, 1, 24, 24)  # every unrotated 24x24 crop
rotated = sum(not (crops == augment(image)).flatten(1).all(1).any() for _ in range(96))
assert rotated >= 1, ("none of the 96 augmented images is rotated (by 1 degree or more): each is best matched by an "
                      "unrotated 24x24 crop; add a random rotation")
print("make_augmentation: size, crops of rotations, randomness, crop positions and rotation look right")

# %% [markdown]
# ## Run the experiment
#
# The next cell trains eighteen networks (three budgets, without and with augmentation, each with three seeds)
# and plots the final test accuracies: a few minutes on a 2-core laptop CPU, a few seconds on a GPU. Runs that
# already happened in this kernel with the same network, budget and seed are not repeated. Each dot is one seed's
# network; the bar shows how far the seeds spread. A difference between budgets means something only where it is
# clearly larger than that spread. (While grading, only seed 0 is trained: the plot is for you.)

# %%
SEEDS = (0, 1, 2)
results = run_budget_experiment(build_cnn, epochs_for, make_augmentation, seeds=SEEDS)
for condition, by_budget in results["summary"].items():
    for n, stats in by_budget.items():
        print(f"{condition:>9}  {int(n):>5} examples x {results['epochs'][n]} epochs: {100 * stats['mean']:.2f}%")
plot_budget_experiment(results);

# %% [markdown] nbgrader={"grade_id": "p5b_answer", "grade": true, "solution": true, "points": 1}
# **(b)** Describe what the plain runs show: does accuracy change with the number of distinct examples at a
# fixed number of steps, and is the difference larger than the spread between seeds?
#
# ### BEGIN SOLUTION
# At the same 468 steps the three budgets end within a few tenths of a percent of each other (reference, three
# seeds: 98.4% for 10000 x 6, 98.6% for 20000 x 3 and 30000 x 2). More distinct examples help slightly, with
# the biggest step from 10000 to 20000, but the gain is comparable to the seed-to-seed spread (about 0.2 to 0.4
# points). For this small network and easy task a repeated example is almost as useful as a new one; new
# examples mainly reduce overfitting (train loss far below test loss for 10000 x 6).
# ### END SOLUTION

# %% [markdown] nbgrader={"grade_id": "p5c_answer", "grade": true, "solution": true, "points": 1}
# **(c)** Compare the augmented runs with the plain ones. Where does augmentation help most, and why?
#
# ### BEGIN SOLUTION
# Augmentation raises the accuracy most where data is scarce: for 10000 x 6 it lifts the reference from about
# 98.4% to 98.6%, the level the plain runs reach only with 20000 or 30000 distinct examples, while for 30000 x 2
# the two conditions are within seed noise. Random rotations and crops turn each repeated example into a new,
# slightly different one, so repetitions behave more like fresh data, and they teach invariance to small shifts
# and rotations that the test digits show. The network sees 24x24 crops and is tested on centre crops, so it
# also loses a little border information, which limits the gain when data is plentiful.
# ### END SOLUTION
