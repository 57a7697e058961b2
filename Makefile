# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
A ?=

.PHONY: install demo test release solutions examples calibrate autograde collect roster grade cluster-certs report feedback gradescope benchmark doctor clean

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

demo: install          ## releases, solutions, autograde the sample submissions, report
	$(PY) -m vicourse demo

test: install          ## the project's tests (graders, pipeline, leaks, math)
	$(PY) -m pytest -q tests

release: install       ## student releases from source/
	$(PY) -m vicourse release

solutions: install     ## executed, student-safe solutions
	$(PY) -m vicourse solutions

examples: install      ## regenerate examples/ from release/ and source/
	$(PY) -m vicourse examples

calibrate: install     ## every known-wrong answer and alternative, graded fast: make calibrate A=01_entropy_kl
	$(PY) -m vicourse calibrate $(A)

autograde: install     ## stock nbgrader with the course config: make autograde A=01_entropy_kl
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/nbgrader autograde $(A)

collect: install       ## Canvas/Gradescope zip in downloaded/A/archive/ -> submitted/, names to the gradebook: make collect A=01_entropy_kl
	$(PY) -m vicourse collect $(A)

roster: install        ## students' names (CSV: id, first name, last name) into the gradebook: make roster FILE=roster.csv
	$(PY) -m vicourse roster $(or $(FILE),roster.csv)

grade: install         ## batch autograde (dask), resumable: make grade A=01_entropy_kl [JOBS=n] [SCHEDULER=tls://host:8786] [FORCE=1]
	$(PY) -m vicourse grade $(A) $(if $(JOBS),--workers $(JOBS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(FORCE),--force) $(if $(INSECURE),--insecure)

cluster-certs: install ## a CA and TLS certificates for a grading cluster in cluster-certs/ (kept by make clean): docs/cluster.md
	$(PY) -m vicourse cluster-certs $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(FORCE),--force)

report: install        ## grades.csv, Gradescope, Canvas, similarity, class report: make report A=01_entropy_kl
	$(PY) -m vicourse report $(A)

feedback: install      ## student feedback HTML, no hidden checks: make feedback A=01_entropy_kl
	$(PY) -m vicourse feedback $(A)

gradescope: install    ## the autograder zip Gradescope takes, in build/gradescope/: make gradescope A=01_entropy_kl [REQUIRE_SANDBOX=1]
	$(PY) -m vicourse gradescope $(A) $(if $(REQUIRE_SANDBOX),--require-sandbox)

doctor: install        ## what isolation student kernels get on this machine, shown by trying
	$(PY) -m vicourse doctor


benchmark: install     ## batch (dask) vs stock serial autograde; fast calibration vs stock autograde; sandbox overhead; every notebook against its time budget, torch ones over 5 seeds; 05's GM-VAE from three starts; TLS vs plain TCP per submission
	$(PY) benchmarks/autograde.py
	$(PY) benchmarks/calibration_vs_autograde.py
	$(PY) benchmarks/sandbox_overhead.py
	$(PY) benchmarks/notebooks.py
	$(PY) benchmarks/gmvae_starts.py
	$(PY) benchmarks/cluster_tls.py

clean:
	rm -rf build autograded/*/ submitted feedback reports gradebook.db
