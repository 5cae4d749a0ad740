"""Per-image random rotation + random crop, batched on the device.

torchvision's ``RandomRotation`` and ``RandomCrop`` draw their parameters once per call: applied to a batch
tensor they rotate and crop every image in it the same way. Applied per image through a DataLoader they are
correct but slow. ``RandomRotateCrop`` draws one angle and one crop offset per image, builds one affine matrix
per image and samples the whole batch with a single ``affine_grid``/``grid_sample``: torchvision's semantics
(uniform angle in the range, rotation about the centre, black fill, uniform integer crop offsets, nearest or
bilinear interpolation) at batch speed. ``compile_augmentation`` turns the torchvision transform a student
writes into this fast form, or falls back to applying it image by image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RandomRotateCrop:
    """Rotate each image by its own uniform angle in ``degrees``, then crop it at its own random offset.

    Works on float batches (B, C, H, W) whose background is 0 (images in [0, 1], before normalisation).
    """

    degrees: tuple[float, float] = (0.0, 0.0)
    size: int | None = None  # output side; None keeps the input size (rotation only)
    mode: str = "nearest"  # torchvision's RandomRotation default is NEAREST

    def output_size(self, input_size: int) -> int:
        return self.size or input_size

    def sample_params(self, batch: int, input_size: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-image angle (degrees) and integer crop offsets (top, left), drawn like torchvision does."""
        lo, hi = self.degrees
        angle = torch.rand(batch, device=device) * (hi - lo) + lo
        room = input_size - self.output_size(input_size) + 1
        top = torch.randint(0, room, (batch,), device=device)
        left = torch.randint(0, room, (batch,), device=device)
        return angle, top, left

    def apply(self, images: torch.Tensor, angle: torch.Tensor, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
        """Rotate by ``angle`` (counter-clockwise, like torchvision) and crop at (top, left), image by image."""
        batch, channels, height, width = images.shape
        if height != width:
            raise ValueError(f"square images expected, got {height}x{width}")
        out = self.output_size(height)
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
        return F.grid_sample(images, grid, mode=self.mode, padding_mode="zeros", align_corners=False)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        params = self.sample_params(images.shape[0], images.shape[-1], images.device)
        return self.apply(images, *params)


class PerImage:
    """Fallback for transforms the fast path does not know: call the transform on each image in turn."""

    def __init__(self, transform, size: int | None = None):
        self.transform = transform
        self.size = size

    def output_size(self, input_size: int) -> int:
        return self.size or input_size

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(image) for image in images])


def _rotation_and_crop(transform) -> tuple[object | None, object | None] | None:
    """Split a Compose of RandomRotation and/or RandomCrop (v1 or v2) into its two parts; None if it is not one."""
    from torchvision import transforms as v1
    from torchvision.transforms import v2

    parts = list(getattr(transform, "transforms", [transform]))
    rotation = crop = None
    for part in parts:
        if isinstance(part, (v1.RandomRotation, v2.RandomRotation)) and rotation is None and crop is None:
            rotation = part
        elif isinstance(part, (v1.RandomCrop, v2.RandomCrop)) and crop is None:
            crop = part
        else:
            return None
    return rotation, crop


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

    ``None`` stays ``None``. A torchvision RandomRotation and/or RandomCrop with the fast path's semantics becomes
    a ``RandomRotateCrop``; anything else is applied image by image, which is correct but slower. The output size
    of an unknown transform is read from one sample image at training time.
    """
    if transform is None or isinstance(transform, (RandomRotateCrop, PerImage)):
        return transform
    parts = _rotation_and_crop(transform)
    if parts is not None:
        rotation, crop = parts
        fast = True
        degrees, mode, size = (0.0, 0.0), "nearest", None
        if rotation is not None:
            degrees = tuple(float(d) for d in rotation.degrees)
            mode = _interpolation_mode(rotation)
            fast &= (
                mode is not None
                and not rotation.expand
                and rotation.center is None
                and _fill_is_black(rotation.fill)
            )
        if crop is not None:
            crop_h, crop_w = crop.size
            size = int(crop_h)
            fast &= crop_h == crop_w and not crop.padding and not crop.pad_if_needed
        if fast:
            return RandomRotateCrop(degrees=degrees, size=size, mode=mode)
    return PerImage(transform)


def center_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size`` x ``size`` window of a batch (the test-time input of the augmented condition)."""
    height = images.shape[-1]
    if size == height:
        return images
    start = (height - size) // 2
    return images[..., start: start + size, start: start + size]
