# One command runs the main job, one runs the tests; each sets itself up first (virtual env, packages, data).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export MNIST_DIR ?= $(CURDIR)/data/mnist

.PHONY: setup system-tools sandbox grade-examples experiment test test-fast acceptance benchmark release gradescope
setup: $(VENV)/.installed $(MNIST_DIR)/mnist-cache.npz

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

$(MNIST_DIR)/mnist-cache.npz: $(VENV)/.installed
	$(PY) -m mnist_lab

grade-examples: setup sandbox  ## the main job: grade the example submissions in tests/examples, print the table
	$(PY) -m autograder examples --out grading-examples

experiment: setup  ## the reference budget experiment: 3 seeds, JSON and plot in results/
	$(PY) -m solutions experiment --seeds 0 1 2 --out results

sandbox:  ## bubblewrap, which contains the kernels when grading as root (skipped with a warning where it cannot install)
	bash scripts/install-system-tools.sh --optional bubblewrap

system-tools:  ## bubblewrap (the sandbox), PostgreSQL's server (the cluster tests), Chromium (the browser tests)
	bash scripts/install-system-tools.sh bubblewrap postgresql chromium

test: setup system-tools  ## every test but the acceptance tier (CI runs this)
	$(PY) -m pytest -m "not acceptance" $(PYTEST_ARGS)

test-fast: setup  ## the tests that start no kernel, server or training: 3-6 minutes on 2 cores, for developers
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

acceptance: setup sandbox  ## too long for CI: the whole cohort, the floor on 5 seeds, a student's validate (~1 h)
	$(PY) -m pytest -m acceptance $(PYTEST_ARGS)

benchmark: setup  ## lab vs a DataLoader baseline, six runs each (add ARGS=--device cuda on a GPU)
	$(PY) benchmarks/bench_training.py $(ARGS)

release: setup  ## solutions/ -> source notebooks -> release/ps3 (nbgrader generate_assignment)
	$(PY) -m autograder release

gradescope: setup  ## the autograder zip to upload to Gradescope: gradescope/ps3-autograder.zip (README "Gradescope")
	$(PY) -m autograder gradescope-package
