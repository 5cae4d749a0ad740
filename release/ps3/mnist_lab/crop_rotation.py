"""What counts as "a 24x24 crop of a rotation of its image" in problem 5(c) (rule 2 of the notebook): every 24x24 crop
of every rotation of a 28x28 image, and every rotation of every crop of it, at 1-degree steps, nearest and bilinear,
and how far a result is from the closest of them.

The grader judges the recorded draws with these very functions (autograder/judge/checks/augmentation.py); the
notebook's visible test runs them on a few images, so a student sees the grader's message before handing in.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

SIDE, CROP = 28, 24
OFFSETS = SIDE - CROP + 1  # crop offsets 0..4 along each axis: 25 crop positions
# 1-degree steps are accurate enough: a rotation halfway between two steps stays under 0.02 from the nearer one
# (mean absolute difference, measured on MNIST digits), half the tolerance. Smallest angles first, so that among
# equally good matches the smallest rotation wins (a tiny nearest-neighbour rotation can leave an image unchanged).
ANGLES = torch.tensor(sorted(range(-180, 180), key=lambda a: (abs(a), a)), dtype=torch.float32)
MODES = ("nearest", "bilinear")  # torchvision's two usual interpolations; both are tried
MATCH_TOLERANCE = 0.04  # mean absolute pixel difference (images in [0, 1]) to the nearest rotation and crop
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


def crop_or_rotation_problem(draws: torch.Tensor, image: torch.Tensor) -> str | None:
    """Rule 2 for the (D, 24, 24) ``draws`` of one (28, 28) ``image``: None when each is close enough to a crop of a
    rotation (or a rotation of a crop), else the grader's message."""
    error = best_matches(draws, image)[0]
    if (error <= MATCH_TOLERANCE).all():
        return None
    return ("an augmented image is neither a 24x24 crop of a rotation of its input nor a rotation of a 24x24 crop "
            f"of it (closest match off by {error.max().item():.3f} per pixel, allowed {MATCH_TOLERANCE})")
