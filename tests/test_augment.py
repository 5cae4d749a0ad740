"""The batched augmentation is torchvision's per-image RandomRotation + RandomCrop, only faster."""

import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision import transforms as v1
from torchvision.transforms import v2

from mnist_lab import lab_data
from mnist_lab.augment import PerImage, RandomRotateCrop, center_crop, compile_augmentation


@pytest.fixture(scope="module")
def digits():
    return lab_data("cpu").test_x[:64]


def test_matches_torchvision_rotate_then_crop_for_the_same_parameters(digits):
    aug = RandomRotateCrop(degrees=(-30.0, 30.0), size=24)
    torch.manual_seed(0)
    angle, top, left = aug.sample_params(len(digits), 28, "cpu")
    ours = aug.apply(digits, angle, top, left)
    reference = torch.stack([
        TF.crop(TF.rotate(image, float(a)), int(t), int(l), 24, 24)
        for image, a, t, l in zip(digits, angle, top, left)
    ])
    assert ours.shape == (64, 1, 24, 24)
    # Nearest interpolation: equal pixel for pixel, bar a rare rounding tie on a pixel boundary.
    assert (ours == reference).float().mean() > 0.999


def test_bilinear_rotation_matches_torchvision(digits):
    aug = RandomRotateCrop(degrees=(-20.0, 20.0), size=None, mode="bilinear")
    angle = torch.linspace(-20, 20, len(digits))
    zeros = torch.zeros(len(digits), dtype=torch.long)
    ours = aug.apply(digits, angle, zeros, zeros)
    reference = torch.stack([TF.rotate(im, float(a), TF.InterpolationMode.BILINEAR) for im, a in zip(digits, angle)])
    assert (ours - reference).abs().max() < 1e-4


def test_parameters_are_per_image_and_within_torchvision_bounds():
    aug = RandomRotateCrop(degrees=(-15.0, 15.0), size=24)
    torch.manual_seed(1)
    angle, top, left = aug.sample_params(20000, 28, "cpu")
    assert angle.min() >= -15 and angle.max() <= 15
    # Uniform on [-15, 15]: quartiles near -7.5, 0, 7.5.
    quartiles = torch.quantile(angle, torch.tensor([0.25, 0.5, 0.75]))
    assert torch.allclose(quartiles, torch.tensor([-7.5, 0.0, 7.5]), atol=0.5)
    for offsets in (top, left):  # RandomCrop(24) of 28: integer offsets 0..4, each equally likely
        counts = torch.bincount(offsets, minlength=5)
        assert len(counts) == 5 and (counts > 0.18 * 20000).all() and (counts < 0.22 * 20000).all()


def test_images_differ_within_a_batch(digits):
    same_image = digits[:1].expand(32, -1, -1, -1)
    out = RandomRotateCrop(degrees=(-15.0, 15.0), size=24)(same_image)
    distinct = {tuple(o.flatten().tolist()) for o in out}
    assert len(distinct) > 28  # torchvision's v2 transforms on a batch would give exactly 1


def centroid_and_mass(images):
    rows = torch.arange(images.shape[-1], dtype=torch.float32)
    mass = images.sum(dim=(-1, -2)).flatten()
    y = (images.sum(-1).flatten(1) * rows).sum(1) / mass
    x = (images.sum(-2).flatten(1) * rows).sum(1) / mass
    return torch.stack([x, y, mass], 1)


def test_same_distribution_as_torchvision_applied_per_image(digits):
    """Augment one digit 2000 times both ways: centroid and ink statistics agree."""
    image = digits[0]
    torch.manual_seed(2)
    transform = v1.Compose([v1.RandomRotation(15), v1.RandomCrop(24)])
    theirs = centroid_and_mass(torch.stack([transform(image) for _ in range(2000)]))
    ours = centroid_and_mass(compile_augmentation(transform)(image.expand(2000, -1, -1, -1)))
    assert torch.allclose(ours.mean(0), theirs.mean(0), rtol=0.02)
    assert torch.allclose(ours.std(0), theirs.std(0), rtol=0.15)


@pytest.mark.parametrize("module", [v1, v2])
def test_torchvision_transforms_compile_to_the_fast_path(module):
    fast = compile_augmentation(module.Compose([module.RandomRotation(10), module.RandomCrop(24)]))
    assert fast == RandomRotateCrop(degrees=(-10.0, 10.0), size=24, mode="nearest")
    assert compile_augmentation(module.RandomCrop(24)) == RandomRotateCrop(size=24)
    rotation_only = compile_augmentation(module.RandomRotation((0, 30), interpolation=TF.InterpolationMode.BILINEAR))
    assert rotation_only == RandomRotateCrop(degrees=(0.0, 30.0), mode="bilinear")


def test_unknown_transforms_still_apply_per_image(digits):
    transform = v1.Compose([v1.RandomRotation(15), v1.RandomCrop(24, padding=2)])  # padding: not the fast path
    slow = compile_augmentation(transform)
    assert isinstance(slow, PerImage)
    out = slow(digits[:1].expand(16, -1, -1, -1))
    assert out.shape == (16, 1, 24, 24)
    assert len({tuple(o.flatten().tolist()) for o in out}) > 12


def test_center_crop_takes_the_middle(digits):
    cropped = center_crop(digits, 24)
    assert torch.equal(cropped, digits[..., 2:26, 2:26])
    assert center_crop(digits, 28) is digits
