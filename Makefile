# The two commands a new user needs: `make run` and `make test`.
CARGO ?= cargo
LISTEN ?= 127.0.0.1:8080
DATA_DIR ?= ./data

.PHONY: run test bench build fmt clippy ci guest

## Run the gateway with embedded defaults (SQLite + local image store in ./data). The console
## page's noVNC comes from the npm registry into web/node_modules the first time, when npm is
## there; without it everything but the browser console works.
run:
	@if [ ! -f web/node_modules/@novnc/novnc/core/rfb.js ]; then \
	    if command -v npm >/dev/null 2>&1; then \
	        npm install --prefix web --omit=dev --no-audit --no-fund --loglevel=error >/dev/null \
	            || echo "make run: npm install in web/ failed: the browser console page will not load noVNC" >&2; \
	    else \
	        echo "make run: npm not found: the browser console page needs noVNC (npm install --prefix web)" >&2; \
	    fi; \
	fi
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
