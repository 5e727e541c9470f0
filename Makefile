# The README's commands. `make demo` runs the main job on built-in synthetic data;
# `make test` runs every test. Both install missing system packages first.
SWIFT ?= swift
CC ?= cc
RELEASE := .build/release
DEBUG := .build/debug
CFLAGS := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Iinclude

.PHONY: deps build install uninstall demo bench results test test-swift test-c test-cli test-python test-install test-wheel test-distributed test-crash test-fuzz-replay \
	fuzz fuzz-build sanitize sanitize-asan sanitize-tsan clean
PYTHON ?= python3
VENV := .build/python-venv

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c release --product metatl-cli
	$(SWIFT) build -c release --product metatl

# Installs under PREFIX (staged under DESTDIR when given, as packagers do: the files go to
# DESTDIR/PREFIX and metatl.pc still says PREFIX; from the release build; BUILT=.build/debug installs a debug build
# without building): the command as bin/metatl, include/metatl.h, lib/libmetatl.so.VERSION with
# the SONAME libmetatl.so.MAJOR and the links libmetatl.so.MAJOR and libmetatl.so, the pkg-config
# file lib/pkgconfig/metatl.pc, and the Swift runtime libraries both load, copied from the
# toolchain into lib/metatl/ (the library's run path is $ORIGIN/metatl, the command's
# $ORIGIN/../lib/metatl): the installed files need no Swift toolchain. The version is read from
# include/metatl.h (the C contract test checks it against Sources/MetaTL/Support/Version.swift).
PREFIX ?= /usr/local
BUILT ?= $(RELEASE)
VERSION := $(shell sed -n 's/^\#define MT_VERSION_STRING "\(.*\)"/\1/p' include/metatl.h)
VERSION_MAJOR := $(shell sed -n 's/^\#define MT_VERSION_MAJOR \([0-9]*\)$$/\1/p' include/metatl.h)
INSTALL_PREFIX = $(abspath $(PREFIX))
install:
	@if [ "$(BUILT)" = "$(RELEASE)" ]; then $(MAKE) build; fi
	@test -n "$(VERSION)" -a -n "$(VERSION_MAJOR)" || { echo "no version in include/metatl.h" >&2; exit 1; }
	install -d "$(DESTDIR)$(INSTALL_PREFIX)/bin" "$(DESTDIR)$(INSTALL_PREFIX)/lib/pkgconfig" "$(DESTDIR)$(INSTALL_PREFIX)/include"
	scripts/bundle-swift-runtime.sh "$(DESTDIR)$(INSTALL_PREFIX)/lib/metatl" "$(BUILT)/libmetatl.so" "$(BUILT)/metatl-cli" >/dev/null
	install -m 755 "$(BUILT)/metatl-cli" "$(DESTDIR)$(INSTALL_PREFIX)/bin/metatl"
	patchelf --set-rpath '$$ORIGIN/../lib/metatl' "$(DESTDIR)$(INSTALL_PREFIX)/bin/metatl"
	install -m 755 "$(BUILT)/libmetatl.so" "$(DESTDIR)$(INSTALL_PREFIX)/lib/libmetatl.so.$(VERSION)"
	@# Two calls: patchelf 0.14 given both options sets only the SONAME.
	patchelf --set-soname libmetatl.so.$(VERSION_MAJOR) "$(DESTDIR)$(INSTALL_PREFIX)/lib/libmetatl.so.$(VERSION)"
	patchelf --set-rpath '$$ORIGIN/metatl' "$(DESTDIR)$(INSTALL_PREFIX)/lib/libmetatl.so.$(VERSION)"
	ln -sfn libmetatl.so.$(VERSION) "$(DESTDIR)$(INSTALL_PREFIX)/lib/libmetatl.so.$(VERSION_MAJOR)"
	ln -sfn libmetatl.so.$(VERSION_MAJOR) "$(DESTDIR)$(INSTALL_PREFIX)/lib/libmetatl.so"
	install -m 644 include/metatl.h "$(DESTDIR)$(INSTALL_PREFIX)/include/metatl.h"
	printf '%s\n' 'prefix=$(INSTALL_PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: metatl' 'Description: MetaTL engine: next-item recommendation for cold-start users (C ABI)' \
	  'Version: $(VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -lmetatl -Wl,-rpath,$${libdir}' \
	  >"$(DESTDIR)$(INSTALL_PREFIX)/lib/pkgconfig/metatl.pc"

# Removes what `make install` put under PREFIX (with the same PREFIX and DESTDIR).
uninstall:
	rm -f "$(DESTDIR)$(INSTALL_PREFIX)/bin/metatl" "$(DESTDIR)$(INSTALL_PREFIX)/include/metatl.h" \
	  "$(DESTDIR)$(INSTALL_PREFIX)/lib/libmetatl.so" "$(DESTDIR)$(INSTALL_PREFIX)/lib/libmetatl.so.$(VERSION_MAJOR)" \
	  "$(DESTDIR)$(INSTALL_PREFIX)/lib/libmetatl.so.$(VERSION)" "$(DESTDIR)$(INSTALL_PREFIX)/lib/pkgconfig/metatl.pc"
	rm -rf "$(DESTDIR)$(INSTALL_PREFIX)/lib/metatl"

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
	$(MAKE) test-swift test-c test-cli test-install test-crash test-fuzz-replay test-python test-wheel test-distributed

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

# `make install` into a temporary prefix (the debug build), then, with no toolchain in reach
# (env -i, PATH=/usr/bin:/bin): the C example compiled with only `pkg-config --cflags --libs
# metatl` and run (it prints the library's version), and the installed command's --version. No
# library the installed files load may resolve into the toolchain's folder (ldd), and the library's
# SONAME is libmetatl.so.MAJOR.
TOOLCHAIN_LIB = $(abspath $(dir $(realpath $(shell command -v $(SWIFT))))../lib)
INSTALL_TEST := $(DEBUG)/install-test
NO_TOOLCHAIN := env -i PATH=/usr/bin:/bin HOME="$(HOME)"
test-install:
	rm -rf $(INSTALL_TEST) && $(MAKE) --no-print-directory install BUILT=$(DEBUG) PREFIX=$(CURDIR)/$(INSTALL_TEST)
	$(NO_TOOLCHAIN) PKG_CONFIG_PATH=$(CURDIR)/$(INSTALL_TEST)/lib/pkgconfig sh -c \
	  '$(CC) -std=c11 -Wall -Wextra -Werror examples/c/example.c $$(pkg-config --cflags --libs metatl) -o $(INSTALL_TEST)/c-example'
	cd $(INSTALL_TEST) && $(NO_TOOLCHAIN) ./c-example >c-example.out || { cat c-example.out; exit 1; }
	grep -qx "libmetatl $(VERSION)" $(INSTALL_TEST)/c-example.out
	test "$$($(NO_TOOLCHAIN) $(INSTALL_TEST)/bin/metatl --version)" = "$(VERSION)"
	readelf -d $(INSTALL_TEST)/lib/libmetatl.so | grep -q 'SONAME.*\[libmetatl\.so\.$(VERSION_MAJOR)\]'
	@cd $(INSTALL_TEST) && if $(NO_TOOLCHAIN) ldd c-example bin/metatl lib/libmetatl.so lib/metatl/*.so | grep -F "$(TOOLCHAIN_LIB)/"; \
	  then echo "the installed files load libraries from the toolchain ($(TOOLCHAIN_LIB))" >&2; exit 1; fi
	@# Staged for a package (DESTDIR): the files under the stage, metatl.pc naming the real prefix; uninstall removes them.
	rm -rf $(INSTALL_TEST)-stage && $(MAKE) --no-print-directory install BUILT=$(DEBUG) PREFIX=/opt/metatl DESTDIR=$(CURDIR)/$(INSTALL_TEST)-stage
	grep -qx 'prefix=/opt/metatl' $(INSTALL_TEST)-stage/opt/metatl/lib/pkgconfig/metatl.pc && test -x $(INSTALL_TEST)-stage/opt/metatl/bin/metatl
	$(MAKE) --no-print-directory uninstall PREFIX=/opt/metatl DESTDIR=$(CURDIR)/$(INSTALL_TEST)-stage
	test -z "$$(find $(INSTALL_TEST)-stage -type f -o -type l)" || { find $(INSTALL_TEST)-stage; exit 1; }
	@echo "installed $(VERSION) under $(INSTALL_TEST): C example (pkg-config) and command run without the toolchain; staged with DESTDIR and uninstalled"

# The Python package, installed with pip into a private virtual environment (building the
# release libmetatl on the way), its pytest suite and the quickstart notebook.
test-python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check "./bindings/python[test,progress]"
	cd $(VENV) && bin/python -m pytest -q -p no:cacheprovider $(CURDIR)/bindings/python/tests

# The wheel: `pip wheel ./bindings/python` (building the release libmetatl, a no-op after
# test-python), installed with matplotlib from PyPI in a fresh virtual environment, then the
# quickstart run there with no toolchain in reach (env -i, PATH=/usr/bin:/bin). No library of the
# installed package may resolve into the toolchain's folder (ldd), nor be mapped into a Python
# process that used it (/proc/self/maps).
WHEEL_DIR := .build/wheel
WHEEL_VENV := .build/wheel-venv
test-wheel:
	rm -rf $(WHEEL_DIR) $(WHEEL_VENV)
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/pip wheel -q --no-deps --disable-pip-version-check ./bindings/python -w $(WHEEL_DIR)
	$(WHEEL_VENV)/bin/python -m zipfile -l $(WHEEL_DIR)/metatl-*.whl | grep -q '^metatl/libswiftCore\.so '
	$(WHEEL_VENV)/bin/pip install -q --disable-pip-version-check $(WHEEL_DIR)/metatl-*.whl matplotlib
	cd $(WHEEL_DIR) && $(NO_TOOLCHAIN) MPLBACKEND=Agg $(CURDIR)/$(WHEEL_VENV)/bin/python $(CURDIR)/examples/python/quickstart.py
	@package=$$($(NO_TOOLCHAIN) $(WHEEL_VENV)/bin/python -c 'import metatl, os; print(os.path.dirname(metatl.__file__))') && \
	if $(NO_TOOLCHAIN) ldd $$package/*.so | grep -F "$(TOOLCHAIN_LIB)/"; \
	  then echo "the wheel's libraries load libraries from the toolchain ($(TOOLCHAIN_LIB))" >&2; exit 1; fi
	$(NO_TOOLCHAIN) $(WHEEL_VENV)/bin/python -c 'import metatl; m = metatl.Model(dim=8, hidden=(8, 8)); \
	  m.train(metatl.Dataset.synthetic(seed=1), 2); maps = open("/proc/self/maps").read(); \
	  assert "$(TOOLCHAIN_LIB)/" not in maps and "metatl/libswiftCore.so" in maps; print("metatl", metatl.__version__, "from the wheel")'

# Batch inference with Ray (examples/distributed): the package (building the release libmetatl,
# a no-op after test-python) with ray[data] and pytest, at the versions verified, in a virtual
# environment of its own, then the example's test on a local Ray cluster of two actors. Ray
# reports no usage statistics (RAY_USAGE_STATS_ENABLED=0) and starts no dashboard.
DIST_VENV := .build/distributed-venv
DIST_REQUIREMENTS := "ray[data]==2.60.0" pyarrow==26.0.1 pandas==3.1.1 pytest==9.2.0
test-distributed:
	$(PYTHON) -m venv $(DIST_VENV)
	$(DIST_VENV)/bin/pip install -q --disable-pip-version-check ./bindings/python $(DIST_REQUIREMENTS)
	cd $(DIST_VENV) && RAY_USAGE_STATS_ENABLED=0 bin/python -m pytest -q -p no:cacheprovider $(CURDIR)/examples/distributed

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
