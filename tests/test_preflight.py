"""Before GPU work the grader shows that a kernel can train there; a batch it cannot grade is refused, untouched."""

import json
import os
import subprocess
import sys

import pytest
import torch

from autograder.isolation import sandbox
from autograder.isolation.preflight import DeviceError, check_device, probe_kernel
from autograder.course import ASSIGNMENT, tool_environment
from autograder.options import Limits
from helpers import reference_batch

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
needs_sandbox = pytest.mark.skipif(not sandbox.available(),
                                   reason="containment needs root, bubblewrap and user namespaces")


def _run(tmp_path, *args):
    return subprocess.run([sys.executable, "-m", "autograder", *args, "--no-progress"], env=tool_environment(),
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@no_gpu
def test_gpu_grading_on_a_machine_without_a_gpu_is_refused_before_anything_is_graded(tmp_path):
    source = reference_batch(tmp_path / "submissions", ["s1", "s2"], ["problem7"])
    batch = _run(tmp_path, "grade", str(source), "--out", "out", "--device", "cuda")
    assert batch.returncode == 2, batch.stdout + batch.stderr
    assert "--device cuda, but torch sees no CUDA device" in batch.stderr and "--device cpu" in batch.stderr
    assert not list((tmp_path / "out" / "results").glob("*.json"))
    assert not (tmp_path / "out" / "gradebook.db").exists() and not (tmp_path / "out" / "grades.csv").exists()

    single = _run(tmp_path, "gradescope", "--submission", str(source / "s1" / ASSIGNMENT),
                  "--results", "r/results.json", "--device", "cuda")
    assert single.returncode == 2 and "no CUDA device" in single.stderr
    assert not (tmp_path / "r" / "results.json").exists()  # the server reports a failed run, not a zero


def test_cpu_batches_need_no_probe(tmp_path):
    assert check_device(Limits(device="cpu")) == "cpu"
    if not torch.cuda.is_available():
        assert check_device(Limits(device="auto")) == "cpu"


@pytest.mark.slow
@needs_sandbox
def test_the_probe_runs_where_and_as_a_kernel_runs(tmp_path):
    probe = probe_kernel("cpu", Limits(), [str(tmp_path / "out")])
    assert probe.ok and probe.contained, probe.error
    assert probe.uid == sandbox.uid_for(os.getpid()) and probe.torch == torch.__version__
    assert not [p for p in os.listdir("/tmp") if p.startswith("ps3-probe-")]


@pytest.mark.slow
def test_a_probe_that_cannot_train_says_why(tmp_path):
    starved = probe_kernel("cpu", Limits(memory_limit_mb=200), [str(tmp_path / "out")])  # torch cannot even load
    assert not starved.ok and starved.error.startswith(("ImportError", "MemoryError", "the probe did not report"))
    if not torch.cuda.is_available():
        no_driver = probe_kernel("cuda", Limits(), [str(tmp_path / "out")])
        assert not no_driver.ok and no_driver.torch == torch.__version__ and "NVIDIA" in no_driver.error


@pytest.mark.slow
@pytest.mark.gpu
def test_kernels_can_train_on_the_gpu(tmp_path):
    probe = probe_kernel("cuda", Limits(), [str(tmp_path / "out")])
    assert probe.ok, probe.error
    assert probe.device_name == torch.cuda.get_device_name() and probe.contained == sandbox.available()
    assert check_device(Limits(device="cuda")) == "cuda"


@pytest.mark.slow
@pytest.mark.gpu
def test_a_memory_limit_cuda_cannot_start_under_is_refused_with_the_fix(tmp_path):
    with pytest.raises(DeviceError, match="--memory-limit-mb 200"):
        check_device(Limits(device="cuda", memory_limit_mb=200))


@pytest.mark.slow
def test_the_probe_reports_one_json_line():
    """The probe's program runs without this package (hidden in the sandbox): it must stand alone."""
    from autograder.isolation.preflight import PROBE

    done = subprocess.run([sys.executable, "-c", PROBE, "cpu"], capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ["PATH"]}, cwd="/")
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["uid"] == os.getuid()
