"""A real PostgreSQL server and a real Dask cluster on loopback, started and stopped from Python.

For the tests, the throughput benchmark, and for trying ``--cluster`` and a PostgreSQL gradebook on one machine:

    with PostgresServer() as db, DaskCluster(workers=2) as cluster:
        grade_batch(source, out, BatchOptions(cluster=cluster.address, db_url=db.url))

PostgreSQL comes from the system's packages (``scripts/install-system-tools.sh postgresql`` installs them); it
refuses to run as root, so a root caller runs it as the ``postgres`` user. Dask comes from this package's
``cluster`` extra.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..course import tool_environment
from ..isolation.processes import kill_tree


class ServiceError(RuntimeError):
    """A loopback service could not be started."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path:
    """The folder holding initdb and pg_ctl (Debian keeps them out of PATH, under /usr/lib/postgresql/N/bin)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise ServiceError("PostgreSQL's server programs are not installed: "
                           "run scripts/install-system-tools.sh postgresql")
    return Path(versions[-1]).parent


class _Service:
    """Started on entering a ``with`` block, stopped on leaving it; a failed start cleans up after itself."""

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


class PostgresServer(_Service):
    """A throw-away PostgreSQL cluster on 127.0.0.1 with one database; ``url`` is an SQLAlchemy URL for it."""

    def __init__(self, database: str = "gradebook", user: str = "ps3"):
        self.database, self.user = database, user
        self.folder = Path(tempfile.mkdtemp(prefix="ps3-postgres-"))
        self.port = _free_port()
        self.url = f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"
        self._as_postgres = os.geteuid() == 0  # initdb and postgres refuse root

    def _run(self, *args: str, timeout: float = 120) -> None:
        command = [str(postgres_bin() / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.folder)
        if result.returncode != 0:
            log = self.folder / "server.log"
            raise ServiceError(f"{args[0]} failed: {result.stderr.strip()[-1500:]}"
                               + (f"\n{log.read_text()[-1500:]}" if log.is_file() else ""))

    def start(self) -> "PostgresServer":
        os.chmod(self.folder, 0o755)
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run("initdb", "-D", str(self.folder / "data"), "-U", self.user, "--auth=trust", "-E", "UTF8",
                  "--no-instructions")
        self.resume()
        self.create_database(self.database)
        return self

    def pause(self) -> None:
        """Stop the server, keeping its data (a database that goes away mid-batch)."""
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the server (again) on its port, with its data."""
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.folder / "data"), "-l", str(self.folder / "server.log"), "-o", options,
                  "-w", "start")

    def create_database(self, name: str) -> str:
        """Another database on this server; its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop")
        except (ServiceError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.folder, ignore_errors=True)


class DaskCluster(_Service):
    """A ``dask scheduler`` and ``workers`` ``dask worker`` processes (one thread each) on 127.0.0.1.

    Each worker runs in a session of its own, so that ``kill_worker`` can take it down with everything it started,
    as when a machine is lost.
    """

    def __init__(self, workers: int = 2, env: dict | None = None, resources: dict[int, str] | None = None):
        self.folder = Path(tempfile.mkdtemp(prefix="ps3-dask-"))
        self.env = {**tool_environment(), **(env or {})}
        self.count, self.resources = workers, resources or {}
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.address = ""

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        with open(self.folder / log, "wb") as out:
            return subprocess.Popen([sys.executable, "-m", *args], env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=self.folder)

    def start(self, timeout: float = 120) -> "DaskCluster":
        from distributed import Client

        scheduler_file = self.folder / "scheduler.json"
        self.scheduler = self._spawn(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--scheduler-file", str(scheduler_file)], "scheduler.log")
        deadline = time.monotonic() + timeout
        while not scheduler_file.is_file():
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise ServiceError(f"the Dask scheduler did not start:\n{self.log('scheduler.log')}")
            time.sleep(0.2)
        self.address = json.loads(scheduler_file.read_text())["address"]
        for index in range(self.count):
            self.add_worker(index)
        with Client(self.address, timeout=timeout) as client:
            client.wait_for_workers(self.count, timeout=timeout)
        return self

    def add_worker(self, index: int) -> subprocess.Popen:
        args = ["distributed.cli.dask_worker", self.address, "--nthreads", "1", "--nworkers", "1",
                "--name", f"worker-{index}", "--no-dashboard", "--local-directory", str(self.folder / f"w{index}")]
        if index in self.resources:
            args += ["--resources", self.resources[index]]
        process = self._spawn(args, f"worker-{index}.log")
        self.workers.append(process)
        return process

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker, its nanny and every process below them (grading processes and kernels)."""
        kill_tree(self.workers[index].pid)
        self.workers[index].wait()

    def log(self, name: str) -> str:
        path = self.folder / name
        return path.read_text(errors="replace")[-3000:] if path.is_file() else ""

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            if process is not None and process.poll() is None:
                kill_tree(process.pid)
                process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

