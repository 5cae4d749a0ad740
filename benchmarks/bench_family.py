"""Measure the accuracy floor of problem 5: train a family of VALID networks (tests/valid_networks.py) the way the
grader does, through the lab's ``run_budget_experiment`` with the reference augmentation, over several seeds.

Every member trains the six runs (budgets 10000 x 6, 20000 x 3, 30000 x 2; plain and augmented) per seed. The
grader trains with seed 0 only, so the spread over seeds is what a fair floor must leave room for. The other side
of the margin is a network that ignores its input (the reference fed ``x * 0``), trained for the first seed.

    python benchmarks/bench_family.py                           # every member, seeds 0-4 (~15 min, 2-core CPU)
    python benchmarks/bench_family.py --members tiny1 c4_8x8 --seeds 0 1
    python benchmarks/bench_family.py --quick --members relu    # 2560 examples x 2 epochs, seed 0: a smoke test

Writes benchmarks/results/family-<label>.json (every run's accuracy, per member min/mean, device, torch, time),
rewritten after each member so an interrupted run keeps what it measured, and prints a table.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn as nn

from mnist_lab import TrainConfig, resolve_device, run_budget_experiment
from mnist_lab.train import default_threads
from solutions.problem5 import build_cnn as build_reference
from solutions.problem5 import make_augmentation as make_augmentation_reference

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the family lives with the tests that will train its hardest members
import valid_networks  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
QUICK_BUDGETS, QUICK_EPOCHS = (2560,), 2  # 40 steps per run: checks the plumbing, says nothing about accuracy


class IgnoresInput(nn.Module):
    """The reference network fed zeros: it can only learn the most frequent class (about 11%)."""

    def __init__(self, input_size=28):
        super().__init__()
        self.net = build_reference(input_size)

    def forward(self, x):
        return self.net(x * 0)


def run_label(run: dict) -> str:
    return f"{run['condition']} {run['n_examples']}x{run['epochs']} seed {run['seed']}"


def train_member(build, seeds, config: TrainConfig, quick: bool) -> list[dict]:
    """Every run of one builder: accuracy and training time per condition x budget x seed."""
    budget_kw = {"budgets": QUICK_BUDGETS} if quick else {}
    epochs_for = (lambda n: QUICK_EPOCHS) if quick else None  # None: the lab's reference epochs
    results = run_budget_experiment(build, epochs_for, make_augmentation_reference, seeds=tuple(seeds),
                                    config=config, use_cache=False, **budget_kw)
    return [{key: run[key] for key in ("condition", "n_examples", "epochs", "seed", "test_accuracy",
                                       "train_seconds")} for run in results["runs"]]


def summarise(runs: list[dict]) -> dict:
    lowest = min(runs, key=lambda run: run["test_accuracy"])
    return {"min": lowest["test_accuracy"], "min_run": run_label(lowest),
            "mean": statistics.fmean(run["test_accuracy"] for run in runs), "count": len(runs)}


def measure(name: str, build, seeds, config: TrainConfig, quick: bool) -> dict:
    """One member's record; a member that cannot train is recorded with its error so the others still run."""
    start = time.perf_counter()
    try:
        runs = train_member(build, seeds, config, quick)
    except Exception as exc:  # noqa: BLE001 - a broken member must not cost the rest of a 15-minute run
        traceback.print_exc(limit=3)
        return {"error": f"{type(exc).__name__}: {exc}"[:500], "seconds": time.perf_counter() - start}
    return {"runs": runs, **summarise(runs), "seconds": time.perf_counter() - start}


def print_row(name: str, geometry: str, record: dict) -> None:
    if "error" in record:
        print(f"{name:<15} {geometry:<15} FAILED: {record['error'][:90]}", flush=True)
        return
    print(f"{name:<15} {geometry:<15} {100 * record['min']:>6.2f}  {record['min_run']:<28} "
          f"{100 * record['mean']:>6.2f} {record['seconds']:>6.0f}", flush=True)


def device_name(device: torch.device, threads: int) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {threads} threads"


def print_summary(report: dict) -> None:
    measured = {name: rec for name, rec in report["members"].items() if "error" not in rec}
    if measured:
        name, lowest = min(measured.items(), key=lambda item: item[1]["min"])
        print(f"\nlowest run of the family: {100 * lowest['min']:.2f}% ({name}, {lowest['min_run']}) "
              f"over {sum(rec['count'] for rec in measured.values())} runs")
        report["overall_min"] = {"member": name, "accuracy": lowest["min"], "run": lowest["min_run"]}
    blind = report.get("ignores_input")
    if blind and "error" not in blind:
        best = max(run["test_accuracy"] for run in blind["runs"])
        print(f"network that ignores its input: {100 * best:.2f}% at best over its {blind['count']} runs")
    failed = sorted(set(report["members"]) - set(measured))
    if failed:
        print(f"FAILED to train: {', '.join(failed)}")
    print(f"wall time {report['wall_s']:.0f} s; written to {report['path']}")


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", nargs="+", choices=valid_networks.member_names(), metavar="NAME",
                        help=f"default: all of {', '.join(valid_networks.member_names())}")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="CPU threads (default: the lab's, every core)")
    parser.add_argument("--quick", action="store_true",
                        help=f"budgets {QUICK_BUDGETS} x {QUICK_EPOCHS} epochs and the first seed only")
    parser.add_argument("--skip-ignores-input", action="store_true", help="do not train the input-blind network")
    parser.add_argument("--label", help="results file family-<label>.json (default: the device, '-quick' added)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    device = resolve_device(args.device)
    seeds = args.seeds[:1] if args.quick else args.seeds
    threads = args.threads or default_threads()
    # progress off: a bar per run would bury the table; threads only when asked (the lab honours MNIST_LAB_THREADS)
    config = TrainConfig(progress=False, device=str(device), **({"threads": args.threads} if args.threads else {}))
    names = args.members or valid_networks.member_names()
    label = args.label or device.type + ("-quick" if args.quick else "")
    path = RESULTS / f"family-{label}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)

    valid_networks.self_check(names)  # an invalid member would make the floor meaningless: fail before training
    report = {"device": device_name(device, threads), "torch": torch.__version__, "python": platform.python_version(),
              "seeds": list(seeds), "quick": args.quick, "members": {}, "path": str(path.relative_to(ROOT))}
    print(f"device: {report['device']}; torch {torch.__version__}; seeds {list(seeds)}"
          f"{'; QUICK (accuracies meaningless)' if args.quick else ''}\n")
    print(f"{'member':<15} {'geometry':<15} {'min %':>6}  {'(run)':<28} {'mean %':>6} {'s':>6}")
    start = time.perf_counter()
    for name in names:
        _, geometry, _, _ = valid_networks.FAMILY[name]
        report["members"][name] = measure(name, valid_networks.MEMBERS[name], seeds, config, args.quick)
        print_row(name, geometry, report["members"][name])
        report["wall_s"] = time.perf_counter() - start
        path.write_text(json.dumps(report, indent=2))
    if not args.skip_ignores_input:
        report["ignores_input"] = measure("ignores_input", IgnoresInput, seeds[:1], config, args.quick)
        print_row("ignores_input", "x * 0", report["ignores_input"])
    report["wall_s"] = time.perf_counter() - start
    print_summary(report)
    path.write_text(json.dumps(report, indent=2))
    return 1 if any("error" in rec for rec in report["members"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
