"""One readable training loop for the small MNIST CNN, fast on a 2-core CPU and on a GPU.

Data lives on the device as tensors (loaded once), batches are gathered by index, augmentation is batched on
the device (see ``augment``), and the recipe is Adam with a one-cycle learning-rate schedule. On CUDA the whole
training step is captured once as a CUDA graph and replayed, since this network is far too small to keep a GPU
busy through eager kernel launches.

Two speed-ups change what the network's own code sees: channels-last memory (``x.view(x.size(0), -1)``, the
most common flatten in tutorials, fails on it) and bf16 autocast (activations in bfloat16). ``choose_speedups``
tries each on a first batch of the run and keeps it only if the forward pass runs and gives the same logits as
plain float32 in the default layout; otherwise the network trains exactly as written, only slower.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import torch
import torch.nn as nn
import torch.nn.functional as F

from .augment import center_crop, compile_augmentation
from .data import load_mnist

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass
class TrainConfig:
    """How to train; the defaults are the measured reference recipe (see README)."""

    batch_size: int = 128  # 10000, 20000, 30000 all leave the same 468 full batches per 60000 samples
    lr: float = 1e-2  # peak learning rate of the one-cycle schedule
    betas: tuple[float, float] = (0.7, 0.9)
    seed: int = 0
    # "auto" picks CUDA when present; graders set MNIST_LAB_DEVICE / MNIST_LAB_THREADS for a whole kernel.
    device: str = field(default_factory=lambda: os.environ.get("MNIST_LAB_DEVICE", "auto"))
    threads: int | None = field(  # CPU threads; None uses every core this process may use
        default_factory=lambda: int(os.environ["MNIST_LAB_THREADS"]) if os.environ.get("MNIST_LAB_THREADS") else None)
    mixed_precision: bool = True  # bf16 autocast where the device runs it natively
    cuda_graphs: bool = True  # capture the training step on CUDA (falls back to eager if capture fails)
    progress: bool = True  # tqdm progress bar
    eval_batch_size: int = 500  # measured fastest on the 2-core CPU (2000 took twice as long)


@dataclass
class RunResult:
    """One training run: what was trained, how well it does on the 10k test set, and how fast it went."""

    n_examples: int
    epochs: int
    steps: int
    seed: int
    augmented: bool
    test_accuracy: float  # fraction of the 10000 test images classified correctly
    final_train_loss: float  # mean loss of the last 50 steps
    train_seconds: float  # training loop only, without evaluation
    images_per_second: float  # training images (sample-steps) per second
    device: str

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' was requested but no CUDA device is available; use 'auto' or 'cpu'")
        _share_the_gpu(device)
    return device


def _share_the_gpu(device: torch.device) -> None:
    """Where a grader shares one GPU among several kernels, it sets MNIST_LAB_GPU_MEMORY_GB: this process's
    caching allocator may then hold at most that much of the GPU, so a training that needs more fails with CUDA's
    out-of-memory error instead of starving the other students' kernels."""
    cap = os.environ.get("MNIST_LAB_GPU_MEMORY_GB")
    if cap:
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, float(cap) * 2**30 / total), device)


def default_threads() -> int:
    """All cores this process may use. Two threads sharing one busy core run small ops far slower than one,
    so whoever runs several trainings at once (the autograder's workers) passes ``threads`` explicitly."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def bf16_native(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(getattr(torch.backends.mkldnn, "is_available", lambda: False)()) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


@dataclass(frozen=True)
class LabData:
    """MNIST as float tensors in [0, 1], shape (N, 1, 28, 28), and int64 labels, on one device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


@lru_cache(maxsize=2)
def lab_data(device: str = "cpu") -> LabData:
    """Load (and cache) MNIST on ``device``: done once per process and device."""
    mnist = load_mnist()

    def images(array):
        return torch.from_numpy(array).to(device).unsqueeze(1).float().div_(255.0)

    def labels(array):
        return torch.from_numpy(array).to(device).long()

    return LabData(images(mnist.train_images), labels(mnist.train_labels),
                   images(mnist.test_images), labels(mnist.test_labels))


def subset_indices(n_examples: int, seed: int) -> torch.Tensor:
    """The first ``n_examples`` of a seeded permutation of the 60000: budgets of one seed are nested."""
    if not 0 < n_examples <= 60000:
        raise ValueError(f"n_examples must be in 1..60000, got {n_examples}")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(60000, generator=generator)[:n_examples]


def _normalise(x: torch.Tensor) -> torch.Tensor:
    return (x - MNIST_MEAN) / MNIST_STD


@dataclass(frozen=True)
class Speedups:
    """What may change under the network's code: channels-last memory and bf16 autocast."""

    channels_last: bool = False
    autocast: bool = False

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


SAME_LOGITS = {"channels_last": 1e-3, "autocast": 5e-2}  # tolerated error, relative to the largest logit


def _gives_same_logits(forward, reference: torch.Tensor, tolerance: float) -> bool:
    try:
        logits = forward()
    except Exception:  # noqa: BLE001 - any failure means: not safe for this network
        return False
    if not isinstance(logits, torch.Tensor) or logits.shape != reference.shape or not logits.is_floating_point():
        return False
    error = (logits.float() - reference.float()).abs().max().item()
    return error <= tolerance * max(reference.float().abs().max().item(), 1e-3)


@torch.no_grad()
def choose_speedups(model: nn.Module, sample: torch.Tensor, device: torch.device,
                    mixed_precision: bool = True, convert: bool = True) -> Speedups:
    """The speed-ups that leave this network's logits unchanged on ``sample`` (a normalised first batch).

    Runs in eval mode (no dropout, batch norm statistics untouched) and draws no random numbers for a network
    whose eval-mode forward draws none, so a seeded run stays the same. With ``convert`` the model's parameters
    are left channels-last exactly when that layout is kept.
    """
    try_autocast = mixed_precision and bf16_native(device)
    if not (convert or try_autocast):
        return Speedups()  # nothing to try: skip the probe's forward pass
    was_training = model.training
    model.eval()
    try:
        try:
            reference = model(sample)
        except Exception:  # noqa: BLE001 - a broken network fails in training, with its own error
            return Speedups()
        channels_last = False
        if convert:
            model.to(memory_format=torch.channels_last)
            channels_last = _gives_same_logits(lambda: model(sample.contiguous(memory_format=torch.channels_last)),
                                               reference, SAME_LOGITS["channels_last"])
            if not channels_last:
                model.to(memory_format=torch.contiguous_format)
        speedups = Speedups(channels_last=channels_last)
        if try_autocast:
            def autocast_forward():
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    return model(speedups.layout(sample))
            speedups = Speedups(channels_last, _gives_same_logits(autocast_forward, reference, SAME_LOGITS["autocast"]))
        return speedups
    finally:
        model.train(was_training)


def materialize(model: nn.Module, input_size: int) -> nn.Module:
    """Give lazy modules (``nn.LazyConv2d``, ``nn.LazyLinear``: the style of "Dive into Deep Learning") their
    weights with one forward pass of zeros in eval mode, before anything reads the parameters (a run's key, the
    optimizer, a copy of the initial weights). The weights are drawn then, from the seeded random stream, as an
    eager module draws them when built. A network without lazy modules is left as it is (no random draw)."""
    from torch.nn.parameter import is_lazy

    lazy = [t for t in [*model.parameters(), *model.buffers()] if is_lazy(t)]
    if not lazy:
        return model
    was_training = model.training
    with torch.no_grad():
        model.eval()(torch.zeros(2, 1, input_size, input_size, device=lazy[0].device))
    model.train(was_training)
    return model


@lru_cache(maxsize=None)
def fused_adam_on_cpu() -> bool:
    """Whether this torch has Adam's fused CPU kernel (one kernel instead of a dozen per-tensor ops per step);
    older releases refuse ``fused=True`` on the CPU, and the lab then uses the plain loop: same updates, slower."""
    try:
        torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


class _Trainer:
    """Holds the model, optimizer and schedule of one run; ``step(idx)`` trains on one batch."""

    def __init__(self, model, data: LabData, augmentation, config: TrainConfig, device, total_steps: int,
                 speedups: Speedups):
        self.model, self.data, self.augmentation = model, data, augmentation
        self.device, self.speedups = device, speedups
        capturable = device.type == "cuda" and config.cuda_graphs
        self.optimizer = torch.optim.Adam(
            model.parameters(),
            lr=torch.tensor(config.lr, device=device) if capturable else config.lr,
            betas=config.betas,
            capturable=capturable,
            fused=(device.type == "cpu" and fused_adam_on_cpu()) or None,
        )
        # cycle_momentum=False keeps Adam's betas as configured (one-cycle would overwrite beta1 every step, and a
        # captured CUDA graph could not follow that: it reads the learning rate from a tensor, but betas are baked in).
        self.schedule = torch.optim.lr_scheduler.OneCycleLR(
            self.optimizer, max_lr=config.lr, total_steps=total_steps, cycle_momentum=False
        )
        self.graph = None
        self.use_graphs = capturable

    def _forward_backward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.data.train_x[idx]
        if self.augmentation is not None:
            x = self.augmentation(x)
        x = self.speedups.layout(_normalise(x))
        # No autocast weight cache: a captured graph must not keep casts from another step.
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.speedups.autocast,
                            cache_enabled=False):
            loss = F.cross_entropy(self.model(x), self.data.train_y[idx])
        self.optimizer.zero_grad(set_to_none=not self.use_graphs)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def _capture(self, idx: torch.Tensor) -> None:
        """Warm up on a side stream, then record one whole step; replays read indices from a static buffer."""
        self.static_idx = idx.clone()
        initial = {k: v.clone() for k, v in self.model.state_dict().items()}
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            for _ in range(3):
                self._forward_backward(self.static_idx)
        torch.cuda.current_stream().wait_stream(stream)
        # The warm-up steps only served the capture: restore the initial weights and a fresh optimizer state
        # (Adam's state starts at zero), in place, since the graph will read these very tensors.
        with torch.no_grad():
            for key, value in self.model.state_dict().items():
                value.copy_(initial[key])
            for state in self.optimizer.state.values():
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_loss = self._forward_backward(self.static_idx)

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        if self.use_graphs:
            try:
                if self.graph is None:
                    self._capture(idx)
                self.static_idx.copy_(idx)
                self.graph.replay()
                loss = self.static_loss.clone()
            except RuntimeError as exc:  # a model that cannot be captured still trains, eagerly
                import warnings

                warnings.warn(f"CUDA graph capture failed ({exc}); training eagerly", stacklevel=2)
                self.use_graphs, self.graph = False, None
                loss = self._forward_backward(idx)
        else:
            loss = self._forward_backward(idx)
        self.schedule.step()
        return loss


@torch.no_grad()
def evaluate(model: nn.Module, input_size: int = 28, device="auto", batch_size: int = 500,
             mixed_precision: bool = True) -> float:
    """Accuracy on the 10000 test images (centre-cropped to ``input_size``)."""
    device = resolve_device(device)
    data = lab_data(str(device))
    # The layout the parameters already have (training kept channels-last only where safe); autocast only
    # where it leaves this network's logits unchanged.
    speedups = choose_speedups(model, _normalise(center_crop(data.test_x[:64], input_size)), device,
                               mixed_precision, convert=False)
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=device)
    for start in range(0, len(data.test_y), batch_size):
        x = _normalise(center_crop(data.test_x[start: start + batch_size], input_size))
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=speedups.autocast):
            logits = model(x)
        correct += (logits.argmax(1) == data.test_y[start: start + batch_size]).sum()
    model.train(was_training)
    return correct.item() / len(data.test_y)


def train_model(model: nn.Module, n_examples: int, epochs: int, augmentation=None,
                config: TrainConfig | None = None, **overrides) -> RunResult:
    """Train ``model`` in place on ``n_examples`` MNIST images for ``epochs`` epochs, then test it.

    ``augmentation`` is a torchvision transform (or a batch augmentation from ``augment``) applied to every
    training image with its own random parameters; the test images are then centre-cropped to its output size.
    Keyword overrides change single fields of ``config`` (``train_model(m, 10000, 6, seed=1, progress=False)``).
    """
    from tqdm.auto import tqdm

    config = TrainConfig(**{**asdict(config or TrainConfig()), **overrides})
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    device = resolve_device(config.device)
    if device.type == "cpu":
        torch.set_num_threads(config.threads or default_threads())
    data = lab_data(str(device))
    augmentation = compile_augmentation(augmentation)
    input_size = 28
    if augmentation is not None:
        input_size = augmentation(data.train_x[:2]).shape[-1]

    materialize(model, input_size)  # lazy modules draw their weights here, from the caller's random stream
    torch.manual_seed(config.seed)  # weights were drawn by the caller; this seeds shuffling and augmentation
    subset = subset_indices(n_examples, config.seed).to(device)
    steps_per_epoch = n_examples // config.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"n_examples={n_examples} is smaller than one batch ({config.batch_size})")
    total = steps_per_epoch * epochs
    model.to(device=device).train()
    sample = _normalise(center_crop(data.train_x[subset[:64]], input_size))  # no random draws: seeds stay as they were
    speedups = choose_speedups(model, sample, device, config.mixed_precision)
    trainer = _Trainer(model, data, augmentation, config, device, total, speedups)

    losses = []
    bar = tqdm(total=total, desc=f"{n_examples} x {epochs}{' aug' if augmentation else ''}",
               disable=not config.progress, leave=False)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(epochs):
        order = subset[torch.randperm(n_examples, device=device)]
        for batch in order[: steps_per_epoch * config.batch_size].view(steps_per_epoch, config.batch_size):
            losses.append(trainer.step(batch))
            bar.update()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    bar.close()
    final_loss = torch.stack(losses[-50:]).float().mean().item()
    accuracy = evaluate(model, input_size, device, config.eval_batch_size, config.mixed_precision)
    return RunResult(n_examples, epochs, total, config.seed, augmentation is not None, accuracy,
                     final_loss, seconds, total * config.batch_size / seconds, str(device))
