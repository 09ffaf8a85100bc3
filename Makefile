# Two commands set everything up: `make demo` (the main job on the demo hospital) and `make test`.
# Both create and reuse a local virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint docs install clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(INSTALLED)

install: $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/bedcast demo

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy forecast training

# The manual (docs/, MkDocs Material, the API reference from the docstrings), built strict: a broken link or
# docstring fails the build.
docs: $(INSTALLED)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir .site

# Two workers, one per core of the 2-core machine the suite is sized for; each takes whole test files, so a
# file's fixtures are built once, and the session's trained models once per worker.
test: lint docs
	$(BIN)/pytest -n 2 --dist loadfile --durations=10

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .site
