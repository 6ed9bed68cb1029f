# moil: install, test, conformance, benchmarks. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
SHARED ?= ../shared
VERSION ?= v1.2
WDL_VERSION ?= 1.1
JOBS ?= $(shell nproc)

.PHONY: install check test test-unit test-services conformance conformance-suites \
        conformance-cwl conformance-cwl-slurm conformance-cwl-gridengine conformance-cwl-aws \
        conformance-cwl-wes conformance-wdl example bench \
        bench-peers lint clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## create .venv and install moil with its dev extras
	@# byte-compile our own packages (pip does it for the installed ones): every command
	@# start would otherwise compile them again where PYTHONDONTWRITEBYTECODE is set
	@$(PY) -m compileall -q runner languages backends conformance >/dev/null

example: install  ## run the example CWL workflow on the default (single machine, file: store)
	$(VENV)/bin/toil-cwl-runner --outdir out examples/workflow/greet.cwl examples/workflow/greet-job.yaml
	cat out/greetings.txt

check: install  ## the fast inner loop: unit tests, no services, no suites
	$(PYTEST) -q -m "not slurm and not docker and not podman and not s3 and not ftp and not gcs and not netns and not gridengine and not torque and not htcondor and not lsf and not wes and not aws_batch and not conformance and not slow"

test-unit: install
	$(PYTEST) -q -m "not conformance"

conformance-cwl: install  ## make conformance-cwl VERSION=v1.2 [SUITE=path-or-url] [ARGS=...]
	$(PY) -m conformance.cwl --version $(VERSION) --tool toil-cwl-runner -j $(JOBS) \
	  $(if $(SUITE),--suite $(SUITE)) $(ARGS)

conformance-wdl: install  ## make conformance-wdl WDL_VERSION=1.1 [SUITE=path] [ARGS=...]
	$(PY) -m conformance.wdl --version $(WDL_VERSION) --runner toil-wdl-runner -j $(JOBS) \
	  $(if $(SUITE),--suite $(SUITE)) $(ARGS)

conformance-cwl-cwltool: install  ## the same suite with cwltool, for comparison (no gate)
	$(PY) -m conformance.cwl --version $(VERSION) --tool cwltool --no-gate -j $(JOBS) \
	  --output-dir conformance/results/cwl-$(VERSION)-cwltool $(ARGS) -- --no-container

conformance-wdl-miniwdl: install  ## the same suite with miniwdl, for comparison (no gate)
	$(PY) -m conformance.wdl --version $(WDL_VERSION) --runner miniwdl --no-gate -j $(JOBS) \
	  --output-dir conformance/results/wdl-$(WDL_VERSION)-miniwdl $(ARGS)

conformance-cwl-slurm: install  ## the CWL tests tagged required, on a private Slurm
	VERSION=$(VERSION) bash conformance/on_slurm.sh $(ARGS)

conformance-cwl-gridengine: install  ## the CWL tests tagged required, on a private Grid Engine cell
	VERSION=$(VERSION) bash conformance/on_gridengine.sh $(ARGS)

conformance-cwl-aws: install  ## the CWL tests tagged required, each run's job store in S3 (local moto)
	VERSION=$(VERSION) bash conformance/on_s3.sh $(ARGS)

conformance-cwl-wes: install  ## the CWL tests tagged required, through `toil server` (WES)
	VERSION=$(VERSION) bash conformance/on_wes.sh $(ARGS)

conformance: install  ## every suite CI gates on, with a private dockerd holding the stand-in images
	$(PY) -m tests.services.docker with -- $(MAKE) --no-print-directory conformance-suites

conformance-suites: install  ## the suites alone, with whatever container engine DOCKER_HOST reaches
	$(MAKE) --no-print-directory conformance-cwl VERSION=v1.2
	$(MAKE) --no-print-directory conformance-cwl-slurm VERSION=v1.2
	$(MAKE) --no-print-directory conformance-cwl-gridengine VERSION=v1.2
	$(MAKE) --no-print-directory conformance-cwl-wes VERSION=v1.2
	$(MAKE) --no-print-directory conformance-cwl-aws VERSION=v1.2
	$(MAKE) --no-print-directory conformance-cwl VERSION=v1.1
	$(MAKE) --no-print-directory conformance-cwl VERSION=v1.0
	$(MAKE) --no-print-directory conformance-wdl WDL_VERSION=draft-2
	$(MAKE) --no-print-directory conformance-wdl WDL_VERSION=1.0
	$(MAKE) --no-print-directory conformance-wdl WDL_VERSION=1.1

test: install  ## everything CI runs: unit, real services, conformance suites
	$(PYTEST) -q -m "not conformance"
	$(MAKE) --no-print-directory conformance

bench: install  ## print engine figures (beside Toil, cwltool, miniwdl when bench-peers made them)
	$(PY) bench/bench_python_jobs.py
	$(PY) bench/bench_cwl.py
	$(PY) bench/bench_cwl_pertest.py
	$(PY) bench/bench_wdl.py
	$(PY) bench/bench_wes.py

bench-peers:  ## install Toil 9.6.0, cwltool and miniwdl into .venv-peers, for comparison
	bash bench/peers.sh

lint: install
	$(VENV)/bin/ruff check runner backends languages conformance tests
	$(VENV)/bin/ruff format --check runner backends languages conformance tests
	$(VENV)/bin/mypy runner backends languages conformance

clean:
	rm -rf $(VENV) build *.egg-info out
