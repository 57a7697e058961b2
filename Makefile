# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)
A ?=
# COURSE=build/demo: run a command on another course folder (the demo's); KEEP_GOING=1: a batch
# whose failed submissions or pages are listed exits 0 (docs/commands.md: exit codes)
VICOURSE = $(PY) -m vicourse
COURSE_OPT = $(if $(COURSE),--course $(COURSE))
KEEP_GOING_OPT = $(if $(KEEP_GOING),--keep-going)
.DEFAULT_GOAL := help

.PHONY: help install demo test release solutions examples calibrate autograde collect roster grade cluster-certs report feedback gradescope benchmark doctor check-config clean reset

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*; touch $@

help:                  ## this list, from the comments in the Makefile; a command's options: .venv/bin/vicourse COMMAND --help
	@awk '/^[a-z][a-z-]*:.*## / { split($$0, name, ":"); printf "  make %-14s %s\n", name[1], substr($$0, index($$0, "## ") + 3) }' $(MAKEFILE_LIST)

install: $(STAMP)      ## .venv with the pinned versions (every other target runs it first)

demo: install          ## releases, solutions, the sample submissions graded, reports, feedback: in build/demo/, its own course
	$(VICOURSE) demo

test: install          ## the project's tests (graders, pipeline, leaks, math)
	$(PY) -m pytest -q --durations=25 tests

release: install       ## student releases from source/
	$(VICOURSE) release $(A) $(COURSE_OPT)

solutions: install     ## executed, student-safe solutions
	$(VICOURSE) solutions $(A) $(COURSE_OPT)

examples: install      ## regenerate examples/ from release/ and source/
	$(VICOURSE) examples $(A) $(COURSE_OPT)

calibrate: install     ## every known-wrong answer and alternative, graded fast: make calibrate A=01_entropy_kl
	$(VICOURSE) calibrate $(A) $(COURSE_OPT)

autograde: install     ## stock nbgrader with the course config: make autograde A=01_entropy_kl
	$(VICOURSE) check-config
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/nbgrader autograde $(A)

collect: install       ## Canvas/Gradescope zip in downloaded/A/archive/ -> submitted/, names to the gradebook: make collect A=01_entropy_kl
	$(VICOURSE) collect $(A) $(COURSE_OPT)

roster: install        ## students' names (CSV: id, first name, last name) into the gradebook: make roster FILE=roster.csv
	$(VICOURSE) roster $(or $(FILE),roster.csv) $(COURSE_OPT)

grade: install         ## batch autograde (dask), resumable: make grade A=01_entropy_kl [JOBS=n] [SCHEDULER=tls://host:8786] [FORCE=1] [KEEP_GOING=1]
	$(VICOURSE) grade $(A) $(COURSE_OPT) $(KEEP_GOING_OPT) $(if $(JOBS),--workers $(JOBS)) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(FORCE),--force) $(if $(INSECURE),--insecure)

cluster-certs: install ## a CA and TLS certificates for a grading cluster in cluster-certs/ (kept by clean and reset): docs/cluster.md
	$(VICOURSE) cluster-certs $(COURSE_OPT) $(if $(SCHEDULER),--scheduler $(SCHEDULER)) $(if $(FORCE),--force)

report: install        ## grades.csv, Gradescope, Canvas, similarity, class report: make report A=01_entropy_kl
	$(VICOURSE) report $(A) $(COURSE_OPT)

feedback: install      ## student feedback HTML, no hidden checks: make feedback A=01_entropy_kl [KEEP_GOING=1]
	$(VICOURSE) feedback $(A) $(COURSE_OPT) $(KEEP_GOING_OPT)

gradescope: install    ## the autograder zip Gradescope takes, in build/gradescope/: make gradescope A=01_entropy_kl [REQUIRE_SANDBOX=1]
	$(VICOURSE) gradescope $(A) $(COURSE_OPT) $(if $(REQUIRE_SANDBOX),--require-sandbox)

doctor: install        ## what isolation student kernels get on this machine, shown by trying
	$(VICOURSE) doctor $(COURSE_OPT)

check-config: install  ## refuse unknown classes and settings in nbgrader_config.py (every command checks first)
	$(VICOURSE) check-config $(COURSE_OPT)

benchmark: install     ## batch (dask) vs stock serial autograde; fast calibration vs stock autograde; sandbox overhead; every notebook against its time budget, torch ones over 5 seeds; 05's GM-VAE from three starts; TLS vs plain TCP per submission
	$(PY) benchmarks/autograde.py
	$(PY) benchmarks/calibration_vs_autograde.py
	$(PY) benchmarks/sandbox_overhead.py
	$(PY) benchmarks/notebooks.py
	$(PY) benchmarks/gmvae_starts.py
	$(PY) benchmarks/cluster_tls.py

clean:                 ## remove what the commands rebuild: build/ (the demo course too) and caches; never students' work
	rm -rf build .pytest_cache
	find . -path ./.venv -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +

reset: install         ## archive students' work, gradebook and reports to backups/, then remove them: make reset CONFIRM=yes
	$(VICOURSE) reset $(COURSE_OPT) $(if $(filter yes,$(CONFIRM)),--yes)
