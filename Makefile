# Convenience entry points; each does its own set-up on a fresh Debian 12 machine.
.PHONY: all demo test lint fuzz bench clean

all:
	./scripts/install-deps.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build build -j$$(nproc)

demo:
	./scripts/demo.sh

test:
	./scripts/test.sh

lint:
	./scripts/lint.sh

fuzz:
	./scripts/fuzz.sh $${SECONDS_PER_TARGET:-60}

bench:
	./scripts/bench.sh

clean:
	rm -rf build build-test build-fuzz build-bench
