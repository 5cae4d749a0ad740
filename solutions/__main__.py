"""Run problem 5's budget experiment with the reference answers: python -m solutions experiment --seeds 0 1 2."""

import argparse
import time
from pathlib import Path

from mnist_lab import TrainConfig, run_budget_experiment

from .problem5 import build_cnn, epochs_for, make_augmentation


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m solutions", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    exp = sub.add_parser("experiment", help="train every budget x {plain, augmented} x seed and plot")
    exp.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    exp.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    exp.add_argument("--out", type=Path, default=Path("results"))
    exp.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    config = TrainConfig(device=args.device, progress=not args.no_progress)
    start = time.perf_counter()
    results = run_budget_experiment(
        build_cnn, epochs_for, make_augmentation, seeds=args.seeds, config=config,
        plot_path=args.out / "budget_experiment.png", json_path=args.out / "budget_experiment.json",
    )
    print(f"\n{'condition':<10} {'examples':>8} {'epochs':>6}   test accuracy over {len(args.seeds)} seed(s)")
    for condition, by_budget in results["summary"].items():
        for n, stats in by_budget.items():
            print(f"{condition:<10} {int(n):>8} {results['epochs'][n]:>6}   "
                  f"{100 * stats['mean']:.2f}% (min {100 * stats['min']:.2f}, max {100 * stats['max']:.2f})")
    print(f"\n{len(results['runs'])} runs on {results['environment']['device']} in {time.perf_counter() - start:.1f} s; "
          f"results in {args.out / 'budget_experiment.json'}, plot in {args.out / 'budget_experiment.png'}")


if __name__ == "__main__":
    main()
