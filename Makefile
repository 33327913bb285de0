# Two entry points on a fresh machine: `make demo` and `make test`.
# torch is installed first and pinned by constraints.txt, so nothing can pull another
# torch (or CUDA packages) afterwards.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench docs figures device-wheels clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vaelab train configs/quickstart.yaml --out runs/quickstart --overwrite
	$(VENV)/bin/vaelab info runs/quickstart
	$(VENV)/bin/vaelab report runs/quickstart -o runs/quickstart/report.html

test: $(STAMP)
	sh scripts/ensure_chromium.sh
	$(PY) -m pytest -q

docs: $(STAMP)
	sh scripts/fetch_mathjax.sh
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir site
	@echo "the guide: site/index.html"

figures: $(STAMP)
	$(PY) scripts/make_figures.py

bench: $(STAMP)
	$(PY) benchmarks/trainer_overhead.py

device-wheels: $(STAMP)
	PYTHON=$(PY) sh scripts/device_wheels.sh

clean:
	rm -rf $(VENV) runs build site src/*.egg-info
