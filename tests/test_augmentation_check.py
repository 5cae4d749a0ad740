"""Problem 5c's grader check (autograder/checks/augmentation.py) on what the hidden test records: every faithful
reading of "random rotations and random 24x24 crops" passes, each broken one fails with its own message."""

import pytest
import torch
import torchvision.transforms.functional as TF
from torchvision import transforms as v1
from torchvision.transforms import v2

from autograder.judge.checks import augmentation as check
from mnist_lab import handin
from mnist_lab.augment import RandomRotateCrop, compile_augmentation
from mnist_lab.handin import AUGMENT_DRAWS, augmentation_images, encode_array

SEED = 4242
BILINEAR = v1.InterpolationMode.BILINEAR


def recorded(make_augmentation, tmp_path, monkeypatch) -> dict:
    """What the hidden test records for this augmentation (the in-kernel assertions aside)."""
    from autograder.judge.decode import read_record

    monkeypatch.setenv(handin.HANDIN_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(handin.SEED_ENV, str(SEED))
    try:
        handin.augmentation("p5c_tests", make_augmentation)
    except AssertionError:
        pass
    return read_record(tmp_path / "p5c_tests--augmentation.json")


def record_of(outputs: torch.Tensor) -> dict:
    return {"outputs": encode_array(outputs)}


ACCEPTED = {
    "reference": lambda: v1.Compose([v1.RandomRotation(15), v1.RandomCrop(24)]),
    "rotate-some": lambda: v1.Compose([v1.RandomApply([v1.RandomRotation(15)], p=0.5), v1.RandomCrop(24)]),
    "rotate-few": lambda: v1.Compose([v1.RandomApply([v1.RandomRotation(15)], p=0.2), v1.RandomCrop(24)]),
    "30-degrees": lambda: v1.Compose([v1.RandomRotation(30), v1.RandomCrop(24)]),
    "-10-to-10": lambda: v1.Compose([v1.RandomRotation((-10, 10)), v1.RandomCrop(24)]),
    "180-bilinear": lambda: v1.Compose([v1.RandomRotation(180, interpolation=BILINEAR), v1.RandomCrop(24)]),
    "crop-then-rotate": lambda: v1.Compose([v1.RandomCrop(24), v1.RandomRotation(45)]),
    "v2": lambda: v2.Compose([v2.RandomRotation(15), v2.RandomCrop(24)]),
    "v2-rotate-some": lambda: v2.Compose([v2.RandomApply([v2.RandomRotation(20)], p=0.5), v2.RandomCrop(24)]),
    "v2-crop-then-rotate": lambda: v2.Compose([v2.RandomCrop(24), v2.RandomRotation(30, interpolation=BILINEAR)]),
    "through-PIL": lambda: v1.Compose([v1.ToPILImage(), v1.RandomRotation(15), v1.RandomCrop(24), v1.ToTensor()]),
    "sequential": lambda: torch.nn.Sequential(v1.RandomRotation(15), v1.RandomCrop(24)),
}


@pytest.mark.parametrize("name", ACCEPTED)
def test_faithful_augmentations_pass(name, tmp_path, monkeypatch):
    check.check_augmentation(recorded(ACCEPTED[name], tmp_path, monkeypatch), SEED)


REJECTED = {
    "padded-crop": (lambda: v1.Compose([v1.RandomRotation(15), v1.RandomCrop(24, padding=2)]), "neither a 24x24 crop"),
    "crop-only": (lambda: v1.RandomCrop(24), "rotated"),
    "center-crop": (lambda: v1.CenterCrop(24), "differently"),
    "rotation-only": (lambda: v1.RandomRotation(15), "24x24"),
    "rotation-and-center-crop": (lambda: v1.Compose([v1.RandomRotation(15), v1.CenterCrop(24)]), "crop position"),
    "resized-not-cropped": (lambda: v1.Compose([v1.RandomRotation(15), v1.Resize(24)]), "crop of a rotation"),
    "flipped": (lambda: v1.Compose([v1.RandomHorizontalFlip(1.0), v1.RandomCrop(24)]), "crop of a rotation"),
    "random-resized-crop": (lambda: v1.RandomResizedCrop(24, scale=(0.5, 1.0)), "crop of a rotation"),
    "fixed-angle": (lambda: v1.Compose([v1.RandomRotation((10, 10)), v1.RandomCrop(24)]), "must be random"),
    "fixed-angle-some": (lambda: v1.Compose([v1.RandomApply([v1.RandomRotation((-20, -20))], p=0.5),
                                             v1.RandomCrop(24)]), "must be random"),
}


@pytest.mark.parametrize("name", REJECTED)
def test_broken_augmentations_fail_with_their_own_message(name, tmp_path, monkeypatch):
    make_augmentation, message = REJECTED[name]
    with pytest.raises(AssertionError, match=message):
        check.check_augmentation(recorded(make_augmentation, tmp_path, monkeypatch), SEED)


def unrotated_draws(seed: int) -> torch.Tensor:
    """24 random-crop draws of each grader image, none rotated: (4, 24, 1, 24, 24)."""
    generator = torch.Generator().manual_seed(seed)
    offsets = torch.randint(0, 5, (len(augmentation_images(seed)), AUGMENT_DRAWS, 2), generator=generator)
    return torch.stack([
        torch.stack([TF.crop(image, int(t), int(l), 24, 24) for t, l in image_offsets])
        for image, image_offsets in zip(augmentation_images(seed), offsets)
    ])


def test_one_visibly_rotated_draw_in_96_is_enough():
    outputs = unrotated_draws(SEED)
    with pytest.raises(AssertionError, match="none of the 96 augmented images is rotated"):
        check.check_augmentation(record_of(outputs), SEED)
    image = augmentation_images(SEED)[2]
    outputs[2, 7] = TF.crop(TF.rotate(image, 5.0), 1, 3, 24, 24)
    check.check_augmentation(record_of(outputs), SEED)


def test_a_rotation_too_small_to_change_a_pixel_does_not_count():
    """Nearest-neighbour rotation by 1 degree leaves a centred digit as it was: it is no visible rotation."""
    outputs = unrotated_draws(SEED)
    image = augmentation_images(SEED)[0]
    outputs[0, 0] = TF.crop(TF.rotate(image, 1.0), 2, 2, 24, 24)
    with pytest.raises(AssertionError, match="rotated"):
        check.check_augmentation(record_of(outputs), SEED)


@pytest.mark.parametrize("aug", [
    RandomRotateCrop(degrees=(-15.0, 15.0), size=24, p=0.5),
    RandomRotateCrop(degrees=(-45.0, 45.0), size=24, crop_first=True),
    RandomRotateCrop(degrees=(-180.0, 180.0), size=24, mode="bilinear", p=0.7, crop_first=True),
], ids=["sometimes", "crop-first", "full-circle"])
def test_the_labs_fast_path_passes_the_same_check(aug):
    """What the lab trains on is what the grader accepts."""
    torch.manual_seed(0)
    images = augmentation_images(SEED)
    outputs = torch.stack([aug(image.expand(AUGMENT_DRAWS, -1, -1, -1)) for image in images])
    check.check_augmentation(record_of(outputs), SEED)


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
@pytest.mark.parametrize("side", [28, 24])
def test_the_checks_rotations_are_torchvisions(mode, side):
    """The check rotates by all angles at once; each angle must be exactly TF.rotate (nearest: bar rare ties)."""
    images = augmentation_images(SEED)[:, 0, :side, :side]
    ours = check.rotations(images, mode)
    angles = check.ANGLES.tolist()
    reference = torch.stack([TF.rotate(images, a, interpolation=TF.InterpolationMode(mode)) for a in angles])
    if mode == "nearest":
        assert (ours == reference).float().mean() > 0.9995
    else:
        assert (ours - reference).abs().max() < 1e-4


def test_the_angle_grid_leaves_room_in_the_tolerance():
    """A rotation halfway between two grid angles still matches well within the tolerance, and is found.

    (Not near multiples of 90 degrees: there a crop of a rotation is also a rotation of another crop.)"""
    angles = torch.tensor([-160.5, -44.5, 7.5, 100.5, 133.5])
    for image in augmentation_images(SEED):
        for mode in (TF.InterpolationMode.NEAREST, TF.InterpolationMode.BILINEAR):
            draws = torch.stack([TF.crop(TF.rotate(image, float(a), interpolation=mode), 1, 2, 24, 24)
                                 for a in angles])
            error, angle, position = check.best_matches(draws[:, 0], image[0])
            assert error.max() < check.MATCH_TOLERANCE / 2
            assert ((angle - angles).abs() <= 1).all()
            assert (position == 1 * 5 + 2).all()


def test_compile_handles_the_accepted_forms_without_the_slow_fallback():
    for name in ("reference", "rotate-some", "30-degrees", "crop-then-rotate", "v2", "v2-rotate-some",
                 "v2-crop-then-rotate", "sequential"):
        assert isinstance(compile_augmentation(ACCEPTED[name]()), RandomRotateCrop), name


def visible_tests_of_p5c() -> str:
    """The code students see in the p5c_tests cell (the hidden block removed)."""
    import re

    from autograder.course import source_dir
    from autograder.release import to_notebook

    notebook = to_notebook((source_dir() / "problem5.pct.py").read_text(), "problem5")
    cell = next(c for c in notebook.cells if c.get("id") == "p5c_tests")
    return re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n", "", cell.source, flags=re.S)


def visible_failure(make_augmentation) -> str | None:
    try:
        exec(visible_tests_of_p5c(), {"torch": torch, "make_augmentation": make_augmentation})
    except AssertionError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize("name", ["reference", "rotate-some", "crop-then-rotate", "v2-rotate-some",
                                  "v2-crop-then-rotate"])
def test_the_visible_tests_pass_faithful_augmentations(name):
    assert visible_failure(ACCEPTED[name]) is None


@pytest.mark.parametrize("name", ["crop-only", "center-crop", "rotation-only", "rotation-and-center-crop"])
def test_the_visible_tests_fail_like_the_grader(name, tmp_path, monkeypatch):
    """Each rule the notebook can check cheaply fails there with the grader's own message."""
    make_augmentation = REJECTED[name][0]
    with pytest.raises(AssertionError) as grader:
        check.check_augmentation(recorded(make_augmentation, tmp_path, monkeypatch), SEED)
    assert visible_failure(make_augmentation) == str(grader.value)


@pytest.mark.parametrize("name", ["padded-crop"])
def test_rule_2_fails_in_the_visible_tests_with_the_graders_message(name, tmp_path, monkeypatch):
    """Rule 2 (a crop of a rotation) on two test digits in the notebook: the grader's sentence; only the distance
    it quotes is the visible test's own (other images)."""
    make_augmentation = REJECTED[name][0]
    with pytest.raises(AssertionError) as grader:
        check.check_augmentation(recorded(make_augmentation, tmp_path, monkeypatch), SEED)
    visible = visible_failure(make_augmentation)
    sentence = str(grader.value).split(" (closest match")[0]
    assert sentence.startswith("an augmented image is neither") and visible.startswith(sentence + " (closest match")
