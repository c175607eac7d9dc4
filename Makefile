# Parley: convenience targets over the CMake presets. `make` prints help.
SHELL := /bin/bash
JOBS ?= $(shell nproc)

ifeq ($(CI),true)
TEST_PRESET := ci
else
TEST_PRESET := release
endif

.DEFAULT_GOAL := help
.PHONY: help setup build demo test clean

help:
	@echo "Parley make targets:"
	@echo "  make setup   install the Debian 12 build/test packages (scripts/setup.sh, apt only)"
	@echo "  make build   setup, then configure and build the release preset (build/release)"
	@echo "  make demo    build, then run a three-member demo on loopback (scripts/demo.sh)"
	@echo "  make test    setup, build and run ctest (preset 'ci' with warnings as errors"
	@echo "               when CI=true, else 'release')"
	@echo "  make clean   remove build/"

setup:
	./scripts/setup.sh

build: setup
	cmake --preset release
	cmake --build --preset release -j$(JOBS)

demo: build
	./scripts/demo.sh build/release

test: setup
	cmake --preset $(TEST_PRESET)
	cmake --build --preset $(TEST_PRESET) -j$(JOBS)
	ctest --preset $(TEST_PRESET) -j2 --output-on-failure

clean:
	rm -rf build
