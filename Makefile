# Thin wrapper: each target installs dependencies and builds first, so on a fresh Debian 12
# machine `make demo` and `make test` are the whole set-up.
BUILD ?= build
JOBS ?= $(shell nproc)
CTEST_ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps configure build test test-fast test-sanitize fuzz demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release > $(BUILD).configure.log 2>&1 || (cat $(BUILD).configure.log; exit 1)

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

# Every test, including the slow torchvision ones (CI runs this).
test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

# Unit tests only (no slow label).
test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS) -LE slow $(CTEST_ARGS)

# The fast tests with AddressSanitizer + UndefinedBehaviorSanitizer (clang). The fuzz targets
# (tests/fuzz/, libFuzzer) run FUZZ_SECONDS each; exit 1 on a crash. Both in one build: SANITIZE_BUILD.
SANITIZE_BUILD ?= build-sanitize
FUZZ_SECONDS ?= 600
test-sanitize: deps
	@JOBS=$(JOBS) bash scripts/test_sanitize.sh $(SANITIZE_BUILD)

fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) JOBS=$(JOBS) bash scripts/fuzz.sh $(SANITIZE_BUILD)

demo: build
	@bash scripts/demo.sh $(BUILD)

bench: build
	@bash scripts/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD).configure.log
