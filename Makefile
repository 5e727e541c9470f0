# The README's commands. `make demo` runs the main job on built-in synthetic data;
# `make test` runs every test. Both install missing system packages first.
SWIFT ?= swift
CC ?= cc
RELEASE := .build/release
DEBUG := .build/debug
CFLAGS := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Iinclude

.PHONY: deps build demo bench results test test-swift test-c test-cli test-python clean
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

# docs/RESULTS.md: MetaTL against the baselines with the defaults, and what each setting does,
# over three seeds. Runs are cached in docs/results/runs (delete one to redo it). DATA is the
# folder with beauty_train.csv and beauty_test_new_user.csv (without it: synthetic data only).
DATA ?= ../shared/data
results: deps
	$(SWIFT) build -c release --product metatl-cli
	$(PYTHON) scripts/results.py --data "$(DATA)"

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) build --product metatl
	$(SWIFT) build --product metatl-swift-example
	$(MAKE) test-swift test-c test-cli test-python

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
