# Parley: convenience targets over the CMake presets. `make` prints help.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10
# A failed test is run once more: on a loaded 2-core machine a test of real
# processes and timeouts can lose a race with the machine. Both attempts are in
# the log, and .ci/run lists every test that needed its retry, with the output
# of the failed attempt. CTEST_RETRY= turns it off.
CTEST_RETRY ?= --repeat until-pass:2

ifeq ($(CI),true)
TEST_PRESET := ci
else
TEST_PRESET := release
endif

.DEFAULT_GOAL := help
.PHONY: help setup build package demo test test-asan test-tsan fuzz fuzz-smoke bench bench-cluster clean

help:
	@echo "Parley make targets:"
	@echo "  make setup   install the Debian 12 build/test packages (scripts/setup.sh, apt only)"
	@echo "  make build   setup, then configure and build the release preset (build/release)"
	@echo "  make package build, then cpack: build/release/parley_VERSION_ARCH.deb (apt install ./FILE)"
	@echo "  make demo    build, then run a three-member demo on loopback (scripts/demo.sh)"
	@echo "  make test    setup, build and run ctest (preset 'ci' with warnings as errors"
	@echo "               when CI=true, else 'release')"
	@echo "  make test-asan   the whole suite (e2e included) under ASan + UBSan, clang-14 (build/asan)"
	@echo "  make test-tsan   the relay's tests (ctest -R 'Relay|relay', not the KeyUpdate floods: single-threaded memory bounds, run by the other suites) under TSan, clang-14 (build/tsan)"
	@echo "  make fuzz        build the libFuzzer targets (build/fuzz) and run each for FUZZ_SECONDS"
	@echo "                   (default $(FUZZ_SECONDS)); crashes land in build/fuzz/artifacts/"
	@echo "  make fuzz-smoke  the same, $(FUZZ_SMOKE_SECONDS) s per target, with a fixed seed (CI)"
	@echo "  make bench   setup, then run bench/run.sh: Parley vs the ws and Python relays, client"
	@echo "               crypto; writes bench/RESULTS.md (a few minutes; uses both cores)"
	@echo "  make bench-cluster  setup, then bench/cluster.sh: the relay on PostgreSQL with 1-3 nodes"
	@echo "               against the SQLite relay; writes bench/CLUSTER-RESULTS.md (about five minutes)"
	@echo "  make clean   remove build/"

setup:
	./scripts/setup.sh

build: setup
	cmake --preset release
	cmake --build --preset release -j$(JOBS)

# One .deb: both programs, man pages, completions, the relay's systemd unit and
# /etc/parley/relay.toml (CMakeLists.txt's CPack settings).
package: build
	cd build/release && cpack

demo: build
	./scripts/demo.sh build/release

test: setup
	cmake --preset $(TEST_PRESET)
	cmake --build --preset $(TEST_PRESET) -j$(JOBS)
	ctest --preset $(TEST_PRESET) -j2 --output-on-failure $(CTEST_RETRY)

test-asan: setup
	cmake --preset asan
	cmake --build --preset asan -j$(JOBS)
	ctest --preset asan -j2 --output-on-failure $(CTEST_RETRY)

test-tsan: setup
	cmake --preset tsan
	# Only what its tests (the relay's, CMakePresets.json) run: not the tools.
	cmake --build --preset tsan -j$(JOBS) --target parley_unit_tests parley_relay_it
	ctest --preset tsan -j2 --output-on-failure $(CTEST_RETRY)

fuzz: setup
	cmake --preset fuzz
	cmake --build --preset fuzz -j$(JOBS)
	tests/fuzz/run_fuzzers.sh $(FUZZ_SECONDS) build/fuzz

# A fixed seed: the same mutations of the committed corpus on every run.
fuzz-smoke:
	FUZZ_SEED=1 $(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

bench: setup
	./bench/run.sh

bench-cluster: setup
	./bench/cluster.sh

clean:
	rm -rf build
