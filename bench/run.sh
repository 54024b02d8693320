#!/usr/bin/env bash
# `make bench`: load-tests the gateway with wrk over loopback and prints each figure next to
# a bare hyper "hello" server (examples/hello.rs) measured the same way in the same run.
#
# Knobs (environment):
#   BENCH_SECONDS      measured seconds per target            (default 10)
#   BENCH_WARMUP       warm-up seconds per target, discarded  (default 2)
#   BENCH_CONNECTIONS  concurrent keep-alive connections      (default 16)
#   BENCH_THREADS      wrk threads                            (default 2)
#   BENCH_SKIP_BUILD   1 = use the binaries already in target/release
#   CARGO, CARGO_TARGET_DIR as for cargo.
#
# Adding a benchmark: write a `section_NAME` function below that calls `section "title"`,
# then `measure LABEL URL [wrk args...]` per target (use `$GATEWAY`, `$AUTH` and the
# helpers; WRK_EXTRA_LUA for a Lua script of your own), and append its name to SECTIONS
# at the bottom. `measure` compares every row with the hello baseline measured first
# (BASE_RPS / BASE_P50_US / BASE_P99_US).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO="${CARGO:-cargo}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BENCH_SECONDS="${BENCH_SECONDS:-10}"
BENCH_WARMUP="${BENCH_WARMUP:-2}"
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-16}"
BENCH_THREADS="${BENCH_THREADS:-2}"
START_TIMEOUT=10 # seconds a server gets to print "listening on http://ADDR"
STOP_TIMEOUT=10  # seconds a server gets to exit after SIGTERM before SIGKILL

log() { printf '%s\n' "$*" >&2; }
die() {
    log "bench: $*"
    exit 1
}

# ---------------------------------------------------------------- cleanup
WORK=""
PIDS=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "bench: pid $pid ignored SIGTERM for ${STOP_TIMEOUT}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    trap - EXIT INT TERM
    if [[ -n "$WRK_PID" ]]; then
        kill -TERM "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    [[ -n "$WORK" && -d "$WORK" ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools
ensure_wrk() {
    command -v wrk >/dev/null 2>&1 && return 0
    log "bench: wrk not found; installing it from Debian's packages"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    $sudo apt-get update -qq >&2 || die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >&2 ||
        die "cannot install wrk (apt-get install -y wrk)"
    command -v wrk >/dev/null 2>&1 || die "wrk still not found after installing it"
}

build() {
    if [[ "${BENCH_SKIP_BUILD:-0}" == 1 ]]; then
        log "bench: BENCH_SKIP_BUILD=1: using the binaries in $TARGET_DIR/release"
    else
        log "bench: building (release)"
        "$CARGO" build --release --quiet --example hello >&2
        "$CARGO" build --release --quiet --bin cyclades >&2
    fi
    HELLO_BIN="$TARGET_DIR/release/examples/hello"
    CYCLADES_BIN="$TARGET_DIR/release/cyclades"
    [[ -x "$HELLO_BIN" ]] || die "missing $HELLO_BIN"
    [[ -x "$CYCLADES_BIN" ]] || die "missing $CYCLADES_BIN"
}

# wrk prints nothing parseable by default; this done() hook prints one exact line.
write_wrk_script() {
    WRK_LUA="$WORK/report.lua"
    cat >"$WRK_LUA" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH_RESULT %.1f %.1f %.1f %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout))
end
LUA
}

# ---------------------------------------------------------------- servers
# start_server NAME CMD... : runs CMD in the background with stdout in $WORK/NAME.out and
# waits (bounded) for "listening on http://ADDR"; sets SERVER_ADDR to ADDR.
start_server() {
    local name=$1 i pid line
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    pid=$!
    PIDS+=("$pid")
    for ((i = 0; i < START_TIMEOUT * 20; i++)); do
        line=$(grep -m1 '^listening on http://' "$WORK/$name.out" 2>/dev/null || true)
        if [[ -n "$line" ]]; then
            SERVER_ADDR=${line#listening on http://}
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            log "bench: $name exited before listening; its stderr:"
            cat "$WORK/$name.err" >&2
            exit 1
        fi
        sleep 0.05
    done
    log "bench: $name did not print 'listening on http://...' within ${START_TIMEOUT}s; stderr:"
    cat "$WORK/$name.err" >&2
    exit 1
}

# ---------------------------------------------------------------- measuring
# run_wrk SECONDS URL [wrk args...] : sets WRK_RESULT to
# "rps p50_us p99_us requests status_errs sock_errs". wrk runs in the background and is
# waited for, so a signal to this script stops the run at once (cleanup kills wrk).
# A section may set WRK_EXTRA_LUA to a Lua file of its own (request()/setup() hooks, e.g.
# for uploads): it is run with the reporting done() appended, as wrk takes one -s only.
WRK_PID=""
WRK_EXTRA_LUA=""
run_wrk() {
    local secs=$1 url=$2 rc=0 script=$WRK_LUA
    shift 2
    if [[ -n "$WRK_EXTRA_LUA" ]]; then
        script="$WORK/combined.lua"
        cat "$WRK_EXTRA_LUA" "$WRK_LUA" >"$script"
    fi
    timeout $((secs + 30)) wrk -t "$BENCH_THREADS" -c "$BENCH_CONNECTIONS" \
        -d "${secs}s" --timeout 5s -s "$script" "$@" "$url" >"$WORK/wrk.out" 2>&1 &
    WRK_PID=$!
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    ((rc == 0)) || die "wrk failed (exit $rc) against $url: $(cat "$WORK/wrk.out")"
    WRK_RESULT=$(grep -m1 '^BENCH_RESULT ' "$WORK/wrk.out") ||
        die "no result from wrk for $url: $(cat "$WORK/wrk.out")"
    WRK_RESULT=${WRK_RESULT#BENCH_RESULT }
}

# check_url URL EXPECTED_CONTENT_TYPE_PREFIX [curl args...] : one request must succeed.
check_url() {
    local url=$1 want=$2 got
    shift 2
    command -v curl >/dev/null 2>&1 || return 0
    got=$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$@" "$url") ||
        die "cannot GET $url"
    [[ "$got" == "200 $want"* ]] || die "GET $url answered '$got', expected 200 $want"
}

fmt_ms() { awk -v us="$1" 'BEGIN { printf "%.3f", us / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "n/a" }'; }

print_table_header() {
    printf '%-28s %10s %9s %9s\n' "target" "req/s" "p50(ms)" "p99(ms)"
}

section() {
    printf '\n== %s ==\n' "$1"
    print_table_header
}

BASE_RPS=""
BASE_P50_US=""
BASE_P99_US=""

# measure LABEL URL [wrk args...] : warm up, measure, print one row (with ratios to the
# hello baseline unless this is the baseline itself, i.e. BASE_RPS is still empty).
measure() {
    local label=$1 url=$2 rps p50 p99 n st sock extra=""
    shift 2
    run_wrk "$BENCH_WARMUP" "$url" "$@"
    run_wrk "$BENCH_SECONDS" "$url" "$@"
    read -r rps p50 p99 n st sock <<<"$WRK_RESULT"
    if ((st > 0 || sock > 0)); then
        die "$label: $st non-2xx/3xx responses and $sock socket errors out of $n requests"
    fi
    if [[ -n "$BASE_RPS" ]]; then
        extra=$(printf '  (%s req/s, %s p50, %s p99 of hello)' \
            "$(ratio "$rps" "$BASE_RPS")" "$(ratio "$p50" "$BASE_P50_US")" \
            "$(ratio "$p99" "$BASE_P99_US")")
    fi
    printf '%-28s %10.0f %9s %9s%s\n' "$label" "$rps" "$(fmt_ms "$p50")" "$(fmt_ms "$p99")" "$extra"
    LAST_RPS=$rps LAST_P50_US=$p50 LAST_P99_US=$p99
}

# ---------------------------------------------------------------- setup
setup() {
    ensure_wrk
    build
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/cyclades-bench.XXXXXX")
    write_wrk_script

    start_server hello "$HELLO_BIN" 0
    HELLO="http://$SERVER_ADDR"

    local data="$WORK/data"
    mkdir -p "$data"
    TOKEN=$("$CYCLADES_BIN" user create bench --data-dir "$data" 2>"$WORK/user.err" | tail -n 1) ||
        die "cyclades user create failed: $(cat "$WORK/user.err")"
    [[ -n "$TOKEN" ]] || die "cyclades user create printed no token"
    AUTH=(-H "X-Auth-Token: $TOKEN")
    CYCLADES_LOG=warn start_server gateway \
        "$CYCLADES_BIN" serve --listen 127.0.0.1:0 --data-dir "$data"
    GATEWAY="http://$SERVER_ADDR"

    printf 'cyclades bench: wrk, %s connections (keep-alive), %s threads, %ss warm-up + %ss per target, loopback\n' \
        "$BENCH_CONNECTIONS" "$BENCH_THREADS" "$BENCH_WARMUP" "$BENCH_SECONDS"
    printf 'hello %s   gateway %s   cpus %s\n' "$HELLO" "$GATEWAY" "$(nproc 2>/dev/null || echo '?')"
}

# ---------------------------------------------------------------- sections
section_baseline() {
    section "baseline: bare hyper 1 hello (examples/hello.rs)"
    check_url "$HELLO/" "text/plain"
    measure "hello (bare hyper)" "$HELLO/"
    BASE_RPS=$LAST_RPS BASE_P50_US=$LAST_P50_US BASE_P99_US=$LAST_P99_US
}

section_flavors() {
    section "compute: GET /compute/v2.0/flavors/detail"
    local url="$GATEWAY/compute/v2.0/flavors/detail"
    check_url "$url" "application/json" "${AUTH[@]}"
    check_url "$url?xml" "application/xml" "${AUTH[@]}"
    measure "flavors/detail JSON" "$url" "${AUTH[@]}"
    measure "flavors/detail XML" "$url?xml" "${AUTH[@]}"
}

# Run order: the baseline first (every later row is compared with it).
SECTIONS=(section_baseline section_flavors)

setup
for s in "${SECTIONS[@]}"; do "$s"; done
printf '\nratios: gateway/hello; req/s below 1x and latency above 1x are the gateway'"'"'s own cost.\n'
