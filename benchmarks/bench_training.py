"""Benchmark: problem 5's six-run experiment with the lab versus the PyTorch-MNIST-example way, side by side.

Both train the same reference network (solutions.problem5) on the same budgets (10000 x 6, 20000 x 3,
30000 x 2; plain and augmented) with the same batch size and optimizer, and test on the 10k test set.
The baseline is written the way pytorch/examples' mnist does it: torchvision's MNIST dataset, a DataLoader,
per-image PIL transforms (ToTensor, Normalize, RandomRotation, RandomCrop) and a plain fp32 eager loop.

    python benchmarks/bench_training.py                 # CPU (or CUDA when present)
    python benchmarks/bench_training.py --device cuda --lab-repeats 3 --json out.json

Prints each implementation's wall time, training images per second and test accuracies, and the ratio.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from mnist_lab import TrainConfig, lab_data, resolve_device, run_budget_experiment
from mnist_lab.data import MNIST_MD5, default_root, find_idx_file, load_mnist
from mnist_lab.experiment import BUDGETS
from mnist_lab.train import MNIST_MEAN, MNIST_STD, default_threads, subset_indices
from solutions.problem5 import build_cnn, epochs_for, make_augmentation


def torchvision_root(tmp: Path) -> Path:
    """A torchvision MNIST folder (MNIST/raw, uncompressed) holding our verified files."""
    load_mnist()  # verify (and fetch) first
    raw = tmp / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_MD5:
        src = find_idx_file(default_root(), name)
        if src.suffix == ".gz":
            with gzip.open(src) as inp, open(raw / name, "wb") as out:
                shutil.copyfileobj(inp, out)
        else:
            (raw / name).symlink_to(src)
    return tmp


def baseline_run(root: Path, n: int, epochs: int, augmented: bool, seed: int, device, config: TrainConfig) -> dict:
    normalise = [transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]
    train_tf = transforms.Compose(([make_augmentation()] if augmented else []) + normalise)
    test_tf = transforms.Compose(([transforms.CenterCrop(24)] if augmented else []) + normalise)
    train_set = Subset(datasets.MNIST(root, train=True, transform=train_tf), subset_indices(n, seed).tolist())
    test_set = datasets.MNIST(root, train=False, transform=test_tf)
    cuda = device.type == "cuda"
    loader_kw = {"num_workers": 1, "pin_memory": True} if cuda else {}  # as in pytorch/examples mnist
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True, drop_last=True, **loader_kw)
    test_loader = DataLoader(test_set, batch_size=1000, **loader_kw)

    torch.manual_seed(seed)
    model = build_cnn(24 if augmented else 28).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=len(train_loader) * epochs,
                                                   cycle_momentum=False)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for x, y in train_loader:
            x, y = x.to(device), y.to(device)
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            schedule.step()
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in test_loader:
            correct += (model(x.to(device)).argmax(1) == y.to(device)).sum().item()
    return {"seconds": time.perf_counter() - start, "images": len(train_loader) * epochs * config.batch_size,
            "test_accuracy": correct / len(test_set)}


def time_baseline(device, config: TrainConfig, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = torchvision_root(Path(tmp))
        start = time.perf_counter()
        runs = [baseline_run(root, n, epochs_for(n), augmented, seed, device, config)
                for augmented in (False, True) for n in BUDGETS]
        wall = time.perf_counter() - start
    return {"wall_s": wall, "images_per_s": sum(r["images"] for r in runs) / wall,
            "accuracies": [r["test_accuracy"] for r in runs]}


def time_lab(device, config: TrainConfig, seed: int) -> dict:
    lab_data(str(device))  # data load is outside the timer, as the baseline's dataset set-up is
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    results = run_budget_experiment(build_cnn, epochs_for, make_augmentation, seeds=(seed,), config=config,
                                    use_cache=False)  # a repeat must train again, not reuse the remembered runs
    wall = time.perf_counter() - start
    images = sum(run["steps"] for run in results["runs"]) * config.batch_size
    return {"wall_s": wall, "images_per_s": images / wall,
            "accuracies": [run["test_accuracy"] for run in results["runs"]]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lab-repeats", type=int, default=1, help="run the lab N times (later runs are warm)")
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    threads = default_threads()
    torch.set_num_threads(threads)
    config = TrainConfig(device=str(device), progress=False, threads=threads, seed=args.seed)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {threads} threads"
    print(f"device: {name}; torch {torch.__version__}; six runs = 3 budgets x plain/augmented, 1 seed\n")

    report = {"device": name, "torch": torch.__version__, "lab": [], "baseline": None}
    for repeat in range(args.lab_repeats):
        report["lab"].append(time_lab(device, config, args.seed))
    if not args.skip_baseline:
        report["baseline"] = time_baseline(device, config, args.seed)

    rows = [(f"lab (run {i + 1})", r) for i, r in enumerate(report["lab"])]
    if report["baseline"]:
        rows.append(("DataLoader baseline", report["baseline"]))
    print(f"{'implementation':<22} {'wall s':>7} {'train img/s':>12}   test accuracy (plain 10k/20k/30k, augmented ...)")
    for label, r in rows:
        print(f"{label:<22} {r['wall_s']:>7.2f} {r['images_per_s']:>12,.0f}   "
              + " ".join(f"{100 * a:.2f}" for a in r["accuracies"]))
    if report["baseline"]:
        best = min(r["wall_s"] for r in report["lab"])
        report["speedup"] = report["baseline"]["wall_s"] / best
        print(f"\nspeed-up of the lab (best run) over the baseline, same run: {report['speedup']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
