# The README's commands. `make demo` runs the main job on built-in synthetic data;
# `make test` runs every test. Both install missing system packages first.
SWIFT ?= swift
CC ?= cc
RELEASE := .build/release
DEBUG := .build/debug
CFLAGS := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Iinclude

.PHONY: deps build demo bench test test-swift test-c test-cli test-python test-crash clean
PYTHON ?= python3
VENV := .build/python-venv

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product metatl-cli
	$(SWIFT) build -c release --product metatl

demo: deps
	$(SWIFT) build -c release --product metatl-cli
	$(RELEASE)/metatl-cli demo

# Speed and memory on generated Electronics-sized data, as JSON (not a test: numbers vary with load).
bench: deps
	$(SWIFT) build -c release --product metatl-cli
	$(RELEASE)/metatl-cli bench

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) build --product metatl
	$(SWIFT) build --product metatl-swift-example
	$(MAKE) test-swift test-c test-cli test-crash test-python

test-swift:
	$(SWIFT) test --skip-build
	@# Again with the OpenBLAS kernel the command would switch to (only when none is set).
	@kernel=$$($(DEBUG)/metatl-cli blas --recommended); \
	if [ -n "$$kernel" ]; then echo "again with OPENBLAS_CORETYPE=$$kernel"; \
	OPENBLAS_CORETYPE=$$kernel $(SWIFT) test --skip-build --filter "BLASTests|ReferenceParityTests|GradientCheckTests|TrainingAndEvaluationTests"; fi

# The C ABI contract suite and the C example, compiled with plain cc against include/metatl.h.
test-c:
	$(CC) $(CFLAGS) Tests/c/contract_test.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -lpthread -o $(DEBUG)/contract-test
	$(DEBUG)/contract-test
	$(CC) $(CFLAGS) examples/c/example.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -o $(DEBUG)/c-example
	cd $(DEBUG) && ./c-example

# Crash safety: 50 saves over an existing checkpoint SIGKILLed at random moments; every file
# must afterwards hold the old or the new checkpoint and load (KILL_RUNS to change the count).
test-crash:
	$(CC) $(CFLAGS) Tests/crash/save_loop.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -o $(DEBUG)/save-loop
	Tests/crash/kill_during_save.sh $(DEBUG)/save-loop

# The command end to end, and the Swift example.
test-cli:
	Tests/cli/smoke.sh $(DEBUG)/metatl-cli
	$(DEBUG)/metatl-swift-example

# The Python package, installed with pip into a private virtual environment (building the
# release libmetatl on the way), its pytest suite and the quickstart notebook.
test-python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check "./bindings/python[test,progress]"
	cd $(VENV) && bin/python -m pytest -q -p no:cacheprovider $(CURDIR)/bindings/python/tests

clean:
	rm -rf .build
