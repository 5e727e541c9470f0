# The README's commands. `make demo` runs the main job on built-in synthetic data;
# `make test` runs every test. Both install missing system packages first.
SWIFT ?= swift
CC ?= cc
RELEASE := .build/release
DEBUG := .build/debug
CFLAGS := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Iinclude

.PHONY: deps build install demo bench results test test-swift test-c test-cli test-python test-crash test-fuzz-replay \
	fuzz fuzz-build sanitize sanitize-asan sanitize-tsan clean
PYTHON ?= python3
VENV := .build/python-venv

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product metatl-cli
	$(SWIFT) build -c release --product metatl

# Installs the command as `metatl`, libmetatl.so and metatl.h under PREFIX (from the release
# build; BUILT=.build/debug installs a debug build without building). The command and library
# link the Swift runtime of the toolchain they were built with.
PREFIX ?= /usr/local
BUILT ?= $(RELEASE)
install:
	@if [ "$(BUILT)" = "$(RELEASE)" ]; then $(MAKE) build; fi
	install -d "$(PREFIX)/bin" "$(PREFIX)/lib" "$(PREFIX)/include"
	install -m 755 "$(BUILT)/metatl-cli" "$(PREFIX)/bin/metatl"
	install -m 755 "$(BUILT)/libmetatl.so" "$(PREFIX)/lib/libmetatl.so"
	install -m 644 include/metatl.h "$(PREFIX)/include/metatl.h"

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
	$(MAKE) test-swift test-c test-cli test-crash test-fuzz-replay test-python

test-swift:
	$(SWIFT) test --skip-build
	@# Again with the OpenBLAS kernel the command would switch to (only when none is set).
	@kernel=$$($(DEBUG)/metatl-cli blas --recommended); \
	if [ -n "$$kernel" ]; then echo "again with OPENBLAS_CORETYPE=$$kernel"; \
	OPENBLAS_CORETYPE=$$kernel $(SWIFT) test --skip-build --filter "BLASTests|ReferenceParityTests|GradientCheckTests|TrainingAndEvaluationTests"; fi

# The C ABI contract suite, the host-process test (threads, OpenBLAS's thread count; it calls
# OpenBLAS itself, as a host would) and the C example, compiled with plain cc against include/metatl.h.
test-c:
	$(CC) $(CFLAGS) Tests/c/contract_test.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -lpthread -o $(DEBUG)/contract-test
	$(DEBUG)/contract-test
	$(CC) $(CFLAGS) Tests/c/threads_test.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -lopenblas -lpthread -o $(DEBUG)/threads-test
	$(DEBUG)/threads-test
	$(CC) $(CFLAGS) Tests/c/split_test.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -o $(DEBUG)/split-test
	$(DEBUG)/split-test
	$(CC) $(CFLAGS) examples/c/example.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -o $(DEBUG)/c-example
	cd $(DEBUG) && ./c-example

# Crash safety: 50 saves over an existing checkpoint SIGKILLed at random moments; every file
# must afterwards hold the old or the new checkpoint and load (KILL_RUNS to change the count).
test-crash:
	$(CC) $(CFLAGS) Tests/crash/save_loop.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -o $(DEBUG)/save-loop
	Tests/crash/kill_during_save.sh $(DEBUG)/save-loop

# The fuzz harnesses once over their committed corpora (seeds and every crash found), linked
# against the plain debug libmetatl: quick, no sanitizer build. `make fuzz` is the real run.
test-fuzz-replay:
	@mkdir -p $(DEBUG)/fuzz
	@for t in $(FUZZ_TARGETS); do \
	  $(TOOLCHAIN_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer fuzz/fuzz_$$t.c -L$(DEBUG) -lmetatl -Wl,-rpath,$(CURDIR)/$(DEBUG) -lm \
	    -o $(DEBUG)/fuzz/fuzz_$$t || exit 1; \
	  $(DEBUG)/fuzz/fuzz_$$t -runs=0 fuzz/corpus/$$t >$(DEBUG)/fuzz/$$t.log 2>&1 \
	    || { cat $(DEBUG)/fuzz/$$t.log; exit 1; }; \
	  echo "fuzz replay $$t: $$(ls fuzz/corpus/$$t | wc -l) inputs, no crash"; \
	done

# The command end to end, and the Swift example.
test-cli:
	Tests/cli/smoke.sh $(DEBUG)/metatl-cli
	$(DEBUG)/metatl-swift-example
	@# Installed, the command is `metatl`.
	rm -rf $(DEBUG)/install-check && $(MAKE) --no-print-directory install BUILT=$(DEBUG) PREFIX=$(CURDIR)/$(DEBUG)/install-check
	test "$$($(DEBUG)/install-check/bin/metatl --version)" = "$$($(DEBUG)/metatl-cli --version)"

# The Python package, installed with pip into a private virtual environment (building the
# release libmetatl on the way), its pytest suite and the quickstart notebook.
test-python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check "./bindings/python[test,progress]"
	cd $(VENV) && bin/python -m pytest -q -p no:cacheprovider $(CURDIR)/bindings/python/tests

# ---- Hardening (README "Hardening") ------------------------------------------------------
# The Swift toolchain's clang: its libFuzzer and sanitizer runtimes are the ones swiftc uses.
TOOLCHAIN_CC ?= $(dir $(realpath $(shell command -v $(SWIFT))))clang
SWIFT_LIBDIR := $(abspath $(dir $(TOOLCHAIN_CC))../lib/swift/linux)
FUZZ_CFLAGS := -std=c11 -g -O1 -Wall -Wextra -Werror -Iinclude -fuse-ld=lld
FUZZ_TARGETS := data_file checkpoint serving
FUZZ_BUILD := .build-fuzz
# Seconds per target (libFuzzer's -max_total_time); FUZZ_RUNS=N stops each after N inputs instead.
FUZZ_SECONDS ?= 180
FUZZ_RUNS ?=
FUZZ_max_len_data_file := 4096
FUZZ_max_len_checkpoint := 8192
FUZZ_max_len_serving := 4096

# libmetatl built with AddressSanitizer and libFuzzer's coverage (release, for speed; Swift keeps
# its bounds and overflow checks at -O), and the harnesses linked against it. SwiftPM's
# --sanitize=fuzzer instruments only the C target, so the Swift code gets its coverage from
# -sanitize-coverage. Swift skips regenerating an object whose IR is unchanged, which a change of
# instrumentation flags alone does not change: the folder is rebuilt from scratch when they differ.
FUZZ_SWIFT_FLAGS := -c release --sanitize=address --sanitize=fuzzer \
	-Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp
fuzz-build: deps
	@if [ "$$(cat $(FUZZ_BUILD)/flags 2>/dev/null)" != "$(FUZZ_SWIFT_FLAGS)" ]; then rm -rf $(FUZZ_BUILD); fi
	$(SWIFT) build --product metatl --scratch-path $(FUZZ_BUILD) $(FUZZ_SWIFT_FLAGS)
	@echo "$(FUZZ_SWIFT_FLAGS)" >$(FUZZ_BUILD)/flags
	@mkdir -p $(FUZZ_BUILD)/bin
	for t in $(FUZZ_TARGETS); do \
	  $(TOOLCHAIN_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer,address fuzz/fuzz_$$t.c -L$(FUZZ_BUILD)/release -lmetatl \
	    -Wl,-rpath,$(CURDIR)/$(FUZZ_BUILD)/release -lm -o $(FUZZ_BUILD)/bin/fuzz_$$t || exit 1; \
	done

# Each target in turn, niced, for FUZZ_SECONDS (or FUZZ_RUNS inputs), starting from the committed
# corpus; new inputs go to $(FUZZ_BUILD)/corpus/TARGET, crashes to $(FUZZ_BUILD)/artifacts/TARGET.
fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/logs
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	  echo "fuzzing $$t for $(FUZZ_SECONDS) s$(if $(FUZZ_RUNS), or $(FUZZ_RUNS) inputs) (log: $(FUZZ_BUILD)/logs/$$t.log)"; \
	  start=$$(date +%s); \
	  nice -n 10 $(FUZZ_BUILD)/bin/fuzz_$$t $(FUZZ_BUILD)/corpus/$$t fuzz/corpus/$$t \
	    -max_total_time=$(FUZZ_SECONDS) $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS)) -timeout=10 -rss_limit_mb=4096 \
	    -max_len=$(FUZZ_max_len_$$t) $$(test -f fuzz/$$t.dict && echo -dict=fuzz/$$t.dict) \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	    >$(FUZZ_BUILD)/logs/$$t.log 2>&1; status=$$?; \
	  grep -E '^#[0-9]+[[:space:]]+DONE' $(FUZZ_BUILD)/logs/$$t.log | tail -1; \
	  grep -E 'stat::number_of_executed_units' $(FUZZ_BUILD)/logs/$$t.log; \
	  echo "$$t: $$(( $$(date +%s) - start )) s, exit status $$status"; \
	  if [ $$status -ne 0 ]; then tail -40 $(FUZZ_BUILD)/logs/$$t.log; exit 1; fi; \
	done

# The Swift tests and the C contract and threads tests under AddressSanitizer (leaks included)
# and under ThreadSanitizer, each in its own build folder.
sanitize: sanitize-asan sanitize-tsan

sanitize-asan: deps
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	$(SWIFT) build --product metatl --sanitize=address --scratch-path .build-asan
	$(SWIFT) test --skip-build --disable-xctest --sanitize=address --scratch-path .build-asan
	$(TOOLCHAIN_CC) $(CFLAGS) -g -fsanitize=address Tests/c/contract_test.c -L.build-asan/debug -lmetatl \
	  -Wl,-rpath,$(CURDIR)/.build-asan/debug -lpthread -o .build-asan/debug/contract-test
	.build-asan/debug/contract-test
	$(TOOLCHAIN_CC) $(CFLAGS) -g -fsanitize=address Tests/c/threads_test.c -L.build-asan/debug -lmetatl \
	  -Wl,-rpath,$(CURDIR)/.build-asan/debug -lopenblas -lpthread -o .build-asan/debug/threads-test
	.build-asan/debug/threads-test

sanitize-tsan: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) build --product metatl --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test --skip-build --disable-xctest --sanitize=thread --scratch-path .build-tsan
	@# The static TSan runtime intercepts libdispatch, so it needs the toolchain's libdispatch.
	$(TOOLCHAIN_CC) $(CFLAGS) -g -fsanitize=thread Tests/c/contract_test.c -L.build-tsan/debug -lmetatl \
	  -Wl,-rpath,$(CURDIR)/.build-tsan/debug -L$(SWIFT_LIBDIR) -ldispatch -lBlocksRuntime -Wl,-rpath,$(SWIFT_LIBDIR) \
	  -lpthread -o .build-tsan/debug/contract-test
	.build-tsan/debug/contract-test
	$(TOOLCHAIN_CC) $(CFLAGS) -g -fsanitize=thread Tests/c/threads_test.c -L.build-tsan/debug -lmetatl \
	  -Wl,-rpath,$(CURDIR)/.build-tsan/debug -L$(SWIFT_LIBDIR) -ldispatch -lBlocksRuntime -Wl,-rpath,$(SWIFT_LIBDIR) \
	  -lopenblas -lpthread -o .build-tsan/debug/threads-test
	.build-tsan/debug/threads-test

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan
