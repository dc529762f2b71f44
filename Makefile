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

# Builds quietly: the compiler's output goes to DIR/build.log and is shown only when the
# build fails; warnings, which the build is meant to have none of, are shown either way.
# VERBOSE=1 shows everything as it happens.
ifeq ($(VERBOSE),1)
quiet_build = cmake --build $(1) -j $(JOBS)
else
quiet_build = echo "building $(1) (log: $(1)/build.log)"; \
	if cmake --build $(1) -j $(JOBS) >$(1)/build.log 2>&1; then \
	  grep -A3 -E 'warning:' $(1)/build.log || true; \
	else \
	  grep -v -E '^g?make\[[0-9]+\]: (Entering|Leaving) directory' $(1)/build.log | tail -60; \
	  echo "build of $(1) failed; the whole output is in $(1)/build.log"; exit 1; \
	fi
endif

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(call quiet_build,$(BUILD))

# The suite runs on the sanitizer build; the plain build is compiled too so both stay
# warning-free, and the tools it produces are what the demo and benchmarks use.
test: deps build
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DBT_SANITIZE=ON >/dev/null
	@$(call quiet_build,$(ASAN_BUILD))
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
	@$(call quiet_build,$(FUZZ_BUILD))
	@scripts/fuzz $(FUZZ_BUILD) $${FUZZ_SECONDS:-60}

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
