"""Grading on a real Dask cluster (scheduler + workers on loopback) into a real PostgreSQL gradebook."""

import io
import os
import subprocess
import sys
import tarfile
import threading
import time

import psutil
import pytest
import torch

from autograder.batch import grade_batch
from autograder.course import (ASSIGNMENT, ROOT, CourseBundle, generated_course, source_dir,
                               tool_environment)
from autograder.executors.cluster import ClusterError, DaskExecutor
from autograder.options import Limits
from autograder.outputs import gradebook
from autograder.results import CellResult, SubmissionResult
from autograder.testing.loopback import DaskCluster
from helpers import (WORKER_ENV, assert_recorded_exactly_once, fast, gradebook_rows, kill_after_results, saved_times,
                     reference_batch)



def _graded_by(process: psutil.Process) -> list[str]:
    """The request files of the grading processes below ``process`` (one per submission it is grading)."""
    found = []
    try:
        for child in process.children(recursive=True):
            try:
                command = child.cmdline()
            except psutil.Error:
                continue
            if "autograder.submission.pipeline" in command:
                found.append(command[-1])
    except psutil.NoSuchProcess:
        pass
    return found


@pytest.mark.slow
def test_a_worker_killed_while_its_kernel_runs_loses_no_grade(postgres, tmp_path):
    """A worker dies in the middle of a submission: the surviving worker grades that submission again from the
    start, every grade is as in a healthy run and each is recorded exactly once in PostgreSQL. (The examples,
    graded on a healthy cluster by the ``examples`` fixture, prove every other grade on the cluster.)"""
    source, url = reference_batch(tmp_path / "submissions"), postgres.create_database("worker_killed")
    with DaskCluster(workers=2, env=WORKER_ENV) as cluster:
        batch = {}
        thread = threading.Thread(target=lambda: batch.update(results=grade_batch(
            source, tmp_path / "out", fast(cluster=cluster.address, db_url=url))))
        thread.start()
        victim, survivor = psutil.Process(cluster.workers[1].pid), _address_of(cluster, 0)
        deadline = time.monotonic() + 300
        while not _graded_by(victim):  # worker-1 is grading a submission...
            assert thread.is_alive() and time.monotonic() < deadline, "worker-1 never started grading"
            time.sleep(0.2)
        time.sleep(5)  # ...well into it (its kernel is running)
        requests = _graded_by(victim)
        cluster.kill_worker(1)
        thread.join(timeout=900)
        assert not thread.is_alive() and "results" in batch, "the batch did not finish"
        results = {r.student_id: r for r in batch["results"]}
    assert {s: r.automatic_points for s, r in results.items()} == {s: 8.5 for s in ("s1", "s2", "s3", "s4")}
    assert all(r.status == "graded" for r in results.values())
    assert_recorded_exactly_once(url, results.values())
    [lost] = [s for s in results if any(f"/{s}-" in r for r in requests)]
    assert results[lost].graded_on.endswith(f"({survivor})")


def _address_of(cluster: DaskCluster, index: int) -> str:
    from distributed import Client

    with Client(cluster.address, timeout=30) as client:
        for address, worker in client.scheduler_info(n_workers=-1)["workers"].items():
            if worker.get("name") == f"worker-{index}":
                return address
    return "gone"


@pytest.mark.slow
def test_a_restarted_client_loses_no_grade_and_records_none_twice(postgres, tmp_path):
    """The instructor's `grade --cluster` is killed after some results; running it again grades only the rest."""
    source = reference_batch(tmp_path / "submissions")
    out, url = tmp_path / "out", postgres.create_database("restart")
    with DaskCluster(workers=2, env=WORKER_ENV) as cluster:
        client = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(source), "--out", str(out),
                                   "--cluster", cluster.address, "--db", url, "--no-progress"],
                                  env=tool_environment(), start_new_session=True,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finished = kill_after_results(client, out / "results", 1)
        assert 1 <= len(finished) < 4
        regraded = []
        results = grade_batch(source, out, fast(cluster=cluster.address, db_url=url),
                              on_result=regraded.append)
    assert {r.student_id for r in regraded} == {"s1", "s2", "s3", "s4"} - finished.keys()
    assert {s: t for s, t in saved_times(out / "results").items() if s in finished} == finished
    assert [r.automatic_points for r in results] == [8.5] * 4
    assert_recorded_exactly_once(url, results)


@pytest.mark.slow
def test_a_batch_the_cluster_could_not_finish_says_so_and_the_next_run_grades_it(tmp_path):
    """The scheduler gives up on a task at its first lost worker (allowed-failures 0): the command exits with 3,
    names the submission, saves nothing for it, and the same command on a healthy cluster grades it."""
    source = reference_batch(tmp_path / "submissions", ["s1"], ["problem7"])
    command = [sys.executable, "-m", "autograder", "grade", str(source), "--out", str(tmp_path / "out"),
               "--no-progress", "--cluster"]
    strict = {**WORKER_ENV, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    with DaskCluster(workers=1, env=strict) as cluster:
        client = subprocess.Popen([*command, cluster.address], env=tool_environment(), text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        victim, deadline = psutil.Process(cluster.workers[0].pid), time.monotonic() + 300
        while not _graded_by(victim):
            assert client.poll() is None and time.monotonic() < deadline, "the worker never started grading"
            time.sleep(0.2)
        cluster.kill_worker(0)
        output, errors = client.communicate(timeout=300)
    assert client.returncode == 3, output + errors
    assert "1 submission(s) not finished" in errors and "s1" in errors and "unfinished" in output
    assert not list((tmp_path / "out" / "results").glob("*.json"))
    with DaskCluster(workers=1, env=WORKER_ENV) as cluster:
        again = subprocess.run([*command, cluster.address], env=tool_environment(), capture_output=True, text=True,
                               timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert list(saved_times(tmp_path / "out" / "results")) == ["s1"]


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_worker_offering_a_gpu_its_kernels_cannot_use_is_refused(tmp_path):
    """Worker-1 says it has a GPU but has none: the device check runs on it (and only on the GPU workers) and the
    batch is refused before anything is graded."""
    source = reference_batch(tmp_path / "submissions", ["s1"], ["problem7"])
    with DaskCluster(workers=2, env=WORKER_ENV, resources={1: "GPU=1"}) as cluster:
        liar, honest = _address_of(cluster, 1), _address_of(cluster, 0)
        with pytest.raises(ClusterError, match="cannot train on the device") as refusal:
            grade_batch(source, tmp_path / "out",
                        fast(limits=Limits(cell_timeout=60, device="cuda"), cluster=cluster.address))
    assert f"{liar}: --device cuda, but torch sees no CUDA device" in str(refusal.value)
    assert honest not in str(refusal.value)
    assert not list((tmp_path / "out" / "results").glob("*.json"))


@pytest.mark.slow
@pytest.mark.gpu
def test_gpu_work_goes_only_to_workers_offering_a_gpu(tmp_path):
    """--device cuda marks every task with the worker resource GPU; only worker-1 offers it (both see the GPU)."""
    source = reference_batch(tmp_path / "submissions", ["s1"], ["problem7"])
    with DaskCluster(workers=2, env=WORKER_ENV, resources={1: "GPU=1"}) as cluster:
        gpu_worker = _address_of(cluster, 1)
        [result] = grade_batch(source, tmp_path / "out",
                               fast(limits=Limits(cell_timeout=60, device="cuda"), cluster=cluster.address))
    assert result.graded_on.endswith(f"({gpu_worker})") and result.device == "cuda"
    assert result.automatic_points == 3  # problem 7: gradient, stability, activations (the essay is pending)


@pytest.mark.slow
def test_gpu_work_without_gpu_workers_is_refused_before_anything_runs(tmp_path):
    with DaskCluster(workers=1, env=WORKER_ENV) as cluster:
        executor = DaskExecutor(cluster.address)
        try:
            with pytest.raises(ClusterError, match="no worker offers the resource GPU"):
                executor.check(Limits(device="cuda"))
            assert executor.check(Limits(device="cpu")) == {"127.0.0.1": 1}
            assert executor.check(Limits(device="auto")) == {"127.0.0.1": 1}  # the worker checks its own device
        finally:
            executor.close()


@pytest.mark.slow
def test_workers_with_other_grading_code_are_refused(tmp_path):
    import shutil

    edited = tmp_path / "elsewhere"  # a worker whose autograder differs by one comment line
    shutil.copytree(ROOT / "autograder", edited / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    with open(edited / "autograder" / "judge" / "checks" / "problem6.py", "a") as fh:
        fh.write("# edited on one worker\n")
    with DaskCluster(workers=1, env={**WORKER_ENV, "PYTHONPATH": str(edited)}) as cluster:
        executor = DaskExecutor(cluster.address)
        try:
            with pytest.raises(ClusterError, match="different grading code"):
                executor.check(Limits())
        finally:
            executor.close()


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(ClusterError, match="no Dask scheduler answers at tcp://127.0.0.1:9"):
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout=2)


def test_course_bundle_carries_the_hidden_tests_and_unpacks_once(tmp_path):
    bundle = CourseBundle.build()
    with tarfile.open(fileobj=io.BytesIO(bundle.data)) as tar:
        names = tar.getnames()
        hidden_tests = tar.extractfile(f"source/{ASSIGNMENT}/problem6.ipynb").read().decode()
    assert "nbgrader_config.py" in names and f"source/{ASSIGNMENT}/problem6.ipynb" in names
    assert f"source/{ASSIGNMENT}/mnist_lab/handin.py" in names and not any("__pycache__" in n for n in names)
    assert "BEGIN HIDDEN TESTS" in hidden_tests
    course = bundle.unpack(tmp_path / "course")
    marker = source_dir(course) / "problem6.ipynb"
    os.utime(marker, (12345, 12345))
    bundle.unpack(tmp_path / "course")
    assert marker.stat().st_mtime == 12345  # not unpacked again
    (course / ".unpacked").unlink()  # as if a worker died half-way through unpacking
    bundle.unpack(tmp_path / "course")
    assert marker.stat().st_mtime != 12345
    time.sleep(1.1)  # no time inside a bundle: the same course has the same name on the workers, whenever built
    assert CourseBundle.build().digest == bundle.digest


def test_course_bundle_leaves_out_what_a_course_copy_leaves_out(tmp_path):
    import shutil

    shutil.copy(ROOT / "nbgrader_config.py", tmp_path)
    shutil.copytree(source_dir(), source_dir(tmp_path))
    for junk in (".ipynb_checkpoints/problem6-checkpoint.ipynb", "mnist_lab/__pycache__/data.cpython-311.pyc"):
        (source_dir(tmp_path) / junk).parent.mkdir(exist_ok=True)
        (source_dir(tmp_path) / junk).write_text("{}")
    assert CourseBundle.build(tmp_path).digest == CourseBundle.build().digest


def _result(student: str, points: float) -> SubmissionResult:
    return SubmissionResult(student, "Ada Lovelace", "graded", digest="d",
                            cells=[CellResult("problem7", "p7_gradient_tests", points, 1.0),
                                   CellResult("problem7", "p7b_answer", None, 1.0)])


@pytest.mark.slow
def test_recording_is_idempotent_in_postgresql(postgres, tmp_path):
    url = postgres.create_database("idempotent")
    gradebook.prepare(url, generated_course())
    assert gradebook.missing(url, ["s1", "s2"]) == ["s1", "s2"]
    gradebook.record(url, _result("s1", 0.0))
    gradebook.record(url, _result("s1", 1.0))  # a retried task, or a restarted client, records again
    gradebook.record(url, _result("s1", 1.0))
    rows = gradebook_rows(url)
    assert rows["s1"][0] == 1
    assert rows["s1"][1][("problem7", "p7_gradient_tests")] == [1.0]
    assert gradebook.missing(url, ["s1", "s2"]) == ["s2"]


@pytest.mark.slow
def test_a_saved_result_missing_from_the_gradebook_is_recorded_again(tmp_path):
    """The batch was killed after saving a result but before the gradebook had it (or the gradebook was lost)."""
    source = reference_batch(tmp_path / "submissions", ["s1"], ["problem7"])
    out = tmp_path / "out"
    [first] = grade_batch(source, out, fast())
    (out / "gradebook.db").unlink()
    graded = []
    [again] = grade_batch(source, out, fast(), on_result=graded.append)
    assert graded == [] and again.automatic_points == first.automatic_points == 3
    assert gradebook_rows(f"sqlite:///{out / 'gradebook.db'}")["s1"][0] == 1


def test_the_slurm_and_kubernetes_examples_parse_and_offer_what_the_grader_uses():
    import ast

    import yaml

    folder = ROOT / "docs" / "cluster"
    slurm = (folder / "slurm_cluster.py").read_text()
    ast.parse(slurm)
    assert '"--resources", "GPU=1"' in slurm and '"--nthreads", "1"' in slurm
    documents = {d["kind"]: d for d in yaml.safe_load_all((folder / "kubernetes-daskcluster.yaml").read_text())}
    cpu = documents["DaskCluster"]["spec"]["worker"]["spec"]["containers"][0]
    gpu = documents["DaskWorkerGroup"]["spec"]["worker"]["spec"]["containers"][0]
    assert documents["DaskWorkerGroup"]["spec"]["cluster"] == documents["DaskCluster"]["metadata"]["name"]
    for container in (cpu, gpu):
        assert container["args"][:2] == ["dask", "worker"] and "--nthreads" in container["args"]
        assert "SYS_ADMIN" in container["securityContext"]["capabilities"]["add"]  # the kernel sandbox
    assert "GPU=1" in gpu["args"] and "nvidia.com/gpu" in gpu["resources"]["limits"]
