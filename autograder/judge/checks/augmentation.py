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
import functools
import math

import torch
import torch.nn.functional as F

from autograder.judge.decode import decode_array
from autograder.mistakes import failure, raised
from autograder.text import ERROR_LIMIT, quote
from mnist_lab.handin import AUGMENT_DRAWS, AUGMENT_IMAGES, augmentation_images

SIDE, CROP = 28, 24
OFFSETS = SIDE - CROP + 1  # crop offsets 0..4 along each axis: 25 crop positions
# 1-degree steps are accurate enough: a rotation halfway between two steps stays under 0.02 from the nearer one
# (mean absolute difference, measured on MNIST digits), half the tolerance. Smallest angles first, so that among
# equally good matches the smallest rotation wins (a tiny nearest-neighbour rotation can leave an image unchanged).
ANGLES = torch.tensor(sorted(range(-180, 180), key=lambda a: (abs(a), a)), dtype=torch.float32)
MODES = ("nearest", "bilinear")  # torchvision's two usual interpolations; both are tried
MATCH_TOLERANCE = 0.04  # mean absolute pixel difference (images in [0, 1]) to the nearest rotation and crop
ROTATED_DEGREES = 1.0  # a draw whose best match is rotated by at least this much counts as rotated
MIN_DISTINCT, MIN_CROP_POSITIONS = 10, 3  # per image, among its 24 draws
MIN_ANGLE_SPREAD = 3.0  # degrees between the largest and smallest angle of the rotated draws
SHORTLIST = 16  # candidates per draw kept by squared distance (one matrix product) and then judged exactly


@functools.lru_cache(maxsize=None)
def _rotation_grid(side: int) -> torch.Tensor:
    """Where each output pixel samples from, for every angle of ANGLES: (len(ANGLES), side, side, 2)."""
    centres = (torch.arange(side, dtype=torch.float32) * 2 + 1) / side - 1  # pixel centres, align_corners=False
    x, y = centres[None, None, :], centres[None, :, None]
    rad = ANGLES[:, None, None] * (math.pi / 180)
    cos, sin = torch.cos(rad), torch.sin(rad)
    return torch.stack([cos * x - sin * y, sin * x + cos * y], dim=-1)


def rotations(images: torch.Tensor, mode: str) -> torch.Tensor:
    """Each of the (N, S, S) images rotated by every angle of ANGLES: (len(ANGLES), N, S, S).

    torchvision's TF.rotate (counter-clockwise about the image centre, same size, black fill), written out so
    that all angles share one grid_sample instead of one call each; tests compare it with TF.rotate."""
    grid = _rotation_grid(images.shape[-1])
    batch = images[None].expand(len(grid), -1, -1, -1)  # the images ride along as channels
    return F.grid_sample(batch, grid, mode=mode, padding_mode="zeros", align_corners=False)


def all_crops(images: torch.Tensor) -> torch.Tensor:
    """Every 24x24 crop of (..., 28, 28) images as a view: (..., 5, 5, 24, 24), indexed [top, left]."""
    return images.unfold(-2, CROP, 1).unfold(-2, CROP, 1)


class Candidates:
    """Every 24x24 crop of every rotation of one (28, 28) image ("rotate, then crop") and every rotation of every
    crop of it ("crop, then rotate"), for each interpolation mode.

    A candidate's number orders them as (angle, order, mode, crop position = top * 5 + left), angles outermost
    and smallest first. The 36000 candidates are never copied into one table: distances come from the rotated
    stacks directly, and only the few closest candidates are cut out as pixels."""

    PER_ANGLE = 2 * len(MODES) * OFFSETS * OFFSETS

    def __init__(self, image: torch.Tensor):
        crops = all_crops(image).reshape(OFFSETS * OFFSETS, CROP, CROP)
        self.rotated = [rotations(image[None], mode)[:, 0] for mode in MODES]  # (A, 28, 28) per mode
        self.rotated_crops = [rotations(crops, mode) for mode in MODES]  # (A, 25, 24, 24) per mode

    def distances(self, draws: torch.Tensor) -> torch.Tensor:
        """Squared distance of each (24, 24) draw to every candidate, up to a per-draw constant: (D, 36000)."""
        flat = draws.reshape(len(draws), -1)
        by_order = [[], []]
        for rotated, rotated_crops in zip(self.rotated, self.rotated_crops):
            # Rotate, then crop: the products with every crop are a correlation of the draw over the image.
            dots = F.conv2d(rotated[:, None], draws[:, None]).flatten(2).permute(1, 0, 2)  # (D, A, 25)
            norms = F.avg_pool2d(rotated[:, None].pow(2), CROP, stride=1).flatten(1) * CROP * CROP  # (A, 25)
            by_order[0].append(norms - 2 * dots)
            table = rotated_crops.flatten(2)  # (A, 25, 576), a view
            dots = (flat @ table.reshape(-1, CROP * CROP).T).reshape(len(draws), *table.shape[:2])
            by_order[1].append(table.pow(2).sum(-1) - 2 * dots)
        return torch.stack([torch.stack(modes, 2) for modes in by_order], 2).flatten(1)  # (D, A, order, mode, 25)

    def pixels(self, number: torch.Tensor) -> torch.Tensor:
        """The candidates with the given numbers (any shape), as (..., 24, 24) images."""
        angle, rest = number // self.PER_ANGLE, number % self.PER_ANGLE
        crop_first, mode, position = rest // (len(MODES) * 25), (rest // 25) % len(MODES), rest % 25
        top, left = position // OFFSETS, position % OFFSETS
        by_mode = [
            torch.where(crop_first[..., None, None] == 1, rotated_crops[angle, position],
                        all_crops(rotated)[angle, top, left])
            for rotated, rotated_crops in zip(self.rotated, self.rotated_crops)
        ]
        return torch.where(mode[..., None, None] == 0, *by_mode)


def best_matches(draws: torch.Tensor, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each (24, 24) draw of the (28, 28) image: the mean absolute difference to its closest candidate, that
    candidate's angle and its crop position (on ties, the candidate with the smallest angle)."""
    candidates = Candidates(image)
    # Squared distances rank all candidates with matrix products; the exact (absolute) difference is then
    # computed only for the closest few, which keeps the full angle range fast.
    shortlist = candidates.distances(draws).topk(SHORTLIST, largest=False).indices.sort(1).values
    error = (draws[:, None] - candidates.pixels(shortlist)).abs().mean((-1, -2))  # (D, SHORTLIST)
    best = error.min(1).values
    first_best = torch.where(error <= best[:, None], shortlist, shortlist.max() + 1).min(1).values
    return best, ANGLES[first_best // Candidates.PER_ANGLE], first_best % (OFFSETS * OFFSETS)


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
            raise failure(
                "not_crop_or_rotation", "an augmented image is neither a 24x24 crop of a rotation of its input nor a "
                f"rotation of a 24x24 crop of it (closest match off by {error.max().item():.3f} per pixel, allowed "
                f"{MATCH_TOLERANCE})")
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
