"""Benchmark: problem 5(c)'s training with augmentations the lab applies image by image, against the plain
rotation + crop pair it batches, on an idle machine and beside a second grading process.

The styles are the acceptance cohort's own answers (tests/cohort.py: the plain pair, a PIL round trip, a v2
pipeline with ToImage/ToDtype, a class with ``__call__`` rotating with affine_grid, a padded crop) plus a
RandomResizedCrop. Each trains the reference network as a graded submission does with the default two workers
on two cores (one thread, ``TrainConfig(threads=1)``) for ``--images`` augmented images (one run of 10000 x 1 by
default), and the time is scaled to (c)'s hidden test: three runs of 60000 images each (10000 x 6, 20000 x 3,
30000 x 2), 180000 images in all. "Busy" repeats the measurement while another process trains with a per-image
augmentation on one thread without pause (the second submission of a batch).

    python benchmarks/bench_augmentation.py [--images 10000] [--json out.json]

Prints per style and condition the seconds for the images, the projected seconds of (c)'s training, and the ratio
to the plain pair measured in the same condition.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import textwrap
import time
from pathlib import Path

import torch
from torchvision import transforms

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "source" / "ps3")]

import cohort  # noqa: E402 - the cohort's answers, as students wrote them
from mnist_lab import TrainConfig, train_model  # noqa: E402
from mnist_lab.augment import PerImage, compile_augmentation  # noqa: E402
from solutions.problem5 import build_cnn  # noqa: E402

IMAGES_OF_C = 10000 * 6 + 20000 * 3 + 30000 * 2  # (c)'s hidden test: three runs, same steps each
RESIZED_CROP = cohort.ok("make_augmentation", '''
    return transforms.Compose([transforms.RandomRotation(15), transforms.RandomResizedCrop(24, scale=(0.8, 1.0))])
''')
STYLES = {
    "plain pair (batched)": cohort.AUG_V1,
    "PIL round trip": cohort.AUG_PIL,
    "v2 ToImage/ToDtype": cohort.AUG_V2_PIPELINE,
    "class, affine_grid": cohort.AUG_AFFINE_CLASS,
    "padded crop": cohort.AUG_PADDED_CROP,
    "RandomResizedCrop": RESIZED_CROP,
}


def make_augmentation(answer) -> object:
    """The student's make_augmentation() with the notebook's names (torch, nn, transforms) in scope."""
    scope = {"torch": torch, "nn": torch.nn, "transforms": transforms}
    exec("def make_augmentation():\n" + textwrap.indent(answer.code, "    "), scope)
    return scope["make_augmentation"]()


def train_seconds(answer, images: int) -> float:
    torch.manual_seed(0)
    model = build_cnn(24)
    start = time.perf_counter()
    train_model(model, images, 1, make_augmentation(answer), TrainConfig(threads=1, progress=False))
    return time.perf_counter() - start


def _keep_busy(stop) -> None:
    """A second submission: training with a per-image augmentation, one thread, until told to stop."""
    torch.set_num_threads(1)
    while not stop.is_set():
        train_seconds(cohort.AUG_PIL, 2000)


def measure(images: int) -> dict:
    rows = {}
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch thread pool inherited by fork
    for condition in ("idle", "busy"):
        stop = spawn.Event()
        other = None
        if condition == "busy":
            other = spawn.Process(target=_keep_busy, args=(stop,), daemon=True)
            other.start()
            time.sleep(15)  # its imports and data loading done: it trains
        for name, answer in STYLES.items():
            seconds = train_seconds(answer, images)
            rows[f"{condition}: {name}"] = {
                "condition": condition, "style": name, "images": images, "seconds": round(seconds, 2),
                "projected_c_seconds": round(seconds * IMAGES_OF_C / images, 1),
                "per_image": isinstance(compile_augmentation(make_augmentation(answer)), PerImage)}
            print(f"{condition:5} {name:24} {seconds:7.1f} s for {images} images -> (c) about "
                  f"{rows[f'{condition}: {name}']['projected_c_seconds']:6.0f} s", flush=True)
        if other is not None:
            stop.set()
            other.join(timeout=120)
            other.kill()
    for row in rows.values():
        plain = rows[f"{row['condition']}: plain pair (batched)"]["seconds"]
        row["ratio_to_plain"] = round(row["seconds"] / plain, 2)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000, help="augmented images per measurement")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = measure(args.images)
    print(f"\n{'condition':9} {'style':24} {'ratio':>6} {'(c) s':>7}")
    for row in rows.values():
        print(f"{row['condition']:9} {row['style']:24} {row['ratio_to_plain']:6.2f} {row['projected_c_seconds']:7.0f}")
    if args.json:
        args.json.write_text(json.dumps({"cores": torch.get_num_threads(), "rows": list(rows.values())}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
