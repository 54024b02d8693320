# The two commands a new user needs: `make run` and `make test`.
CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= ./data

.PHONY: run test bench build fmt clippy ci guest

## Run the gateway with embedded defaults (SQLite + local image store in ./data).
run:
	$(CARGO) run --release --quiet -- serve --listen $(LISTEN) --data-dir $(DATA_DIR)

## Build the tiny guest (Debian's cloud kernel + busybox) and register it with the gateway
## `make run` started: make guest TOKEN=<admin token>. Needs apt-get, dpkg-deb and curl.
guest:
	@test -n "$(TOKEN)" || { echo "usage: make guest TOKEN=<token printed by make run>" >&2; exit 2; }
	bash guest/build.sh register http://$(LISTEN) $(TOKEN)

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
