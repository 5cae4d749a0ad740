"""The batched augmentation is torchvision's per-image RandomRotation + RandomCrop, only faster: rotation then
crop or crop then rotation, the rotation always or by chance (RandomApply), v1 or v2."""

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


@pytest.mark.parametrize("transform", [
    v1.Compose([v1.RandomRotation(15), v1.RandomCrop(24)]),
    v1.Compose([v1.RandomCrop(24), v1.RandomRotation(45)]),
    v2.Compose([v2.RandomApply([v2.RandomRotation(30)], p=0.5), v2.RandomCrop(24)]),
], ids=["rotate-crop", "crop-rotate", "v2-sometimes-rotate-crop"])
def test_same_distribution_as_torchvision_applied_per_image(digits, transform):
    """Augment one digit 2000 times both ways: centroid and ink statistics agree."""
    image = digits[0]
    torch.manual_seed(2)
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


@pytest.mark.parametrize("module", [v1, v2])
def test_random_apply_and_crop_first_compile_to_the_fast_path(module):
    sometimes = module.RandomApply([module.RandomRotation(15)], p=0.5)
    assert compile_augmentation(module.Compose([sometimes, module.RandomCrop(24)])) == RandomRotateCrop(
        degrees=(-15.0, 15.0), size=24, p=0.5)
    assert compile_augmentation(module.Compose([module.RandomCrop(24), module.RandomRotation(45)])) == RandomRotateCrop(
        degrees=(-45.0, 45.0), size=24, crop_first=True)
    assert compile_augmentation(module.Compose([module.RandomCrop(24), sometimes])) == RandomRotateCrop(
        degrees=(-15.0, 15.0), size=24, p=0.5, crop_first=True)
    nested = module.Compose([module.Compose([sometimes]), module.RandomCrop(24)])
    assert compile_augmentation(nested) == RandomRotateCrop(degrees=(-15.0, 15.0), size=24, p=0.5)
    sequential = torch.nn.Sequential(module.RandomRotation(15), module.RandomCrop(24))  # works like Compose
    assert compile_augmentation(sequential) == RandomRotateCrop(degrees=(-15.0, 15.0), size=24)


@pytest.mark.parametrize("transform", [
    v1.RandomApply([v1.RandomRotation(15), v1.RandomCrop(24)], p=0.5),  # the crop only by chance: size varies
    v1.Compose([v1.RandomRotation(15), v1.RandomRotation(15), v1.RandomCrop(24)]),
    v2.Compose([v2.RandomCrop(24), v2.RandomRotation(15, expand=True)]),
])
def test_other_combinations_stay_per_image(transform):
    assert isinstance(compile_augmentation(transform), PerImage)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("functional", [TF, v2.functional], ids=["v1", "v2"])
def test_crop_then_rotate_matches_torchvision_for_the_same_parameters(digits, mode, functional):
    aug = RandomRotateCrop(degrees=(-180.0, 180.0), size=24, mode=mode, crop_first=True)
    torch.manual_seed(3)
    angle, top, left = aug.sample_params(len(digits), 28, "cpu")
    ours = aug.apply(digits, angle, top, left)
    interpolation = TF.InterpolationMode(mode)
    reference = torch.stack([
        functional.rotate(functional.crop(image, int(t), int(l), 24, 24), float(a), interpolation=interpolation)
        for image, a, t, l in zip(digits, angle, top, left)
    ])
    assert ours.shape == (64, 1, 24, 24)
    if mode == "nearest":  # equal pixel for pixel, bar a rare rounding tie on a pixel boundary
        assert (ours == reference).float().mean() > 0.999
    else:
        assert (ours - reference).abs().max() < 1e-4


@pytest.mark.parametrize("crop_first", [False, True])
def test_random_apply_rotates_each_image_by_its_own_coin(digits, crop_first):
    aug = RandomRotateCrop(degrees=(-15.0, 15.0), size=24, p=0.3, crop_first=crop_first)
    torch.manual_seed(4)
    angle, top, left = aug.sample_params(4000, 28, "cpu")
    unrotated = angle == 0
    assert abs(unrotated.float().mean() - 0.7) < 0.03  # RandomApply(p=0.3): 70% keep their orientation
    assert angle[~unrotated].abs().max() <= 15
    # An image whose coin said "no rotation" is exactly torchvision's plain crop; the others are rotated as usual.
    images = digits.repeat(4, 1, 1, 1)[:200]
    ours = aug.apply(images, angle[:200], top[:200], left[:200])
    plain = torch.stack([TF.crop(im, int(t), int(l), 24, 24) for im, t, l in zip(images, top[:200], left[:200])])
    kept = unrotated[:200]
    assert torch.equal(ours[kept], plain[kept])
    assert not torch.equal(ours[~kept], plain[~kept])


@pytest.mark.parametrize("module", [v1, v2])
def test_random_apply_rotates_as_often_as_torchvision(digits, module):
    """Share of draws that are exactly an unrotated crop, torchvision per image vs the fast path."""
    image = digits[1]
    crops = image.unfold(1, 24, 1).unfold(2, 24, 1).reshape(25, 1, 24, 24)
    transform = module.Compose([module.RandomApply([module.RandomRotation((10, 20))], p=0.4), module.RandomCrop(24)])

    def share_unrotated(outputs):
        return (outputs[:, None] == crops[None]).flatten(2).all(-1).any(-1).float().mean().item()

    torch.manual_seed(5)
    theirs = share_unrotated(torch.stack([transform(image) for _ in range(1000)]))
    ours = share_unrotated(compile_augmentation(transform)(image.expand(1000, -1, -1, -1)))
    assert abs(theirs - 0.6) < 0.05 and abs(ours - 0.6) < 0.05


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
