"""Problem 5c's check, run by the grader on what the hidden test recorded: 24 draws of the student's
augmentation on each of 4 test images drawn by the grader's seed.

The rules (the notebook states them for students):
- every output is 24x24;
- every output is, within a mean absolute pixel difference of 0.04, a 24x24 crop of a rotation of its image or a
  rotation of a 24x24 crop of it (any angle, rotation about the centre, black fill, nearest or bilinear);
- each image comes out in at least 10 different ways in its 24 draws, from at least 3 different crop positions;
- at least one of the 96 draws is visibly rotated: the rotation that matches it best is 1 degree or more (angles
  are tried in 1-degree steps, and on a tie the smaller angle wins, so an unrotated crop never counts);
- the rotation is random: when several draws are rotated, their angles span at least 3 degrees (one fixed angle
  is not a random rotation; 3 degrees leaves room for the 1-degree steps of the match).
How many images are rotated, and by how much, is the student's choice (``RandomApply`` with any chance is fine).
"""

from __future__ import annotations

import contextlib

import torch

from autograder.judge.decode import decode_array
from autograder.mistakes import failure, raised
from autograder.text import ERROR_LIMIT, quote
from mnist_lab.crop_rotation import (ANGLES, CROP, MATCH_TOLERANCE, best_matches,  # noqa: F401 - rule 2's
                                     crop_or_rotation_problem, rotations)  # geometry, shared with the notebook
from mnist_lab.handin import AUGMENT_DRAWS, AUGMENT_IMAGES, augmentation_images

ROTATED_DEGREES = 1.0  # a draw whose best match is rotated by at least this much counts as rotated
MIN_DISTINCT, MIN_CROP_POSITIONS = 10, 3  # per image, among its 24 draws
MIN_ANGLE_SPREAD = 3.0  # degrees between the largest and smallest angle of the rotated draws


@contextlib.contextmanager
def _one_thread():
    """The work is small (about 0.2 s on one core): measured on 2 shared cores, a second thread made it 0.2 to
    1.7 s, the threads waiting for each other and for other processes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_augmentation(recorded: dict, seed: int):
    """Judge the recorded draws against the rules in this module's docstring."""
    with _one_thread():
        _judge(recorded, seed)


def _judge(recorded: dict, seed: int):
    if "error" in recorded:
        raise raised("make_augmentation failed: ", quote(recorded["error"], ERROR_LIMIT))
    outputs = torch.from_numpy(decode_array(recorded.get("outputs"))).float()
    if tuple(outputs.shape[2:]) != (1, CROP, CROP):
        raise failure("augmentation_size", f"the augmentation must give 24x24 images, got {tuple(outputs.shape[2:])}")
    if tuple(outputs.shape[:2]) != (AUGMENT_IMAGES, AUGMENT_DRAWS):
        raise failure("unusable", f"the recorded augmentation has shape {tuple(outputs.shape)}")
    angles = []
    for image, draws in zip(augmentation_images(seed), outputs):
        error, angle, crop_position = best_matches(draws[:, 0], image[0])
        if not (error <= MATCH_TOLERANCE).all():
            raise failure("not_crop_or_rotation", crop_or_rotation_problem(draws[:, 0], image[0]))
        distinct = {tuple(o.flatten().tolist()) for o in draws}
        if len(distinct) < MIN_DISTINCT:
            raise failure(
                "not_random", f"the same image must come out differently on different calls (random per image): "
                f"{len(distinct)} different results in {AUGMENT_DRAWS} calls, at least {MIN_DISTINCT} expected")
        positions = len(set(crop_position.tolist()))
        if positions < MIN_CROP_POSITIONS:
            raise failure(
                "fixed_crop", f"the crop position must vary from draw to draw: {positions} different crop positions "
                f"in {AUGMENT_DRAWS} calls, at least {MIN_CROP_POSITIONS} expected")
        angles += angle[angle.abs() >= ROTATED_DEGREES].tolist()
    if not angles:
        raise failure(
            "no_rotation", f"none of the {AUGMENT_IMAGES * AUGMENT_DRAWS} augmented images is rotated (by 1 degree or "
            "more): each is best matched by an unrotated 24x24 crop; add a random rotation")
    spread = max(angles) - min(angles)
    if not (len(angles) == 1 or spread >= MIN_ANGLE_SPREAD):
        raise failure(
            "fixed_angle", f"the rotation must be random: the {len(angles)} rotated images are all turned by about the "
            f"same angle ({min(angles):.0f} to {max(angles):.0f} degrees); draw the angle from a range")
