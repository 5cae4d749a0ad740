"""Per-image random rotation + random crop, batched on the device.

torchvision's ``RandomRotation`` and ``RandomCrop`` draw their parameters once per call: applied to a batch
tensor they rotate and crop every image in it the same way. Applied per image through a DataLoader they are
correct but slow. ``RandomRotateCrop`` draws one angle and one crop offset per image, builds one affine matrix
per image and samples the whole batch with a single ``grid_sample``: torchvision's semantics (uniform angle in
the range, rotation about the centre, black fill, uniform integer crop offsets, nearest or bilinear
interpolation) at batch speed, including a rotation applied only by chance (``RandomApply``) and a crop before
the rotation. ``compile_augmentation`` turns the torchvision transform a student writes into this fast form, or
falls back to applying it image by image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RandomRotateCrop:
    """Rotate each image by its own uniform angle in ``degrees`` and crop it at its own random offset.

    Works on float batches (B, C, H, W) whose background is 0 (images in [0, 1], before normalisation). With
    ``p < 1`` each image is rotated only with chance ``p`` (torchvision's ``RandomApply``); with ``crop_first`` the
    crop comes first and the rotation turns the crop about its own centre (``Compose([RandomCrop, RandomRotation])``).
    """

    degrees: tuple[float, float] = (0.0, 0.0)
    size: int | None = None  # output side; None keeps the input size (rotation only)
    mode: str = "nearest"  # torchvision's RandomRotation default is NEAREST
    p: float = 1.0  # chance that an image is rotated; the crop always happens
    crop_first: bool = False

    def output_size(self, input_size: int) -> int:
        return self.size or input_size

    def sample_params(self, batch: int, input_size: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-image angle (degrees; 0 for an image whose coin says "no rotation") and integer crop offsets
        (top, left), drawn like torchvision does."""
        lo, hi = self.degrees
        angle = torch.rand(batch, device=device) * (hi - lo) + lo
        room = input_size - self.output_size(input_size) + 1
        top = torch.randint(0, room, (batch,), device=device)
        left = torch.randint(0, room, (batch,), device=device)
        if self.p < 1:  # drawn only here, so that p = 1 keeps the random stream (and trained weights) of before
            angle = torch.where(torch.rand(batch, device=device) < self.p, angle, torch.zeros_like(angle))
        return angle, top, left

    def apply(self, images: torch.Tensor, angle: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """Rotate by ``angle`` (counter-clockwise, like torchvision) and crop at (top, left), image by image."""
        batch, channels, height, width = images.shape
        if height != width:
            raise ValueError(f"square images expected, got {height}x{width}")
        out = self.output_size(height)
        if self.crop_first:
            # What lies outside the crop is gone before the rotation (black), so crop first, then rotate the crop.
            no_offset = torch.zeros_like(top)
            return _rotate_window(_crop_each(images, top, left, out), angle, no_offset, no_offset, out, self.mode)
        return _rotate_window(images, angle, top, left, out, self.mode)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        params = self.sample_params(images.shape[0], images.shape[-1], images.device)
        return self.apply(images, *params)


def _crop_each(images: torch.Tensor, top: torch.Tensor, left: torch.Tensor, out: int) -> torch.Tensor:
    """The ``out`` x ``out`` window of each image at its own (top, left), as one gather (no per-image loop)."""
    batch, channels, height, width = images.shape
    steps = torch.arange(out, device=images.device)
    rows = (top[:, None] + steps)[:, :, None]  # (B, out, 1)
    cols = (left[:, None] + steps)[:, None, :]  # (B, 1, out)
    flat_index = (rows * width + cols).reshape(batch, 1, out * out).expand(-1, channels, -1)
    return images.reshape(batch, channels, height * width).gather(2, flat_index).reshape(batch, channels, out, out)


def _rotate_window(images: torch.Tensor, angle: torch.Tensor, top: torch.Tensor, left: torch.Tensor, out: int,
                   mode: str) -> torch.Tensor:
    """Rotate each image about its centre by ``angle`` and take the ``out`` x ``out`` window at (top, left) of the
    result, with one ``grid_sample`` for the whole batch."""
    height = images.shape[-1]
    # Output pixel centres in the input's normalised coordinates (align_corners=False): a crop is a scale
    # out/height plus a shift of (2*offset - (height - out)) / height.
    scale = out / height
    shift_x = (2 * left.to(images.dtype) - (height - out)) / height
    shift_y = (2 * top.to(images.dtype) - (height - out)) / height
    centres = (torch.arange(out, device=images.device, dtype=images.dtype) * 2 + 1) / out - 1
    px = scale * centres[None, None, :] + shift_x[:, None, None]  # (B, 1, out): columns
    py = scale * centres[None, :, None] + shift_y[:, None, None]  # (B, out, 1): rows
    rad = angle.to(images.dtype)[:, None, None] * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    # Sampling location = R(-angle) applied to the rotated image's point (y axis points down); built by
    # broadcasting, which is cheaper here than affine_grid's batched matrix product.
    grid = torch.stack([cos * px - sin * py, sin * px + cos * py], dim=-1)
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


class PerImage:
    """Fallback for transforms the fast path does not know: call the transform on each image in turn."""

    def __init__(self, transform, size: int | None = None):
        self.transform = transform
        self.size = size

    def output_size(self, input_size: int) -> int:
        return self.size or input_size

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(image) for image in images])


@dataclass(frozen=True)
class _Plan:
    """What a recognised transform does: an optional rotation (applied with chance p), an optional crop, and
    whether the crop comes first."""

    rotation: object | None = None
    p: float = 1.0
    crop: object | None = None
    crop_first: bool = False


def _steps(transform) -> list:
    """The transform's steps in order, nested Compose flattened (v1 and v2 alike; transforms are modules, so an
    ``nn.Sequential`` of them is a Compose too)."""
    from torchvision import transforms as v1
    from torchvision.transforms import v2

    if isinstance(transform, (v1.Compose, v2.Compose)):
        return [step for part in transform.transforms for step in _steps(part)]
    if isinstance(transform, torch.nn.Sequential):
        return [step for part in transform for step in _steps(part)]
    return [transform]


def _rotation_in(step) -> tuple[object, float] | None:
    """(RandomRotation, chance of applying it) for a RandomRotation or a RandomApply of exactly one; else None."""
    from torchvision import transforms as v1
    from torchvision.transforms import v2

    if isinstance(step, (v1.RandomRotation, v2.RandomRotation)):
        return step, 1.0
    if isinstance(step, (v1.RandomApply, v2.RandomApply)):
        inner = [s for part in step.transforms for s in _steps(part)]
        if len(inner) == 1 and isinstance(inner[0], (v1.RandomRotation, v2.RandomRotation)):
            return inner[0], float(step.p)
    return None


def _plan(transform) -> _Plan | None:
    """Read a (v1 or v2) transform made of at most one rotation and at most one RandomCrop, in either order;
    None if it is anything else."""
    from torchvision import transforms as v1
    from torchvision.transforms import v2

    plan = _Plan()
    for step in _steps(transform):
        rotation = _rotation_in(step)
        if rotation is not None and plan.rotation is None:
            plan = _Plan(*rotation, crop=plan.crop, crop_first=plan.crop is not None)
        elif isinstance(step, (v1.RandomCrop, v2.RandomCrop)) and plan.crop is None:
            plan = _Plan(plan.rotation, plan.p, step, plan.crop_first)
        else:
            return None
    return plan


def _interpolation_mode(rotation) -> str | None:
    from torchvision.transforms import InterpolationMode

    mode = InterpolationMode(getattr(rotation, "interpolation", InterpolationMode.NEAREST))  # v2 keeps a str
    return {InterpolationMode.NEAREST: "nearest", InterpolationMode.BILINEAR: "bilinear"}.get(mode)


def _fill_is_black(fill) -> bool:
    if fill is None:
        return True
    if isinstance(fill, dict):
        return all(_fill_is_black(v) for v in fill.values())
    values = fill if isinstance(fill, (list, tuple)) else [fill]
    return all(v in (0, None) for v in values)


def compile_augmentation(transform):
    """Return a batch augmentation (callable on (B, C, H, W)) with an ``output_size(input_size)`` method.

    ``None`` stays ``None``. A torchvision transform made of a RandomRotation (possibly inside RandomApply) and/or a
    RandomCrop, in either order, v1 or v2, with the fast path's semantics becomes a ``RandomRotateCrop``; anything
    else is applied image by image, which is correct but slower. The output size of an unknown transform is read
    from one sample image at training time.
    """
    if transform is None or isinstance(transform, (RandomRotateCrop, PerImage)):
        return transform
    plan = _plan(transform)
    if plan is not None and _fast_path_fits(plan):
        rotation, crop = plan.rotation, plan.crop
        return RandomRotateCrop(
            degrees=tuple(float(d) for d in rotation.degrees) if rotation else (0.0, 0.0),
            size=int(crop.size[0]) if crop else None,
            mode=_interpolation_mode(rotation) if rotation else "nearest",
            p=plan.p,
            crop_first=plan.crop_first,
        )
    return PerImage(transform)


def _fast_path_fits(plan: _Plan) -> bool:
    """Whether RandomRotateCrop reproduces the plan: rotation about the centre, same size, black fill, nearest or
    bilinear; a square crop without padding."""
    rotation, crop = plan.rotation, plan.crop
    if rotation is not None and (
        _interpolation_mode(rotation) is None
        or rotation.expand
        or rotation.center is not None
        or not _fill_is_black(rotation.fill)
    ):
        return False
    if crop is not None:
        crop_h, crop_w = crop.size
        if crop_h != crop_w or crop.padding or crop.pad_if_needed:
            return False
    return True


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size`` x ``size`` window of a batch (the test-time input of the augmented condition)."""
    height = images.shape[-1]
    if size == height:
        return images
    start = (height - size) // 2
    return images[..., start: start + size, start: start + size]
