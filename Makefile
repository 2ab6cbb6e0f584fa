# Two commands on a fresh machine:  `make run` (the main job, offline)  and  `make test`.
PY ?= python3
PIP ?= $(PY) -m pip
KERNEL ?= aurora
PYTEST_ARGS ?=

.PHONY: setup run test lint bench

setup:
	$(PIP) install --quiet --disable-pip-version-check -e ".[dev]"
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Aurora (Python 3)" >/dev/null

run: setup
	$(PY) -m aurora demo

# pytest exits 5 when it collected no tests: that must fail, not pass silently.
test: setup
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: setup
	ruff check aurora tests pipelines notebooks
	lint-imports --no-cache
