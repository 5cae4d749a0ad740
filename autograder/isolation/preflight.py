"""Before grading on a GPU: can a student's kernel train there?

If it cannot, every kernel fails problem 5 on its own and every student loses its points, with results saved as
if graded. So a batch that will train on CUDA is refused first, nothing graded, when
- this machine has no CUDA device the grader can see (``--device cuda``), or
- a probe started exactly as the kernels are (the sandbox launcher with a submission's policy, under the same
  memory limit) cannot run a convolution forward and backward on the GPU: device files only a group may open (the
  kernel runs as a user id of its own, without groups), a memory limit CUDA's start-up exceeds, a driver the
  kernel cannot reach.
CPU batches need no probe: the tests grade on the CPU in the same sandbox.

Where the kernels will run as a user id of their own without namespaces (containment.USER_ID), nothing is shown
to them by a mount: Python and MNIST must be readable by every user, or every kernel fails problem 5. That is
checked first, from the file modes (no probe needed).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from mnist_lab.data import default_root as default_mnist_dir

from ..options import Limits
from .containment import USER_ID, contain, containment_kind, python_prefixes, unreadable_for_kernels
from .processes import supervised

PROBE_TIMEOUT = 180  # seconds: importing torch and creating a CUDA context on a busy machine

# Runs inside the launcher, where this package is hidden: plain code, its report as one JSON line.
PROBE = """
import json, os, sys
report = {"uid": os.getuid()}
try:
    import torch
    report["torch"] = torch.__version__
    device = torch.device(sys.argv[1])
    if device.type == "cuda":
        report["device_name"] = torch.cuda.get_device_name(device)
    conv = torch.nn.Conv2d(1, 4, 5).to(device)
    conv(torch.randn(2, 1, 28, 28, device=device)).square().mean().backward()
    report["ok"] = bool(torch.isfinite(conv.weight.grad).all())
except BaseException as exc:
    report.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
print(json.dumps(report))
"""


class PreflightError(RuntimeError):
    """The kernels could not grade as asked: nothing was graded."""


class DeviceError(PreflightError):
    """The batch asks for a device its kernels cannot use."""


class AccessError(PreflightError):
    """Kernels running as a user id of their own could not read Python or MNIST."""


@dataclass
class KernelProbe:
    """What a probe started like a student's kernel could do."""

    ok: bool  # it ran a convolution forward and backward on the device
    contained: bool  # it ran in the sandbox (as the kernels will)
    uid: int | None = None  # the user id it ran as
    torch: str = ""
    device_name: str = ""
    error: str = ""  # why not, when not ok


def probe_kernel(device: str, limits: Limits, hide: Iterable[str] = ()) -> KernelProbe:
    """Start the probe as a submission's kernel is started: same containment (hiding ``hide`` too, as a grading
    process does) and memory limit."""
    with tempfile.TemporaryDirectory(prefix="ps3-probe-") as folder:
        workdir, runtime = Path(folder) / "work", Path(folder) / "runtime"
        workdir.mkdir()
        runtime.mkdir()
        containment = contain(workdir, runtime, hide, limits.sandbox, Path(folder), limits.namespaces)
        command = [sys.executable, "-c", PROBE, device]
        if containment:
            command = containment.command(command)
        return _run_probe(command, workdir, limits.memory_limit_mb, containment is not None)


def _run_probe(command: list[str], workdir: Path, memory_mb: int, contained_: bool) -> KernelProbe:
    try:
        done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                              preexec_fn=supervised(memory_mb))
    except subprocess.TimeoutExpired:
        return KernelProbe(False, contained_, error=f"the probe did not finish in {PROBE_TIMEOUT} s")
    lines = done.stdout.strip().splitlines()
    report = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    if report is None:
        ended = (f"killed by {signal.Signals(-done.returncode).name}" if done.returncode < 0
                 else f"exit status {done.returncode}")
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:]
        return KernelProbe(False, contained_, error=f"the probe did not report ({ended})"
                           + (f": {tail[0][:300]}" if tail else ""))
    return KernelProbe(contained=contained_, **report)


def _closed_device_files() -> list[str]:
    """NVIDIA's device files that not every user may read and write (the sandboxed kernel has no groups)."""
    closed = []
    for path in sorted(glob.glob("/dev/nvidia*")):
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if stat.S_ISCHR(mode) and (mode & 0o006) != 0o006:
            closed.append(f"{path} ({stat.filemode(mode)})")
    return closed


def check_kernel_access(limits: Limits) -> None:
    """AccessError (with the fix) where kernels without namespaces could not read Python or MNIST."""
    if containment_kind(limits.sandbox, limits.namespaces) != USER_ID:
        return
    closed = unreadable_for_kernels([*python_prefixes(), str(default_mnist_dir())])
    if closed:
        raise AccessError("the kernels run as a user id of their own without namespaces (refused here, or "
                          "--no-namespaces), "
                          f"and cannot read: {'; '.join(closed)}. Install Python and put MNIST (MNIST_DIR) where "
                          "every user may read them (the Gradescope setup.sh uses /opt/ps3)")


def check_device(limits: Limits, hide: Iterable[str] = ()) -> str:
    """The device the batch trains on, once a kernel has shown it can; PreflightError (with the fix) if not:
    kernels that cannot read what they need (check_kernel_access), or a device they cannot use (DeviceError)."""
    check_kernel_access(limits)
    device = limits.resolved_device()
    if device != "cuda":
        return device
    import torch  # heavy: only for a GPU
    if not torch.cuda.is_available():
        raise DeviceError("--device cuda, but torch sees no CUDA device on this machine "
                          f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}): "
                          "grade with --device cpu or auto, or on a machine with a GPU")
    probe = probe_kernel(device, limits, hide)
    if probe.ok:
        return device
    fixes = []
    if probe.contained:
        closed = _closed_device_files()
        fixes.append("the kernels run in the sandbox as a user id of their own without groups, so NVIDIA's device "
                     "files must be open to every user (mode crw-rw-rw-, the driver's default)"
                     + (f"; these are not: {', '.join(closed)}" if closed else ""))
    if limits.memory_limit_mb:
        fixes.append(f"the memory limit (--memory-limit-mb {limits.memory_limit_mb}) must leave room for CUDA")
    fixes.append("--device cpu grades on the CPU instead")
    raise DeviceError(f"the grader sees a GPU but a kernel started like a student's cannot use it: {probe.error}. "
                      + "; ".join(fixes))
