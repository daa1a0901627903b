# Thin front over CMake presets; the real build is CMakeLists.txt.
#   make demo     dependencies, release build, a short demonstration
#   make test     dependencies, release build, unit tests (ctest)
#   make bench    every benchmark, full length, CSV + SVG in build/bench-results
#   make stress   the long stress runs
#   make install  install the release build (PREFIX=/usr/local)
PRESET ?= release
PREFIX ?= /usr/local
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)
BUILD  := build/$(PRESET)
# CI (CI=true) builds with -Werror; pass more with CMAKE_ARGS=...
CMAKE_ARGS ?= $(if $(CI),-DCCOLL_WERROR=ON)
RESULTS := build/bench-results

.PHONY: all deps configure build demo test bench stress install asan tsan clean

all: build

deps:
	@sh scripts/deps.sh --quiet

configure: deps
	@cmake --preset $(PRESET) $(CMAKE_ARGS) >/dev/null

build: configure
	@cmake --build --preset $(PRESET) -j $(JOBS)

test: build
	ctest --preset $(PRESET) -j 2

demo: build
	@sh scripts/demo.sh $(BUILD)

bench: build
	@mkdir -p $(RESULTS)
	@sh scripts/bench.sh $(BUILD) $(RESULTS)

stress: build
	@sh scripts/stress.sh $(BUILD) long

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

asan:
	@$(MAKE) --no-print-directory test PRESET=asan

tsan:
	@$(MAKE) --no-print-directory test PRESET=tsan

clean:
	rm -rf build
