"""Synthetic results of a whole class, for the class report's tests and benchmark: what a batch saves, without
grading anything.

Each student passes each automatically graded cell with the cell's own chance; a failure is one of the cell's
named mistakes (with the grader's wording; some quote the "submission": their full message holds a marker that
must never reach a class report) or, now and then, a failure without a name. Most students train problem 5's six
networks, with accuracies around the reference's means plus a per-student offset; a few do not train at all.
"""

from __future__ import annotations

import hashlib
import random

from ..cells import CELLS
from ..results import CellResult, SubmissionResult
from ..submission.execute import STOPPED, TIMED_OUT

STUDENT_TEXT = "<b>STUDENT-TEXT</b>"  # in every quoted part of a synthetic message: a report must never show it
# Accuracy means per condition and budget (the reference's seeds, docs/budget-experiment.json).
MEANS = {("plain", 10000): 0.9844, ("plain", 20000): 0.9861, ("plain", 30000): 0.9857,
         ("augmented", 10000): 0.9861, ("augmented", 20000): 0.9861, ("augmented", 30000): 0.9865}
EPOCHS = {10000: 6, 20000: 3, 30000: 2}

# grade id -> chance of full points, and the failures: (weight, mistake key, message, scrubbed message)
FAILURES = {
    "p5a_tests": (0.85, [
        (3, "architecture", "build_cnn(28): expected two max-pooling layers, found 1", None),
        (2, "build_failed", f"build_cnn failed: ValueError: {STUDENT_TEXT}", "build_cnn failed: …"),
        (1, "below_floor", "plain training on 10000 examples x 6 epochs reached 11.35% test accuracy; at least "
                           "90.0% is expected", None)]),
    "p5b_tests": (0.8, [
        (4, "epochs_wrong", f"epochs_for(7000) should be 8 (same number of steps as the reference budget), got "
                            f"{STUDENT_TEXT}", "epochs_for(7000) should be 8 (same number of steps as the reference "
                                               "budget), got …"),
        (2, "epochs_no_valueerror", "epochs_for(25000) must raise ValueError: no whole number of epochs keeps the "
                                    f"steps equal; got {STUDENT_TEXT}",
         "epochs_for(25000) must raise ValueError: no whole number of epochs keeps the steps equal; got …")]),
    "p5c_tests": (0.7, [
        (5, "no_rotation", "none of the 96 augmented images is rotated (by 1 degree or more): each is best matched "
                           "by an unrotated 24x24 crop; add a random rotation", None),
        (2, "fixed_crop", "the crop position must vary from draw to draw: 1 different crop positions in 24 calls, "
                          "at least 3 expected", None),
        (1, "augmentation_size", "the augmentation must give 24x24 images, got (1, 28, 28)", None)]),
    "p6_delta_output_tests": (0.9, [
        (3, "no_sigma_prime", "delta_output(0): missing the factor sigma'(z3[o]) of equation (1)", None)]),
    "p6_delta_pool_tests": (0.75, [
        (3, "spread_pool", "delta_pool(0, 0): delta2 is the error of the pooled value itself; dividing among the "
                           "four inputs belongs to average pooling, not here", None),
        (2, "transposed_W", "delta_pool(0, 1): the weight indices are swapped: a2[j, k] meets W[o, j, k]", None),
        (1, "sigma_prime_in_pool", "delta_pool(0, 0): a max-pooling layer has no activation function, so no "
                                   "sigma' factor appears", None)]),
    "p6_delta_conv_tests": (0.6, [
        (4, "no_sigma_prime", "delta_conv(0, 0): missing the factor sigma'(z1[x, y]) of the convolutional "
                              "layer's activation", None),
        (3, "spread_pool", "delta_conv(0, 0): the error is spread evenly over the pooling window; in max-pooling "
                           "only the largest input of each block receives it (use the mask M)", None),
        (2, "no_mask", "delta_conv(0, 0): every input of the pooling block receives the error; only the largest "
                       "one should (multiply by the mask M)", None),
        (1, "unknown_symbols", f"delta_conv(0, 0) uses symbols the problem does not define: {STUDENT_TEXT}",
         "delta_conv(0, 0) uses symbols the problem does not define: …")]),
    "p6_grad_conv_weight_tests": (0.7, [
        (3, "flipped", "grad_conv_weight(0, 0): this is the flipped-kernel (true convolution) form; the forward "
                       "pass here is a cross-correlation, so dC/dw[l, m] pairs delta1[x, y] with a0[x+l, y+m]", None),
        (1, "unshared", "grad_conv_weight(0, 0): the filter is shared by every position: sum delta1[x, y] * "
                        "a0[x+l, y+m] over all x, y", None)]),
    "p6_grad_conv_bias_tests": (0.85, [
        (2, "with_sigma_prime", "grad_conv_bias(): delta1 already contains sigma'(z1); equation (3) adds no "
                                "further factor", None)]),
    "p6_backward_tests": (0.7, [
        (3, "gradient_wrong", "gradient 'w' differs from torch autograd's (input 6x6, filter 3x3): largest "
                              "difference 0.412", None),
        (1, "answer_raised", f"conv_net_backward failed on a 6x6 input: IndexError: {STUDENT_TEXT}",
         "conv_net_backward failed on a 6x6 input: …")]),
    "p7_gradient_tests": (0.75, [
        (3, "one_theta_missing", "dC/db1: a Theta factor is missing: ReLU'(z1) = Theta(z1) for unit 1", None),
        (2, "no_theta", "dC/db1: the factors ReLU'(z_i) = Theta(z_i) are missing: the gradient is exactly 0 as "
                        "soon as one unit is inactive (z_i < 0)", None),
        (1, "sigmoid", "dC/db1: this is the sigmoid chain; with ReLU units each sigma'(z_i) becomes Theta(z_i)",
         None)]),
    "p7_stability_tests": (0.8, [
        (3, "stability_wrong", "gradient_is_stable is wrong on 12 of the sampled points, e.g. z = [0.5, 1.2, -0.3, "
                               "2.0], w = [1.1, 0.9, 1.0] (|w2 w3 w4| = 0.99): you said True. Stable means: every "
                               "z_i > 0 and 1/2 <= |w2 w3 w4| <= 2.", None),
        (1, "stopped", f"{STOPPED}: {TIMED_OUT.format(600)}", None)]),
    "p7_activation_tests": (0.8, [
        (3, "not_implemented", "elu is not implemented yet", None),
        (2, "activation_wrong", "elu(x, alpha=1.0) is wrong, e.g. at x = -0.5: expected -0.3935, got -0.5", None)]),
}
OTHER_CHANCE = 0.05  # of a failure: one without a named mistake (its message quotes the submission)


def _runs(rng: random.Random) -> list[dict]:
    offset = rng.gauss(0, 0.0025)  # a student's network: better or worse at every budget
    gain = rng.gauss(0, 0.001)
    runs = []
    for (condition, n), mean in MEANS.items():
        accuracy = mean + offset + gain * (n - 10000) / 10000 + rng.gauss(0, 0.0012)
        runs.append({"condition": condition, "n_examples": n, "epochs": EPOCHS[n], "accuracy": round(accuracy, 4)})
    if rng.random() < 0.01:
        runs[0]["accuracy"] = 0.1135  # a broken run: below the floor
    return runs


def synthetic_results(count: int, seed: int = 0) -> list[SubmissionResult]:
    """``count`` students' results, the same for the same seed."""
    rng = random.Random(seed)
    results = []
    for i in range(count):
        student = f"student{i:04d}"
        status = rng.choices(["graded", "incomplete", "error", "empty"], [0.9, 0.07, 0.02, 0.01])[0]
        trains = status != "empty" and rng.random() < 0.88
        runs = _runs(rng) if trains else []
        cells = []
        for cell in CELLS:
            if status == "empty":
                cells.append(CellResult(cell.notebook, cell.grade_id, 0.0, cell.points, "not answered"))
                continue
            if cell.written:
                points = None if rng.random() < 0.4 else rng.choice([0.0, cell.points / 2, cell.points])
                cells.append(CellResult(cell.notebook, cell.grade_id, points, cell.points))
                continue
            chance, failures = FAILURES[cell.grade_id]
            mine = [r for r in runs if cell.grade_id == "p5a_tests" and (r["condition"], r["n_examples"]) ==
                    ("plain", 10000)] + [r for r in runs if cell.grade_id == "p5b_tests" and r["condition"] == "plain"
                                         and r["n_examples"] > 10000] \
                + [r for r in runs if cell.grade_id == "p5c_tests" and r["condition"] == "augmented"]
            if cell.grade_id.startswith("p5") and not trains:
                cells.append(CellResult(cell.notebook, cell.grade_id, 0.0, cell.points,
                                        "the test did not record an answer (it did not run, or stopped early)",
                                        mistake="not_recorded", scrubbed="the test did not record an answer (it did "
                                                                         "not run, or stopped early)"))
                continue
            if rng.random() < chance:
                cells.append(CellResult(cell.notebook, cell.grade_id, cell.points, cell.points, runs=mine))
                continue
            if rng.random() < OTHER_CHANCE:
                cells.append(CellResult(cell.notebook, cell.grade_id, 0.0, cell.points,
                                        f"the check failed: {STUDENT_TEXT}", mistake="", runs=mine))
                continue
            _, key, message, scrubbed = rng.choices(failures, [f[0] for f in failures])[0]
            cells.append(CellResult(cell.notebook, cell.grade_id, 0.0, cell.points, message, mistake=key,
                                    scrubbed=scrubbed or message, runs=mine))
        results.append(SubmissionResult(
            student, f"Student {STUDENT_TEXT} {i}", status, cells, seconds=rng.uniform(30, 200),
            digest=hashlib.sha256(student.encode()).hexdigest(),
            review=["p5a_tests: the test passed inside the kernel but the grader's own check failed"]
            if rng.random() < 0.03 else []))
    return results
