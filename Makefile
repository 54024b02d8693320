# The two commands a new user needs: `make run` and `make test`.
CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= ./data

.PHONY: run test bench build fmt clippy ci

## Run the gateway with embedded defaults (SQLite + local image store in ./data).
run:
	$(CARGO) run --release --quiet -- serve --listen $(LISTEN) --data-dir $(DATA_DIR)

## Run every test: unit, black-box HTTP and client-compatibility tests.
test:
	$(CARGO) test --quiet --no-fail-fast

## Benchmarks against a baseline measured in the same run.
bench:
	bash bench/run.sh

build:
	$(CARGO) build --release

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --all-targets -- -D warnings

ci:
	bash .ci/run
