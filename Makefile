# The README's commands. `make demo` runs the main job on built-in synthetic data;
# `make test` runs every test. Both install missing system packages first.
SWIFT ?= swift
BIN := .build/release/metatl-cli

.PHONY: deps build demo test clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product metatl-cli

demo: build
	$(BIN) demo

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	Tests/cli/smoke.sh .build/debug/metatl-cli

clean:
	rm -rf .build
