# Two commands on a fresh machine:  `make run` (the main job, offline)  and  `make test`.
# Everything is installed into a project virtualenv ($(VENV)), never into the system Python:
# stock Debian/Ubuntu interpreters refuse that (PEP 668, "externally-managed-environment").
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
KERNEL ?= aurora
PYTEST_ARGS ?=

.PHONY: setup setup-lab run test lint

$(PY):
	@$(PYTHON) -m venv $(VENV) || { echo "could not create $(VENV): on Debian/Ubuntu run" \
	  "'sudo apt-get install python3-venv' (Python >= 3.11 is required), then make again"; exit 1; }

# One stamp per install: pip runs again only when pyproject.toml changes. pip's own progress
# bars show what the ~2.5 min first install is doing.
$(VENV)/.installed-dev: pyproject.toml | $(PY)
	@echo ">>> installing aurora and its test tools into $(VENV) (a few minutes the first time)"
	$(PIP) install --progress-bar on -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Aurora (Python 3)"
	@# git strips notebook outputs on commit (.gitattributes names the filter; this defines it)
	@if git rev-parse --git-dir >/dev/null 2>&1; then $(VENV)/bin/nbstripout --install; fi
	@touch $@

$(VENV)/.installed-lab: $(VENV)/.installed-dev
	@echo ">>> installing JupyterLab and nbconvert into $(VENV)"
	$(PIP) install --progress-bar on -e ".[dev,lab]"
	@touch $@

setup: $(VENV)/.installed-dev

setup-lab: $(VENV)/.installed-lab

run: setup-lab
	$(PY) -m aurora demo
	@echo ">>> notebooks: $(VENV)/bin/jupyter lab notebooks/  (kernel \"Aurora (Python 3)\" is registered)"

# pytest exits 5 when it collected no tests: that must fail, not pass silently.
test: setup
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup
	$(VENV)/bin/ruff check aurora tests pipelines notebooks
	$(VENV)/bin/lint-imports --no-cache
