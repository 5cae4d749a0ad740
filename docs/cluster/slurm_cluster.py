"""Dask workers as Slurm jobs, for `python -m autograder grade ... --cluster ADDRESS` (see docs/cluster.md).

    python docs/cluster/slurm_cluster.py --jobs 20 --partition cpu
    python docs/cluster/slurm_cluster.py --jobs 4 --partition gpu --gpus    # GPU workers for --device cuda

Runs on the login node: starts the scheduler here, submits the worker jobs, prints the scheduler's address and
keeps everything up until interrupted. Every node must see the same Python environment (this project installed
with its `cluster` extra) and, without internet on the nodes, an MNIST_DIR on a shared file system.
Needs `pip install dask-jobqueue`.
"""

import argparse
import os
import time

from dask_jobqueue import SLURMCluster


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10, help="Slurm jobs, one Dask worker each")
    parser.add_argument("--partition", default=None)
    parser.add_argument("--account", default=None)
    parser.add_argument("--cores", type=int, default=4, help="cores per job: one submission at a time")
    parser.add_argument("--memory", default="16GB")
    parser.add_argument("--walltime", default="04:00:00")
    parser.add_argument("--gpus", action="store_true", help="one GPU per job; workers offer the resource GPU=1")
    parser.add_argument("--port", type=int, default=8786)
    args = parser.parse_args()

    extra_directives = ["--gres=gpu:1"] if args.gpus else []
    cluster = SLURMCluster(
        queue=args.partition, account=args.account, cores=args.cores, processes=1, memory=args.memory,
        walltime=args.walltime, job_extra_directives=extra_directives,
        # one thread per worker: a worker grades one submission at a time with all of its job's cores
        worker_extra_args=["--nthreads", "1", *(["--resources", "GPU=1"] if args.gpus else [])],
        job_script_prologue=[f"export MNIST_DIR={os.environ.get('MNIST_DIR', '$HOME/.cache/smdl-ps3/mnist')}"],
        scheduler_options={"port": args.port, "dashboard_address": ":8787"},
    )
    cluster.scale(jobs=args.jobs)
    print(cluster.scheduler_address, flush=True)
    print(cluster.job_script(), flush=True)
    try:
        while True:
            time.sleep(60)
    except KeyboardInterrupt:
        cluster.close()


if __name__ == "__main__":
    main()
