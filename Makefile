# The two commands: `make demo` and `make test`. Both create .venv and install what they need.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CI (CI=true) also runs the tests marked slow and ray (a Ray cluster on the machine); a local `make test` skips them.
PYTEST_MARK ?= $(if $(CI),,-m "not slow and not ray")
PYTEST_ARGS ?=

.PHONY: demo serve screenshots test test-all docs bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/ipscope index demo/corpus --out build/demo.idx --force
	$(BIN)/ipscope trace build/demo.idx demo/sample_output.txt
	$(BIN)/ipscope trace build/demo.idx demo/sample_output.txt --format html --out build/demo-report.html
	@echo "The HTML report is at $(abspath build/demo-report.html) (open it in a browser)."
	@echo "The web workbench on the demo corpus: make serve, then open http://127.0.0.1:8000/"

$(VENV)/.installed-service: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[service]'
	touch $@ $(VENV)/.installed

# the web workbench and the HTTP API (docs/service.md, docs/web.md) over the demo corpus; Ctrl-C stops it
serve: $(VENV)/.installed-service
	test -f build/demo.idx/manifest.json || $(BIN)/ipscope index demo/corpus --out build/demo.idx
	$(BIN)/ipscope serve --data build/demo-data --corpus demo=build/demo.idx

# the README's screenshots of the workbench (docs/img/), made again from the demo data in a real browser
screenshots: $(VENV)/.installed-dev
	$(BIN)/python scripts/screenshots.py

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_MARK) $(PYTEST_ARGS)

test-all: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

docs: $(VENV)/.installed
	$(BIN)/python -m ipscope.docgen > docs/cli.md

bench: $(VENV)/.installed-dev
	benchmarks/setup_peer.sh
	$(BIN)/python benchmarks/bench_trace.py

clean:
	rm -rf build .pytest_cache
