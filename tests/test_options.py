"""How many submissions a batch grades at once by default, and each kernel's threads (options.py)."""

import subprocess
import sys

import pytest
import torch

from autograder import options
from autograder.options import SERVER_RESERVE_SECONDS, BatchOptions, Limits, default_workers
from autograder.submission.process import SUPERVISION_SLACK

GIB = 2**30


class _Memory:
    def __init__(self, gb: float):
        self.total = gb * GIB


@pytest.fixture
def machine(monkeypatch):
    """A machine with the given cores, host memory and GPU memory (GB)."""
    def make(cores: int, memory_gb: float, gpu_gb: float = 0.0):
        monkeypatch.setattr(options, "available_cores", lambda: cores)
        monkeypatch.setattr(options.psutil, "virtual_memory", lambda: _Memory(memory_gb))
        monkeypatch.setattr(options, "gpu_memory_gb", lambda: gpu_gb)
    return make


def test_on_a_cpu_one_worker_per_core_each_training_on_one_thread(machine):
    machine(cores=2, memory_gb=24)
    assert default_workers("cpu") == 2
    assert BatchOptions(Limits(device="cpu"), workers=default_workers("cpu")).threads_per_submission() == 1


def test_never_more_workers_than_the_memory_holds(machine):
    machine(cores=64, memory_gb=16)
    assert default_workers("cpu") == 16 // options.HOST_MEMORY_PER_WORKER_GB
    machine(cores=4, memory_gb=1)
    assert default_workers("cpu") == 1  # always at least one


def test_on_cuda_also_no_more_than_the_gpu_holds(machine):
    machine(cores=16, memory_gb=128, gpu_gb=139.8)  # the lent H200: the cores decide
    assert default_workers("cuda") == 16
    machine(cores=16, memory_gb=128, gpu_gb=15.6)  # a 16 GB card: 3 kernels of 4 GB
    assert default_workers("cuda") == 15 // options.GPU_MEMORY_PER_KERNEL_GB


def test_on_cuda_without_a_gpu_the_count_is_the_cpus_and_the_preflight_says_why(machine):
    machine(cores=2, memory_gb=24, gpu_gb=0.0)
    assert default_workers("cuda") == 2


def test_auto_device_agrees_with_torch_without_importing_it_where_no_driver_is():
    assert options.cuda_available() == torch.cuda.is_available()
    assert Limits().resolved_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    if any(map(options.os.path.exists, options.CUDA_DEVICE_FILES)):
        pytest.skip("this machine has a GPU driver: torch is asked")
    asked = subprocess.run([sys.executable, "-c", "import sys; from autograder.options import Limits; "
                            "print(Limits().resolved_device(), 'torch' in sys.modules)"],
                           capture_output=True, text=True, check=True)
    assert asked.stdout.split() == ["cpu", "False"]


def test_auto_device_asks_torch_where_a_driver_is(monkeypatch):
    monkeypatch.setattr(options.os.path, "exists", lambda path: path == "/dev/nvidiactl")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert Limits().resolved_device() == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert Limits().resolved_device() == "cpu"


def test_limits_derived_from_a_grading_servers_timeout_always_end_inside_it():
    for server in (600, 1200, 2400, 3600):
        limits = Limits.within(server, device="cpu")
        # the supervisor kills the grading at the submission's limit plus its slack: still inside the server's
        assert limits.submission_seconds() + SUPERVISION_SLACK < server
        assert limits.cell_seconds() <= min(600, limits.submission_seconds())
    assert Limits.within(1200, device="cpu").submission_seconds() == 1200 - SERVER_RESERVE_SECONDS
    assert Limits.within(1200, device="cpu", cell_timeout=90).cell_seconds() == 90
    with pytest.raises(ValueError, match="leaves no time to grade"):
        Limits.within(200)
    # without it, the default (4 cells of 600 s) would outlast a 20-minute server
    assert Limits(device="cpu").submission_seconds() + SUPERVISION_SLACK > 1200


def test_problem_5c_gets_two_cells_worth_within_the_submissions_limit():
    """Per-image augmentations make (c)'s training up to about twice a cell's limit on a busy machine
    (benchmarks/bench_augmentation.py); the submission's own limit still bounds it (a Gradescope timeout too)."""
    from autograder.options import Limits

    assert Limits(device="cpu").long_cell_seconds() == {"p5c_tests": 1200}
    assert Limits(device="cpu", cell_timeout=100).long_cell_seconds() == {"p5c_tests": 200}
    assert Limits(device="cpu", time_limit=900).long_cell_seconds() == {"p5c_tests": 900}
    within = Limits.within(1200, device="cpu")
    assert within.long_cell_seconds() == {"p5c_tests": 1200 - 240}
