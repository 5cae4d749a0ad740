from dataclasses import dataclass
from pathlib import Path

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on loopback for the whole run; each test that needs one takes its own database."""
    from autograder.testing.loopback import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def generated():
    """The generated course (cached per course version: seconds the first time)."""
    from autograder.course import generated_course

    return generated_course()


@pytest.fixture
def db_url(tmp_path, generated):
    """A new sqlite gradebook in tmp_path that knows the assignment."""
    from autograder.outputs.gradebook import prepare

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    prepare(url, generated)
    return url


@dataclass(frozen=True)
class GradedExamples:
    out: Path  # the batch's output folder (results, reports, feedback)
    results: dict  # student -> SubmissionResult
    db_url: str  # the PostgreSQL gradebook the batch recorded into


@pytest.fixture(scope="session")
def examples(postgres, tmp_path_factory):
    """The example submissions graded once per run, the way a course graded at scale does: a Dask cluster on
    loopback (two workers) recording into a PostgreSQL gradebook. The local pool is proven by the other batches
    (the cohort, the red team, the resumed batches)."""
    from autograder.batch import grade_batch
    from autograder.testing.examples import EXAMPLES
    from autograder.testing.loopback import DaskCluster
    from helpers import WORKER_ENV, fast

    out, db_url = tmp_path_factory.mktemp("graded-examples"), postgres.create_database("examples")
    with DaskCluster(workers=2, env=WORKER_ENV) as cluster:
        results = grade_batch(EXAMPLES, out, fast(cluster=cluster.address, db_url=db_url))
    return GradedExamples(out, {r.student_id: r for r in results}, db_url)


@pytest.fixture
def collect_and_judge(tmp_path, monkeypatch):
    """Run hand-in collectors as the hidden tests do (recording into a folder), then the grader's clean verdict.

    ``collect_and_judge(grade_id, lambda handin: handin.network(grade_id, build_cnn), ...)`` returns the
    CellVerdict; an in-kernel check failing in a collector is ignored (the clean verdict is what counts)."""
    from autograder.judge.verdicts import judge_cell
    from mnist_lab import handin

    monkeypatch.setenv(handin.HANDIN_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(handin.SEED_ENV, "4242")
    handin.forget_network()  # each test is a new kernel

    def run(grade_id, *collectors):
        for collect in collectors:
            try:
                collect(handin)
            except AssertionError:
                pass
        return judge_cell(grade_id, tmp_path, 4242)
    return run
