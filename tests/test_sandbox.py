"""The kernel sandbox, tried with small programs: what a contained process can and cannot see and do."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from autograder.isolation import sandbox
from autograder.judge.decode import HandinError, decode_array, read_record
from autograder.course import ROOT
from mnist_lab.handin import encode_array

needs_sandbox = pytest.mark.skipif(not sandbox.available(),
                                   reason="containment needs root, bubblewrap and user namespaces")


def contained(tmp_path, code: str, **policy) -> subprocess.CompletedProcess:
    work, secret = tmp_path / "work", tmp_path / "secret"
    work.mkdir(exist_ok=True)
    secret.mkdir(exist_ok=True)
    (secret / "answers.txt").write_text("42")
    settings = dict(uid=sandbox.uid_for(os.getpid()), hide=[str(ROOT), str(secret), str(Path.home())],
                    expose_ro=sorted({sys.prefix, sys.base_prefix}), expose_rw=[str(work)])
    settings.update(policy)
    path = sandbox.Policy(**settings).write(tmp_path / "policy.json")
    return subprocess.run(sandbox.launcher_command(path, [sys.executable, "-c", code]),
                          cwd=work, capture_output=True, text=True, timeout=60)


@needs_sandbox
def test_contained_process_sees_only_what_it_may(tmp_path):
    code = f"""
import os, socket, json
out = {{"uid": os.getuid(), "cwd": os.getcwd()}}
out["around"] = os.listdir({str(tmp_path)!r})
def attempt(name, action):
    try:
        action(); out[name] = "allowed"
    except Exception as exc:
        out[name] = type(exc).__name__
attempt("read_secret", lambda: open({str(tmp_path / 'secret' / 'answers.txt')!r}).read())
attempt("read_solutions", lambda: open({str(ROOT / 'solutions' / 'problem6.py')!r}).read())
attempt("write_own", lambda: open("mine.txt", "w").write("x"))
attempt("write_outside", lambda: open({str(tmp_path / 'owned.txt')!r}, "w").write("x"))
attempt("network", lambda: socket.create_connection(("127.0.0.1", 22), timeout=2))
attempt("setuid_back", lambda: os.setuid(0))
out["processes"] = [open(f"/proc/{{pid}}/cmdline", "rb").read().decode(errors="replace").replace("\\0", " ")
                    for pid in os.listdir("/proc") if pid.isdigit()]
print(json.dumps(out))
"""
    result = contained(tmp_path, code)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["uid"] == sandbox.uid_for(os.getpid()) and seen["cwd"] == str(tmp_path / "work")
    assert seen["read_secret"] == "FileNotFoundError" and seen["read_solutions"] == "FileNotFoundError"
    assert seen["write_own"] == "allowed" and (tmp_path / "work" / "mine.txt").exists()
    assert not (tmp_path / "owned.txt").exists()  # refused, or written into its own private /tmp: never here
    assert seen["network"] == "OSError" or seen["network"].endswith("Error") and seen["network"] != "allowed"
    assert seen["setuid_back"] in ("PermissionError", "OSError")  # no root to go back to (not even mapped)
    assert seen["around"] == ["work"]  # its own folder only: not the secret, not the policy
    # Its own PID namespace: bwrap's init and itself, and no path of the grader's in either command line.
    assert len(seen["processes"]) == 2, seen["processes"]
    init, itself = seen["processes"]
    assert init.split()[1] == "--args" and init.split()[3:5] == ["--", sys.executable], init


@needs_sandbox
def test_process_limit_and_no_process_outlives_the_contained_one(tmp_path):
    code = """
import os, subprocess, sys
children = 0
try:
    for _ in range(50):
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children += 1
except OSError as exc:
    print("stopped", children, type(exc).__name__)
"""
    result = contained(tmp_path, code, max_processes=10)
    assert "stopped" in result.stdout and int(result.stdout.split()[1]) < 10, result.stdout + result.stderr
    # The detached sleepers die with the process that started them (its PID namespace ends), on their own.
    uid, deadline = sandbox.uid_for(os.getpid()), time.monotonic() + 5
    while _alive(uid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(uid) == []


def _alive(uid: int) -> list[int]:
    alive = []
    for process in psutil.process_iter(["uids", "status"]):
        if process.info["uids"] and process.info["uids"].real == uid and process.info["status"] != psutil.STATUS_ZOMBIE:
            alive.append(process.pid)
    return alive


def test_recorded_arrays_round_trip_and_malformed_ones_are_refused(tmp_path):
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert np.array_equal(decode_array(encode_array(array)), array)
    scalar = decode_array(encode_array(np.float64(2.5)))
    assert scalar.shape == () and scalar == 2.5
    good = encode_array(array)
    for bad in ({**good, "dtype": "object"}, {**good, "shape": [5, 5]}, {**good, "data": "%%%"}, "text"):
        with pytest.raises(HandinError):
            decode_array(bad)


def test_record_files_are_read_without_links_and_within_limits(tmp_path):
    (tmp_path / "ok.json").write_text(json.dumps({"a": 1}))
    assert read_record(tmp_path / "ok.json") == {"a": 1}
    (tmp_path / "link.json").symlink_to(tmp_path / "ok.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "broken.json").write_text("{")
    for name, words in (("link.json", "cannot open"), ("list.json", "JSON object"), ("broken.json", "not valid JSON"),
                        ("missing.json", "cannot open")):
        with pytest.raises(HandinError, match=words):
            read_record(tmp_path / name)


def test_the_grading_policy_hides_the_grader_and_the_references_wherever_installed(tmp_path):
    """site-packages is exposed with the rest of Python: a non-editable install must not expose the references."""
    import autograder
    import solutions
    from autograder.isolation.containment import grading_policy

    policy = grading_policy(tmp_path / "work", tmp_path / "runtime", [str(tmp_path / "out"), str(tmp_path / "given")])
    for hidden in (Path(autograder.__file__).parent, Path(solutions.__file__).parent, ROOT, tmp_path / "out",
                   tmp_path / "given"):
        assert str(hidden) in policy.hide
    assert str(tmp_path / "work") in policy.expose_rw


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("bwrap"), reason="the sandbox needs root and bubblewrap")
def test_as_root_with_bubblewrap_the_sandbox_is_available():
    """Where the grader could contain its kernels it must: a root machine with bwrap that cannot build the sandbox
    (user namespaces refused) fails here instead of grading uncontained unnoticed."""
    assert sandbox.available(), "bwrap cannot build the sandbox as the kernel's user id: are user namespaces open?"


def test_a_kernel_gets_an_allow_list_of_the_graders_environment():
    grader = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MNIST_LAB_THREADS": "1",
              "CUDA_VISIBLE_DEVICES": "0", "PS3_HANDIN_SEED": "7", "OMP_NUM_THREADS": "1",
              "PGPASSWORD": "secret", "AWS_SECRET_ACCESS_KEY": "secret", "DATABASE_URL": "postgresql://u:secret@h/db",
              "GITHUB_TOKEN": "secret", "SSH_AUTH_SOCK": "/tmp/agent", "LD_PRELOAD": "/tmp/evil.so"}
    assert sandbox.kernel_environment(grader) == {k: v for k, v in grader.items() if "secret" not in v
                                                  and k not in ("SSH_AUTH_SOCK", "LD_PRELOAD")}


@needs_sandbox
def test_a_secret_in_the_graders_environment_is_unreadable_from_the_kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "canary-of-the-grader")
    monkeypatch.setenv("MNIST_LAB_THREADS", "1")
    code = "import os, json; print(json.dumps(dict(os.environ)))"
    result = contained(tmp_path, code)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert "PGPASSWORD" not in seen and "canary-of-the-grader" not in result.stdout
    assert seen["MNIST_LAB_THREADS"] == "1" and seen["HOME"] == "/tmp"
