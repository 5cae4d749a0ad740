#!/usr/bin/env bash
# The GPU checks, as one script for a lent GPU machine (see the device tool): the lab's and the preflight's GPU
# tests (a probe started in the sandbox like a kernel trains on the GPU), one reference submission graded in
# Gradescope mode on CUDA, the accuracy floor's family of valid networks on CUDA (seeds 0-4), where one
# submission's time goes on CUDA (profile_submission.py), and a batch of 16 with the default workers on CUDA.
#
# The GPU image has PyTorch but no Jupyter/nbgrader stack. Prepare on a machine with pip, in the repo root:
#   echo /.whl/ >> .git/info/exclude; echo /.gpu/ >> .git/info/exclude
#   python3 -m pip download --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#       --platform any -d .whl nbgrader==0.9.6 jupytext==1.19.6
#   (then delete the wheels the image already has, to stay under the 64 MiB transfer limit: jupyterlab, babel,
#   notebook, widgetsnbextension, jupyter_builder, setuptools, pygments, pyyaml, requests, urllib3, ...;
#   platformdirs, cffi, pycparser must stay)
#   mkdir -p .gpu/mnist; for f in data/mnist/*-ubyte; do gzip -c $f > .gpu/mnist/$(basename $f).gz; done
# and run with carry [".gpu", ".whl"]: bash benchmarks/gpu_check.sh
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl 2>/dev/null || exit 1
export MNIST_DIR=$PWD/.gpu/mnist PYTHONPATH=$PWD/source/ps3:$PWD:/tmp/site PYTHONUNBUFFERED=1 PATH=/tmp/site/bin:$PATH
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m mnist_lab
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_train.py tests/test_preflight.py 2>&1 | tail -4
SECONDS=0
timeout 200 python3 -m autograder gradescope --submission tests/examples/reference/ps3 \
    --results "$OUT/gradescope-gpu.json" --device cuda --no-progress 2>&1 | tail -3
echo "one reference submission, Gradescope mode, cuda: ${SECONDS} s wall"
timeout 240 python3 benchmarks/bench_family.py --device cuda --label gpu 2>&1 | tail -22
cp benchmarks/results/family-gpu.json "$OUT/" 2>/dev/null
timeout 120 python3 benchmarks/profile_submission.py --json "$OUT/profile-gpu.json" -- --device cuda 2>&1 | tail -26
timeout 300 python3 benchmarks/bench_grading.py --device cuda --batch 16 --workers 0 --json "$OUT/grading-gpu.json" 2>&1 | tail -6
