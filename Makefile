# Front door to the CMake build. `make` builds everything (library, tools, tests,
# benchmarks, examples); `make test` installs dependencies, then builds and runs the
# whole suite under ASan+UBSan; `make demo` runs the offline end-to-end demo.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test test-fast demo bench fuzz install clean

all: build

deps:
	@scripts/install-deps

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The suite runs on the sanitizer build; the plain build is compiled too so both stay
# warning-free, and the tools it produces are what the demo and benchmarks use.
test: deps build
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBT_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

# Same suite on the plain build, for quick iteration.
test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

demo: deps build
	@scripts/demo $(BUILD)

bench: build
	@scripts/bench $(BUILD)

fuzz:
	@CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBT_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@scripts/fuzz $(FUZZ_BUILD) $${FUZZ_SECONDS:-60}

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
