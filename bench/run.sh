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
#   BENCH_SECTIONS     sections to run, by name, e.g. "images" or "baseline flavors"
#                      (default: all; they always run in the order of SECTIONS below)
#   BENCH_IMAGE_MB     MiB uploaded/downloaded by the images section (default 1024 = 1 GiB)
#   BENCH_RSS_MB       MiB of the upload whose peak RSS is measured  (default 4096 = 4 GiB)
#   BENCH_RSS_LIMIT_MB RSS growth allowed during that upload, MiB    (default 64)
#   BENCH_DROP_CACHES  1 = drop the page cache before cold reads     (default 1; 0 = per-file
#                      eviction only, gentler on a shared machine)
#   BENCH_IO_TIMEOUT   seconds any one transfer may take             (default 900)
#   BENCH_SERVERS      servers the servers section creates, then lists (default 1000)
#   BENCH_SERVERS_TIMEOUT seconds the creates may take, and again the builds (default 300)
#   BENCH_CONSOLES     consoles the console section holds open at once (default 30;
#                      QEMU serves at most 32 viewers of one VM at a time)
#   BENCH_CONSOLE_ROUNDS, BENCH_CONSOLE_FRAMES  RFB round trips and full frames per path
#                      (defaults 2000 and 30)
#   BENCH_SWITCH_ROUNDS, BENCH_SWITCH_FRAMES  frame round trips and frames sent per path by
#                      the switch section (defaults 5000 and 200000)
#   CARGO, CARGO_TARGET_DIR as for cargo.
#
# Adding a benchmark: write a `section_NAME` function below that calls `section "title"`,
# then `measure LABEL URL [wrk args...]` per target (use `$GATEWAY`, `$AUTH` and the
# helpers; WRK_EXTRA_LUA for a Lua script of your own), and append its name to SECTIONS
# at the bottom. `measure` compares every row with the hello baseline measured first
# (BASE_RPS / BASE_P50_US / BASE_P99_US). A section that is not a wrk table (see
# section_images) prints its own rows after `section_title "title"`, and reports a failed
# check with `section_fail MSG`: the run goes on and exits 1 at the end.
set -euo pipefail
export LC_ALL=C # decimal points in $EPOCHREALTIME, awk and printf

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CARGO="${CARGO:-cargo}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BENCH_SECONDS="${BENCH_SECONDS:-10}"
BENCH_WARMUP="${BENCH_WARMUP:-2}"
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-16}"
BENCH_THREADS="${BENCH_THREADS:-2}"
BENCH_IMAGE_MB="${BENCH_IMAGE_MB:-1024}"
BENCH_RSS_MB="${BENCH_RSS_MB:-4096}"
BENCH_RSS_LIMIT_MB="${BENCH_RSS_LIMIT_MB:-64}"
BENCH_DROP_CACHES="${BENCH_DROP_CACHES:-1}"
BENCH_IO_TIMEOUT="${BENCH_IO_TIMEOUT:-900}"
BENCH_SERVERS="${BENCH_SERVERS:-1000}"
BENCH_SERVERS_TIMEOUT="${BENCH_SERVERS_TIMEOUT:-300}"
BENCH_CONSOLES="${BENCH_CONSOLES:-30}"
BENCH_CONSOLE_ROUNDS="${BENCH_CONSOLE_ROUNDS:-2000}"
BENCH_CONSOLE_FRAMES="${BENCH_CONSOLE_FRAMES:-30}"
BENCH_SWITCH_ROUNDS="${BENCH_SWITCH_ROUNDS:-5000}"
BENCH_SWITCH_FRAMES="${BENCH_SWITCH_FRAMES:-200000}"
START_TIMEOUT=10 # seconds a server gets to print "listening on http://ADDR"
STOP_TIMEOUT=10  # seconds a server gets to exit after SIGTERM before SIGKILL

log() { printf '%s\n' "$*" >&2; }
die() {
    log "bench: $*"
    exit 1
}
for knob in BENCH_IMAGE_MB BENCH_RSS_MB BENCH_RSS_LIMIT_MB BENCH_IO_TIMEOUT BENCH_SERVERS BENCH_SERVERS_TIMEOUT BENCH_CONSOLES BENCH_CONSOLE_ROUNDS BENCH_CONSOLE_FRAMES BENCH_SWITCH_ROUNDS BENCH_SWITCH_FRAMES; do
    [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer, not '${!knob}'"
done

# ---------------------------------------------------------------- cleanup
WORK=""
PIDS=()    # servers: SIGTERM, then SIGKILL after STOP_TIMEOUT
BG_PIDS=() # clients of a section (curl, dd, hashers): killed at once
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
    for pid in "${BG_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    # Everything a run writes (random image file, dd copy, gateway data dirs with their
    # uploaded images) is under $WORK.
    if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- tools
# ensure_cmd CMD [DEBIAN_PACKAGE] : installs the package (default CMD) if CMD is missing.
APT_UPDATED=0
ensure_cmd() {
    local cmd=$1 pkg=${2:-$1} sudo=""
    command -v "$cmd" >/dev/null 2>&1 && return 0
    log "bench: $cmd not found; installing $pkg from Debian's packages"
    [[ $(id -u) -eq 0 ]] || sudo="sudo"
    if ((APT_UPDATED == 0)); then
        $sudo apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$pkg" >&2 ||
        die "cannot install $pkg (apt-get install -y $pkg)"
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd still not found after installing $pkg"
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
# waits (bounded) for "listening on http://ADDR"; sets SERVER_ADDR to ADDR and SERVER_PID.
start_server() {
    local name=$1 i pid line
    shift
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
    pid=$!
    PIDS+=("$pid")
    SERVER_PID=$pid
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
    ensure_cmd wrk
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
# ratio A B : A / B as "0.25x"; two significant digits below 0.1 ("0.0047x"), not "0.00x".
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) printf "n/a"; else if (a / b < 0.1) printf "%.2gx", a / b; else printf "%.2fx", a / b }'; }

print_table_header() {
    printf '%-28s %10s %9s %9s\n' "target" "req/s" "p50(ms)" "p99(ms)"
}

section_title() {
    printf '\n== %s ==\n' "$1"
}

section() {
    section_title "$1"
    print_table_header
}

# section_fail MSG : prints a FAIL line; the run continues and exits 1 at the end.
FAILED=()
section_fail() {
    printf 'FAIL: %s\n' "$1"
    FAILED+=("$1")
}

BASE_RPS=""
LAST_RPS=""
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
    print_row "$label" "$rps" "$p50" "$p99"
}

# print_row LABEL RPS P50_US P99_US : one table row, with its ratios to the hello baseline
# unless BASE_RPS is still empty; sets LAST_RPS, LAST_P50_US, LAST_P99_US.
print_row() {
    local label=$1 rps=$2 p50=$3 p99=$4 extra=""
    if [[ -n "$BASE_RPS" ]]; then
        extra=$(printf '  (%s req/s, %s p50, %s p99 of hello)' \
            "$(ratio "$rps" "$BASE_RPS")" "$(ratio "$p50" "$BASE_P50_US")" \
            "$(ratio "$p99" "$BASE_P99_US")")
    fi
    printf '%-28s %10.0f %9s %9s%s\n' "$label" "$rps" "$(fmt_ms "$p50")" "$(fmt_ms "$p99")" "$extra"
    LAST_RPS=$rps LAST_P50_US=$p50 LAST_P99_US=$p99
}

# start_gateway NAME DATA_DIR : a user `bench` in a new data dir, then `cyclades serve` on it;
# sets GW_URL, GW_PID and GW_TOKEN.
start_gateway() {
    local name=$1 data=$2
    mkdir -p "$data"
    GW_TOKEN=$("$CYCLADES_BIN" user create bench --data-dir "$data" 2>"$WORK/$name-user.err" | tail -n 1) ||
        die "cyclades user create failed: $(cat "$WORK/$name-user.err")"
    [[ -n "$GW_TOKEN" ]] || die "cyclades user create printed no token"
    CYCLADES_LOG=warn start_server "$name" \
        "$CYCLADES_BIN" serve --listen 127.0.0.1:0 --data-dir "$data"
    GW_URL="http://$SERVER_ADDR" GW_PID=$SERVER_PID
}

# ---------------------------------------------------------------- setup
setup() {
    build
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/cyclades-bench.XXXXXX")
    write_wrk_script

    start_server hello "$HELLO_BIN" 0
    HELLO="http://$SERVER_ADDR"

    DATA_DIR="$WORK/data"
    start_gateway gateway "$DATA_DIR"
    GATEWAY=$GW_URL TOKEN=$GW_TOKEN
    AUTH=(-H "X-Auth-Token: $TOKEN")

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

section_images() {
    section_title "image: PUT/GET /image/v2/images/{id}/file, $(size_name "$BENCH_IMAGE_MB") vs dd, md5sum, sha512sum; peak RSS during a $(size_name "$BENCH_RSS_MB") upload"
    ensure_cmd curl
    ensure_cmd jq
    image_throughput
    rm -f "$WORK/image.bin" "$WORK/dd-write.bin" # already gone unless part 1 failed
    image_rss
}

# ---------------------------------------------------------------- images section helpers
# Sizes: files and memory in MiB (2^20 bytes), throughput in MB/s (10^6 bytes per second).

# timed CMD... : runs CMD in the foreground; sets SECS to its wall-clock seconds.
timed() {
    local t0=$EPOCHREALTIME
    "$@"
    SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')
}

mbps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.1f", n / s / 1e6; else printf "n/a" }'; }
min_of() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 <= b + 0) ? a : b }'; }
gib() { awk -v m="$1" 'BEGIN { printf "%.1f", m / 1024 }'; }
size_name() { if (($1 % 1024 == 0)); then echo "$(($1 / 1024)) GiB"; else echo "$1 MiB"; fi; }
free_mib() { df -Pm "$1" | awk 'NR == 2 { print $4 }'; }
fs_of() { df -PT "$1" | awk 'NR == 2 { printf "%s %s on %s", $2, $1, $7 }'; }

print_io_header() { printf '%-46s %9s %8s\n' "target" "MB/s" "seconds"; }
# io_row LABEL MB/S SECONDS [NOTE]
io_row() { printf '%-46s %9s %8.3f%s\n' "$1" "$2" "$3" "${4:+  $4}"; }

# evict FILE : makes the next read of FILE come from the disk, as far as this machine lets
# us: `sync`, then drop the whole page cache (BENCH_DROP_CACHES=1, needs root) or else
# FILE's own clean pages (posix_fadvise DONTNEED through `dd iflag=nocache count=0`); then
# fincore tells what is left. Sets CACHE_STATE to "cold" or "page cache" and CACHE_NOTE.
evict() {
    local file=$1 how="" left size
    sync
    if [[ $BENCH_DROP_CACHES == 1 ]] && { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
        how="page cache dropped"
    elif dd if="$file" iflag=nocache count=0 status=none 2>/dev/null; then
        how="file's pages evicted"
    fi
    left=$(fincore -b -n -o RES "$file" 2>/dev/null) || left=""
    size=$(stat -c %s "$file")
    if [[ -z $how ]]; then
        CACHE_STATE="page cache" CACHE_NOTE="could not evict it: read from the page cache"
    elif [[ -z $left ]]; then
        CACHE_STATE="cold" CACHE_NOTE="$how; not verified (no fincore)"
    elif ((left * 100 > size)); then
        CACHE_STATE="page cache" CACHE_NOTE="$how but $((left >> 20)) MiB of it still cached"
    else
        CACHE_STATE="cold" CACHE_NOTE="$how; $((left >> 10)) KiB of the file cached"
    fi
}

# read_mem PID : sets MEM_RSS_KB and MEM_HWM_KB from /proc/PID/status; 1 if PID is gone.
read_mem() {
    local k v _
    MEM_RSS_KB="" MEM_HWM_KB=""
    while read -r k v _; do
        case $k in
        VmRSS:) MEM_RSS_KB=$v ;;
        VmHWM:) MEM_HWM_KB=$v ;;
        esac
    done 2>/dev/null <"/proc/$1/status" || return 1
    [[ -n $MEM_RSS_KB ]]
}

# api_create_image URL TOKEN : POST /image/v2/images -> 201; sets IMAGE_ID, else fails.
api_create_image() {
    local out="$WORK/create.json" code
    code=$(curl -sS -o "$out" -w '%{http_code}' -H "X-Auth-Token: $2" \
        -H 'Content-Type: application/json' \
        --data '{"name":"bench","disk_format":"raw","container_format":"bare"}' \
        "$1/image/v2/images") || code="no answer (curl failed)"
    if [[ $code != 201 ]]; then
        section_fail "POST /image/v2/images answered $code, expected 201: $(head -c 300 "$out" 2>/dev/null)"
        return 1
    fi
    IMAGE_ID=$(jq -r '.id // empty' "$out") || IMAGE_ID=""
    [[ -n $IMAGE_ID ]] || {
        section_fail "POST /image/v2/images returned no id: $(head -c 300 "$out")"
        return 1
    }
}

# api_image_fields URL TOKEN ID : GET the image; sets IMG_STATUS IMG_SIZE IMG_MD5 IMG_SHA512.
api_image_fields() {
    local out="$WORK/image.json" code
    IMG_STATUS="" IMG_SIZE="" IMG_MD5="" IMG_SHA512=""
    code=$(curl -sS -o "$out" -w '%{http_code}' -H "X-Auth-Token: $2" "$1/image/v2/images/$3") ||
        code="no answer (curl failed)"
    if [[ $code != 200 ]]; then
        section_fail "GET /image/v2/images/$3 answered $code, expected 200"
        return 1
    fi
    IFS=$'\t' read -r IMG_STATUS IMG_SIZE IMG_MD5 IMG_SHA512 < <(jq -r \
        '[.status // "", (.size // "" | tostring), .checksum // "", .os_hash_value // ""] | @tsv' "$out")
}

# api_delete_image URL TOKEN ID : DELETE the image (frees its bytes) -> 204.
api_delete_image() {
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "X-Auth-Token: $2" \
        "$1/image/v2/images/$3") || code="no answer (curl failed)"
    [[ $code == 204 ]] || section_fail "DELETE /image/v2/images/$3 answered $code, expected 204"
}

# curl_transfer [curl args...] : one bounded transfer; sets XFER_CODE XFER_BYTES XFER_SECS
# from curl's own counters (size_upload + size_download: one of them is ~0) and time_total.
curl_transfer() {
    local out up down
    out=$(curl -sS --max-time "$BENCH_IO_TIMEOUT" -H 'Expect:' \
        -w '%{http_code} %{size_upload} %{size_download} %{time_total}' "$@") ||
        out="curl-failed 0 0 0"
    read -r XFER_CODE up down XFER_SECS <<<"$out"
    XFER_BYTES=$((up + down))
}

# ---------------------------------------------------------------- images section parts
# Part 1 and 2: BENCH_IMAGE_MB of random bytes through PUT/GET .../file, next to dd, md5sum
# and sha512sum on the same bytes and the same file system, in this run.
image_throughput() {
    local mib=$BENCH_IMAGE_MB bytes=$((BENCH_IMAGE_MB << 20)) file="$WORK/image.bin"
    local dd_out="$WORK/dd-write.bin" need free md5 sha512 t_md5 t_sha id path
    local w_mbps md5_mbps sha_mbps seq_mbps par_mbps rc_mbps rc_state rw_mbps
    local up_mbps bound bound_name slow_name slow_mbps dc_mbps dc_state dc_note dw_mbps
    printf -- '-- %s of random bytes: gateway vs this machine (1 MB = 10^6 bytes) --\n' "$(size_name "$mib")"
    # The random file, the dd copy (removed at once) and the uploaded image, plus slack.
    need=$((2 * mib + 256))
    free=$(free_mib "$WORK")
    if ((free < need)); then
        section_fail "not enough disk: need $(gib "$need") GiB free in $WORK ($(fs_of "$WORK")) for the $(size_name "$mib") test, have $(gib "$free") GiB"
        return 0
    fi
    printf 'files in %s: %s, %s GiB free; data dir %s\n' "$WORK" "$(fs_of "$WORK")" "$(gib "$free")" "$DATA_DIR"

    head -c "${mib}M" /dev/urandom >"$file"
    sync "$file"             # nothing of it left dirty to be written back under a measurement
    cat "$file" >/dev/null   # and all of it in the page cache: dd and the hashes read it from RAM

    print_io_header
    timed dd if="$file" of="$dd_out" bs=4M conv=fsync status=none
    w_mbps=$(mbps "$bytes" "$SECS")
    io_row "machine: dd write, conv=fsync (bs=4M)" "$w_mbps" "$SECS" "same file system as the data dir"
    rm -f "$dd_out"
    sync

    timed md5sum "$file" >"$WORK/md5.out"
    t_md5=$SECS md5_mbps=$(mbps "$bytes" "$SECS")
    md5=$(cut -d' ' -f1 "$WORK/md5.out")
    io_row "machine: md5sum" "$md5_mbps" "$t_md5"
    timed sha512sum "$file" >"$WORK/sha512.out"
    t_sha=$SECS sha_mbps=$(mbps "$bytes" "$SECS")
    sha512=$(cut -d' ' -f1 "$WORK/sha512.out")
    io_row "machine: sha512sum" "$sha_mbps" "$t_sha"
    SECS=$(awk -v a="$t_md5" -v b="$t_sha" 'BEGIN { printf "%.6f", a + b }')
    seq_mbps=$(mbps "$bytes" "$SECS")
    io_row "machine: md5sum then sha512sum (sequential)" "$seq_mbps" "$SECS"
    timed hash_both "$file"
    par_mbps=$(mbps "$bytes" "$SECS")
    io_row "machine: md5sum & sha512sum (in parallel)" "$par_mbps" "$SECS" "as the gateway hashes"

    evict "$file"
    rc_state=$CACHE_STATE
    timed dd if="$file" of=/dev/null bs=4M status=none
    rc_mbps=$(mbps "$bytes" "$SECS")
    io_row "machine: dd read (bs=4M), $rc_state" "$rc_mbps" "$SECS" "$CACHE_NOTE"
    timed dd if="$file" of=/dev/null bs=4M status=none
    rw_mbps=$(mbps "$bytes" "$SECS")
    io_row "machine: dd read (bs=4M), page cache" "$rw_mbps" "$SECS"

    # The gateway: create, upload (the file is in the page cache, as for dd and the hashes).
    api_create_image "$GATEWAY" "$TOKEN" || return 0
    id=$IMAGE_ID path="$DATA_DIR/images/$IMAGE_ID"
    curl_transfer -H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/octet-stream' \
        -T "$file" -o "$WORK/upload.body" "$GATEWAY/image/v2/images/$id/file"
    if [[ $XFER_CODE != 204 || $XFER_BYTES != "$bytes" ]]; then
        section_fail "PUT /image/v2/images/$id/file answered $XFER_CODE after sending $XFER_BYTES of $bytes bytes, expected 204: $(head -c 300 "$WORK/upload.body" 2>/dev/null)"
        return 0
    fi
    up_mbps=$(mbps "$bytes" "$XFER_SECS")
    slow_name=md5sum slow_mbps=$md5_mbps
    if [[ $(min_of "$md5_mbps" "$sha_mbps") != "$md5_mbps" ]]; then slow_name=sha512sum slow_mbps=$sha_mbps; fi
    bound=$(min_of "$w_mbps" "$slow_mbps") bound_name="dd write+fsync"
    [[ $bound == "$w_mbps" ]] || bound_name=$slow_name
    io_row "gateway: PUT .../file (204, curl -T)" "$up_mbps" "$XFER_SECS" \
        "$(ratio "$up_mbps" "$bound") of min(dd write+fsync, slower hash) = $bound_name $bound"

    api_image_fields "$GATEWAY" "$TOKEN" "$id" || return 0
    if [[ $IMG_STATUS == active && $IMG_SIZE == "$bytes" && $IMG_MD5 == "$md5" && $IMG_SHA512 == "$sha512" ]]; then
        printf 'gateway: image %s: status active, size %s, checksum = md5sum, os_hash_value = sha512sum: OK\n' "$id" "$IMG_SIZE"
    else
        section_fail "image $id after upload: status '$IMG_STATUS' size '$IMG_SIZE' checksum '$IMG_MD5' (md5sum $md5), os_hash_value $([[ $IMG_SHA512 == "$sha512" ]] && echo '= sha512sum' || echo "'${IMG_SHA512:0:16}...' != sha512sum"); expected active, $bytes"
        return 0
    fi

    # Downloads: from the disk (as far as evict manages), then from the page cache.
    evict "$path"
    dc_state=$CACHE_STATE dc_note=$CACHE_NOTE
    curl_transfer -H "X-Auth-Token: $TOKEN" -o /dev/null "$GATEWAY/image/v2/images/$id/file"
    if [[ $XFER_CODE != 200 || $XFER_BYTES != "$bytes" ]]; then
        section_fail "GET /image/v2/images/$id/file answered $XFER_CODE with $XFER_BYTES of $bytes bytes, expected 200"
        return 0
    fi
    dc_mbps=$(mbps "$bytes" "$XFER_SECS")
    if [[ $dc_state == "$rc_state" ]]; then
        io_row "gateway: GET .../file (200), $dc_state" "$dc_mbps" "$XFER_SECS" \
            "$(ratio "$dc_mbps" "$rc_mbps") of dd read, $rc_state; $dc_note"
    else
        io_row "gateway: GET .../file (200), $dc_state" "$dc_mbps" "$XFER_SECS" \
            "no ratio: dd read was $rc_state; $dc_note"
    fi
    curl_transfer -H "X-Auth-Token: $TOKEN" -o /dev/null "$GATEWAY/image/v2/images/$id/file"
    if [[ $XFER_CODE != 200 || $XFER_BYTES != "$bytes" ]]; then
        section_fail "GET /image/v2/images/$id/file answered $XFER_CODE with $XFER_BYTES of $bytes bytes, expected 200"
        return 0
    fi
    dw_mbps=$(mbps "$bytes" "$XFER_SECS")
    io_row "gateway: GET .../file (200), page cache" "$dw_mbps" "$XFER_SECS" \
        "$(ratio "$dw_mbps" "$rw_mbps") of dd read, page cache"

    api_delete_image "$GATEWAY" "$TOKEN" "$id"
    rm -f "$file"
}

hash_both() {
    md5sum "$1" >/dev/null &
    BG_PIDS+=($!)
    sha512sum "$1" >/dev/null &
    BG_PIDS+=($!)
    wait "${BG_PIDS[@]}"
    BG_PIDS=()
}

# Part 3: a fresh gateway (its own data dir on the same file system, nothing uploaded yet)
# takes a BENCH_RSS_MB chunked upload of zeros made on the fly; VmRSS is sampled every
# ~100 ms and VmHWM (reset first, when the kernel allows) catches peaks between samples.
image_rss() {
    local mib=$BENCH_RSS_MB limit=$BENCH_RSS_LIMIT_MB data="$WORK/data-rss" need free
    local pid url tok id cpid zeros i samples=0 max_kb=0 base_kb hwm_reset=0 hwm_kb peak_kb growth
    local verdict rc=0 p alive=()
    printf -- '-- peak RSS of a fresh gateway during a %s chunked upload (MiB = 2^20 bytes) --\n' "$(size_name "$mib")"
    need=$((mib + 256))
    free=$(free_mib "$WORK")
    if ((free < need)); then
        section_fail "not enough disk: need $(gib "$need") GiB free in $WORK ($(fs_of "$WORK")) for the $(size_name "$mib") upload, have $(gib "$free") GiB"
        return 0
    fi
    start_gateway gateway-rss "$data"
    pid=$GW_PID url=$GW_URL tok=$GW_TOKEN
    if api_create_image "$url" "$tok"; then
        id=$IMAGE_ID
        read_mem "$pid" || die "cannot read /proc/$pid/status"
        base_kb=$MEM_RSS_KB
        if { echo 5 >"/proc/$pid/clear_refs"; } 2>/dev/null; then hwm_reset=1; fi

        # head's pid is kept too (not a pipeline), so that cleanup can stop both.
        exec {zeros}< <(head -c "${mib}M" /dev/zero)
        BG_PIDS+=("$!")
        curl -sS --max-time "$BENCH_IO_TIMEOUT" -H 'Expect:' -H "X-Auth-Token: $tok" \
            -H 'Content-Type: application/octet-stream' -T - -o "$WORK/rss.body" \
            -w '%{http_code} %{size_upload} %{time_total}' "$url/image/v2/images/$id/file" \
            <&"$zeros" >"$WORK/rss-curl.out" 2>"$WORK/rss-curl.err" &
        cpid=$!
        BG_PIDS+=("$cpid")
        exec {zeros}<&-
        for ((i = 0; i < BENCH_IO_TIMEOUT * 10 + 50; i++)); do
            read_mem "$pid" || break
            samples=$((samples + 1))
            if ((MEM_RSS_KB > max_kb)); then max_kb=$MEM_RSS_KB; fi
            kill -0 "$cpid" 2>/dev/null || break
            sleep 0.1
        done
        kill -TERM "${BG_PIDS[@]}" 2>/dev/null || true # only if they outlived the bound
        wait "$cpid" || rc=$?
        wait "${BG_PIDS[0]}" 2>/dev/null || true
        BG_PIDS=()
        if ! read_mem "$pid"; then
            section_fail "the gateway (pid $pid) exited during the upload: $(tail -n 5 "$WORK/gateway-rss.err")"
        else
            hwm_kb=$MEM_HWM_KB
            if ((MEM_RSS_KB > max_kb)); then max_kb=$MEM_RSS_KB; fi
            peak_kb=$max_kb
            if ((hwm_kb > peak_kb)); then peak_kb=$hwm_kb; fi
            read -r XFER_CODE XFER_BYTES XFER_SECS <<<"$(cat "$WORK/rss-curl.out")"
            if ((rc != 0)); then
                XFER_CODE="nothing (curl exit $rc: $(head -c 300 "$WORK/rss-curl.err"))"
            fi
            # size_upload counts the chunked framing too; the image's size is checked below.
            if [[ $XFER_CODE != 204 ]]; then
                section_fail "PUT /image/v2/images/$id/file ($(size_name "$mib") chunked) answered $XFER_CODE, expected 204: $(head -c 300 "$WORK/rss.body" 2>/dev/null)"
            else
                printf 'upload: %s bytes chunked in %.3f s = %s MB/s (zeros: head -c | curl -T -)\n' \
                    "$((mib << 20))" "$XFER_SECS" "$(mbps "$((mib << 20))" "$XFER_SECS")"
                if api_image_fields "$url" "$tok" "$id"; then
                    if [[ $IMG_STATUS == active && $IMG_SIZE == $((mib << 20)) ]]; then
                        printf 'image %s: status active, size %s: OK\n' "$id" "$IMG_SIZE"
                    else
                        section_fail "image $id after the upload: status '$IMG_STATUS' size '$IMG_SIZE', expected active, $((mib << 20))"
                    fi
                fi
            fi
            growth=$(awk -v p="$peak_kb" -v b="$base_kb" 'BEGIN { printf "%.1f", (p - b) / 1024 }')
            printf 'gateway pid %s: VmRSS before %.1f MiB; peak %.1f MiB (max VmRSS of %d samples %.1f MiB, VmHWM %.1f MiB%s)\n' \
                "$pid" "$(awk -v k="$base_kb" 'BEGIN { print k / 1024 }')" \
                "$(awk -v k="$peak_kb" 'BEGIN { print k / 1024 }')" "$samples" \
                "$(awk -v k="$max_kb" 'BEGIN { print k / 1024 }')" \
                "$(awk -v k="$hwm_kb" 'BEGIN { print k / 1024 }')" \
                "$( ((hwm_reset)) && echo ', reset before the upload' || echo ', not resettable: since start')"
            if awk -v g="$growth" -v l="$limit" 'BEGIN { exit !(g < l) }'; then verdict=PASS; else verdict=FAIL; fi
            printf 'RSS growth during the upload: %s MiB (bound < %s MiB): %s\n' "$growth" "$limit" "$verdict"
            [[ $verdict == PASS ]] || section_fail "RSS grew by $growth MiB during a $(size_name "$mib") upload (bound < $limit MiB)"
        fi
    fi
    # Free the disk now rather than at exit.
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || alive+=("$p"); done
    PIDS=("${alive[@]}")
    rm -rf "$data"
}

# ---------------------------------------------------------------- servers section
# A gateway of its own on the simulated backend (builds of 0.5 s), one user, a public image;
# BENCH_SERVERS creates by wrk (bench/servers_create.lua: exactly N, then it stops), a wait
# until all of them are ACTIVE, then wrk on GET /servers/detail (JSON, XML) with N servers.
# Its memory is printed at the end: VmHWM is the peak since the gateway started.
section_servers() {
    local n=$BENCH_SERVERS data="$WORK/data-servers" pid p alive=()
    section_title "compute: $n servers of one user (simulated backend, 0.5 s builds): POST /compute/v2.0/servers, then GET /compute/v2.0/servers/detail"
    ensure_cmd wrk
    ensure_cmd curl
    ensure_cmd jq
    # The public network's addresses: 10.128.0.0/16 has 65534 for hosts.
    if ((n > 65000)); then
        section_fail "BENCH_SERVERS=$n: more servers than the bench's public_cidr 10.128.0.0/16 has addresses for (65000 at most)"
        return 0
    fi
    mkdir -p "$data"
    start_server gateway-servers env CYCLADES_BACKEND=simulated CYCLADES_SIMULATED_BUILD_SECS=0.5 \
        CYCLADES_SIMULATED_OP_SECS=0.2 CYCLADES_SERVER_QUOTA=100000 \
        CYCLADES_PUBLIC_CIDR=10.128.0.0/16 CYCLADES_LOG=warn \
        "$CYCLADES_BIN" serve --listen 127.0.0.1:0 --data-dir "$data"
    pid=$SERVER_PID SRV_PID=$SERVER_PID
    read_mem "$pid" || die "cannot read /proc/$pid/status"
    SRV_RSS_START_KB=$MEM_RSS_KB SRV_RSS_BUILT_KB=""
    print_table_header
    if [[ -z $BASE_RPS ]]; then # the baseline section was not selected: measure hello here
        measure "hello (bare hyper)" "$HELLO/"
        BASE_RPS=$LAST_RPS BASE_P50_US=$LAST_P50_US BASE_P99_US=$LAST_P99_US
    fi
    servers_run "$n" "http://$SERVER_ADDR" "$data" || true # failures are recorded by section_fail

    if read_mem "$pid"; then
        printf 'gateway pid %s: VmRSS %s MiB after start, %s MiB with %s servers built, %s MiB at the end; peak VmHWM %s MiB (since its start, i.e. over the section)\n' \
            "$pid" "$(mib_of "$SRV_RSS_START_KB")" "$(mib_of "$SRV_RSS_BUILT_KB")" "$n" \
            "$(mib_of "$MEM_RSS_KB")" "$(mib_of "$MEM_HWM_KB")"
    else
        section_fail "the servers section's gateway (pid $pid) exited: $(tail -n 5 "$WORK/gateway-servers.err")"
    fi
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || alive+=("$p"); done
    PIDS=("${alive[@]}")
    rm -rf "$data"
}

mib_of() { if [[ -n $1 ]]; then awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; else printf '?'; fi; }

# servers_run N URL DATA_DIR : the image, the user, the creates, the wait, the lists.
servers_run() {
    local n=$1 url=$2 data=$3 admin tok img code t_built listed active errs json xml sizes
    local auth jn xn target
    admin=$(sed -n 's/^admin token: //p' "$WORK/gateway-servers.out" | head -n 1)
    if [[ -z $admin ]]; then
        section_fail "the servers gateway printed no 'admin token: ...' on its first start"
        return 1
    fi
    tok=$("$CYCLADES_BIN" user create bench --data-dir "$data" 2>"$WORK/servers-user.err" | tail -n 1) || tok=""
    if [[ -z $tok ]]; then
        section_fail "cyclades user create bench failed: $(head -c 300 "$WORK/servers-user.err")"
        return 1
    fi
    auth=(-H "X-Auth-Token: $tok")

    # An active public image, owned by the admin.
    code=$(curl -sS --max-time 30 -o "$WORK/servers-image.json" -w '%{http_code}' \
        -H "X-Auth-Token: $admin" -H 'Content-Type: application/json' \
        --data '{"name":"bench-servers","visibility":"public","disk_format":"raw","container_format":"bare"}' \
        "$url/image/v2/images") || code="no answer (curl failed)"
    img=$(jq -r '.id // empty' "$WORK/servers-image.json" 2>/dev/null) || img=""
    if [[ $code != 201 || -z $img ]]; then
        section_fail "POST /image/v2/images (admin, public) answered $code, expected 201 with an id: $(head -c 300 "$WORK/servers-image.json" 2>/dev/null)"
        return 1
    fi
    code=$(head -c 1024 /dev/zero | curl -sS --max-time 30 -o "$WORK/servers-upload.body" \
        -w '%{http_code}' -X PUT -H 'Expect:' -H "X-Auth-Token: $admin" \
        -H 'Content-Type: application/octet-stream' --data-binary @- \
        "$url/image/v2/images/$img/file") || code="no answer (curl failed)"
    if [[ $code != 204 ]]; then
        section_fail "PUT /image/v2/images/$img/file answered $code, expected 204: $(head -c 300 "$WORK/servers-upload.body" 2>/dev/null)"
        return 1
    fi

    servers_create "$n" "$url" "$tok" "$img" || return 1

    # Bounded wait until none is in BUILD, then every one must be listed and ACTIVE.
    servers_wait_built "$url" "$tok" || return 1
    t_built=$SECS
    read_mem "$SRV_PID" && SRV_RSS_BUILT_KB=$MEM_RSS_KB
    count_servers "$url" "$tok" "" || return 1
    listed=$COUNT
    count_servers "$url" "$tok" "status=ACTIVE" || return 1
    active=$COUNT
    if ((listed != n || active != n)); then
        count_servers "$url" "$tok" "status=ERROR" || return 1
        errs=$COUNT
        section_fail "after the creates: $listed servers listed, $active ACTIVE, $errs ERROR; expected $n and $n ACTIVE"
        return 1
    fi

    # GET /servers/detail: one request each first (status, type, how many servers, bytes).
    json="$url/compute/v2.0/servers/detail"
    xml="$json?xml"
    sizes=""
    for target in json xml; do
        local u=${!target} out="$WORK/servers-detail.$target" got want_type want_n
        want_n=$((n < 1000 ? n : 1000)) # a page holds 1000 at most
        got=$(curl -sS --max-time 60 -o "$out" -w '%{http_code} %{size_download} %{content_type}' \
            "${auth[@]}" "$u") || got="no answer (curl failed)"
        if [[ $target == json ]]; then
            want_type="application/json"
            jn=$(jq '.servers | length' "$out" 2>/dev/null) || jn="?"
        else
            want_type="application/xml"
            jn=$(grep -o '<server[ >]' "$out" | wc -l) || jn="?"
        fi
        if [[ $got != "200 "*" $want_type"* || $jn != "$want_n" ]]; then
            section_fail "GET $u answered '$got' with $jn servers, expected 200 $want_type with $want_n"
            return 1
        fi
        read -r _ xn _ <<<"$got"
        sizes+="${sizes:+, }$target $xn bytes"
    done
    measure "servers/detail JSON ($want_n)" "$json" "${auth[@]}"
    measure "servers/detail XML ($want_n)" "$xml" "${auth[@]}"

    printf 'creates: %s\n' "$SRV_CREATE_NOTE"
    printf 'builds: none in BUILD %.3f s after the last 202 (GET /servers?status=BUILD every 0.1 s); then %s listed, %s ACTIVE\n' \
        "$t_built" "$listed" "$active"
    printf 'GET /servers/detail with %s servers (%s per page at most): %s\n' "$n" 1000 "$sizes"
}

# servers_create N URL TOKEN IMAGE_ID : exactly N POST /compute/v2.0/servers through wrk and
# bench/servers_create.lua (which stops wrk's threads after their share of N; see there),
# bounded by BENCH_SERVERS_TIMEOUT; prints the table row; every answer must be 202.
servers_create() {
    local n=$1 url=$2 tok=$3 img=$4 prefix="$WORK/creates.done" i rc=0 line
    local ok bad secs p50 p99 sock fb rps finished
    rm -f "$prefix".*
    wrk -t "$BENCH_THREADS" -c "$BENCH_CONNECTIONS" -d "${BENCH_SERVERS_TIMEOUT}s" --timeout 10s \
        -s "$ROOT/bench/servers_create.lua" "$url/compute/v2.0/servers" \
        -- "$n" "$BENCH_THREADS" "$img" "$tok" "$prefix" >"$WORK/wrk-create.out" 2>&1 &
    WRK_PID=$!
    # Each wrk thread creates $prefix.ID when it has all its answers; wrk itself would sleep
    # until -d is over, so it gets SIGINT (it reports at once) when all of them are there.
    finished=0
    for ((i = 0; i < BENCH_SERVERS_TIMEOUT * 20; i++)); do
        finished=$(find "$WORK" -maxdepth 1 -name 'creates.done.*' | wc -l)
        ((finished < BENCH_THREADS)) || break
        kill -0 "$WRK_PID" 2>/dev/null || break
        sleep 0.05
    done
    kill -INT "$WRK_PID" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do # wrk's threads see the signal within 100 ms
        kill -0 "$WRK_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$WRK_PID" 2>/dev/null || true
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    line=$(grep -m1 '^BENCH_CREATE ' "$WORK/wrk-create.out") || line=""
    if [[ -z $line ]]; then
        section_fail "wrk (exit $rc) reported nothing for the creates: $(tail -c 500 "$WORK/wrk-create.out")"
        return 1
    fi
    read -r ok bad secs p50 p99 sock fb <<<"${line#BENCH_CREATE }"
    if ((bad > 0)); then
        section_fail "$bad of $n creates answered other than 202; the first answered $fb: $(sed -n 's/^BENCH_CREATE_BAD [0-9]* //p' "$WORK/wrk-create.out" | head -c 300)"
        return 1
    fi
    if ((ok != n || sock > 0)); then
        section_fail "$ok of $n creates answered 202 within ${BENCH_SERVERS_TIMEOUT}s ($finished of $BENCH_THREADS wrk threads done, $sock socket errors)"
        return 1
    fi
    rps=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.1f", n / s }')
    print_row "POST /servers (202) x$n" "$rps" "$p50" "$p99"
    SRV_CREATE_NOTE=$(printf '%s x 202 in %.3f s (first request to last answer) over %s connections: %s creates/s' \
        "$n" "$secs" "$BENCH_CONNECTIONS" "$rps")
}

# servers_wait_built URL TOKEN : polls (bounded by BENCH_SERVERS_TIMEOUT) until no server is
# in BUILD; sets SECS to the time it took.
servers_wait_built() {
    local url=$1 tok=$2 t0=$EPOCHREALTIME deadline=$((EPOCHSECONDS + BENCH_SERVERS_TIMEOUT)) left=""
    while ((EPOCHSECONDS < deadline)); do
        left=$(curl -sS --max-time 30 -H "X-Auth-Token: $tok" \
            "$url/compute/v2.0/servers?status=BUILD&limit=1000" | jq '.servers | length') || left="?"
        [[ $left == 0 ]] && break
        sleep 0.1
    done
    SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f", b - a }')
    if [[ $left != 0 ]]; then
        section_fail "servers still in BUILD ${BENCH_SERVERS_TIMEOUT}s after the creates (last poll: '$left' in BUILD)"
        return 1
    fi
}

# count_servers URL TOKEN QUERY : GET /servers?QUERY page by page (1000 each, marker = the
# last id; bounded by BENCH_SERVERS / 1000 + 3 pages); sets COUNT.
count_servers() {
    local url=$1 tok=$2 q=$3 marker="" page n last i
    COUNT=0
    for ((i = 0; i < BENCH_SERVERS / 1000 + 3; i++)); do
        page=$(curl -sS --max-time 30 -H "X-Auth-Token: $tok" \
            "$url/compute/v2.0/servers?${q:+$q&}limit=1000${marker:+&marker=$marker}") || {
            section_fail "GET /servers?$q failed"
            return 1
        }
        n=$(jq '.servers | length' <<<"$page") || n=""
        last=$(jq -r '.servers[-1].id // empty' <<<"$page") || last=""
        if [[ -z $n ]]; then
            section_fail "GET /servers?$q: not a server list: $(head -c 300 <<<"$page")"
            return 1
        fi
        COUNT=$((COUNT + n))
        ((n == 1000)) || return 0
        marker=$last
    done
}

# ---------------------------------------------------------------- console section
# A gateway of its own on the QEMU backend, one server booted from the tiny guest
# (guest/build.sh), and examples/console_bench.rs speaking RFB to its screen: directly on
# QEMU's unix socket (security None), then through the console proxy (TCP, VNC
# authentication with a one-time password), in the same run. A round trip is a message QEMU
# answers at once; throughput is full raw frames, which QEMU paces with its refresh timer.
# Then BENCH_CONSOLES consoles are held open at once and the gateway's RSS growth is divided
# among them. The server is deleted before the gateway stops (QEMU VMs outlive a gateway).
section_console() {
    local data="$WORK/data-console" pid url admin flavor image id sock c port pw i
    local direct proxy d50 d99 dfb dfps dmib p50 p99 pfb pfps pmib added held=() before after
    local n=$BENCH_CONSOLES rounds=$BENCH_CONSOLE_ROUNDS frames=$BENCH_CONSOLE_FRAMES
    section_title "console: RFB to a QEMU server's screen, directly vs through the console proxy; memory per open console"
    ensure_cmd curl
    ensure_cmd jq
    bash "$ROOT/tests/clients/qemu_setup.sh" || die "tests/clients/qemu_setup.sh failed"
    if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
        "$CARGO" build --release --quiet --example console_bench >&2
    fi
    local bench="$TARGET_DIR/release/examples/console_bench"
    [[ -x $bench ]] || die "missing $bench"
    mkdir -p "$data"
    start_server gateway-console env CYCLADES_BACKEND=qemu CYCLADES_LOG=warn \
        "$CYCLADES_BIN" serve --listen 127.0.0.1:0 --data-dir "$data"
    pid=$SERVER_PID url="http://$SERVER_ADDR"
    admin=$(sed -n 's/^admin token: //p' "$WORK/gateway-console.out" | head -n 1)
    [[ -n $admin ]] || { section_fail "the console gateway printed no admin token"; return 0; }
    flavor=$("$CYCLADES_BIN" flavor create --name bench-tiny --vcpus 1 --ram 128 --disk 1 \
        --data-dir "$data" 2>"$WORK/console-flavor.err" | tail -n 1) || flavor=""
    [[ -n $flavor ]] || { section_fail "cyclades flavor create failed: $(head -c 300 "$WORK/console-flavor.err")"; return 0; }
    image=$(bash "$ROOT/guest/build.sh" register "$url" "$admin" 2>"$WORK/console-guest.err" |
        sed -n 's/^image //p') || image=""
    [[ -n $image ]] || { section_fail "guest/build.sh register failed: $(tail -c 300 "$WORK/console-guest.err")"; return 0; }
    id=$(curl -sS --max-time 30 -H "X-Auth-Token: $admin" -H 'Content-Type: application/json' \
        -d "{\"server\": {\"name\": \"bench-console\", \"imageRef\": \"$image\", \"flavorRef\": \"$flavor\"}}" \
        "$url/compute/v2.0/servers" | jq -r '.server.id // empty') || id=""
    [[ -n $id ]] || { section_fail "POST /compute/v2.0/servers gave no server"; return 0; }
    sock="$data/qemu/$id/vnc.sock"
    for ((i = 0; i < 600; i++)); do # the guest's banner: 60 s at most
        grep -qs 'cyclades tiny guest' "$data/qemu/$id/serial.log" && break
        sleep 0.1
    done
    if ! grep -qs 'cyclades tiny guest' "$data/qemu/$id/serial.log" || [[ ! -S $sock ]]; then
        section_fail "server $id did not boot to its banner within 60 s"
        console_cleanup "$url" "$admin" "$id" "$pid" "$data"
        return 0
    fi
    read_mem "$pid" || die "cannot read /proc/$pid/status"
    printf 'gateway %s (QEMU backend), server %s; %s round trips and %s full frames per run\n' \
        "$url" "$id" "$rounds" "$frames"
    printf '%-34s %10s %10s %12s %9s %9s\n' "path" "rtt p50(ms)" "rtt p99(ms)" "frame bytes" "frames/s" "MiB/s"

    direct=$(timeout 120 "$bench" direct "$sock" "$rounds" "$frames" 2>&1) || {
        section_fail "console_bench direct failed: $direct"
        console_cleanup "$url" "$admin" "$id" "$pid" "$data"
        return 0
    }
    read -r d50 d99 dfb dfps dmib <<<"$direct"
    printf '%-34s %10s %10s %12s %9s %9s\n' "direct: QEMU's unix socket" "$(fmt_ms "$d50")" "$(fmt_ms "$d99")" "$dfb" "$dfps" "$dmib"
    c=$(curl -sS --max-time 30 -H "X-Auth-Token: $admin" -H 'Content-Type: application/json' \
        -d '{"console": {"type": "vnc"}}' "$url/compute/v2.0/servers/$id/action") || c=""
    port=$(jq -r '.console.port // empty' <<<"$c" 2>/dev/null) pw=$(jq -r '.console.password // empty' <<<"$c" 2>/dev/null)
    [[ -n $port && -n $pw ]] || { section_fail "the console action answered: $(head -c 300 <<<"$c")"; console_cleanup "$url" "$admin" "$id" "$pid" "$data"; return 0; }
    proxy=$(timeout 120 "$bench" proxy "$port" "$pw" "$rounds" "$frames" 2>&1) || {
        section_fail "console_bench proxy failed: $proxy"
        console_cleanup "$url" "$admin" "$id" "$pid" "$data"
        return 0
    }
    read -r p50 p99 pfb pfps pmib <<<"$proxy"
    printf '%-34s %10s %10s %12s %9s %9s\n' "proxy: TCP + VNC auth + unix" "$(fmt_ms "$p50")" "$(fmt_ms "$p99")" "$pfb" "$pfps" "$pmib"
    added=$(awk -v a="$p50" -v b="$d50" 'BEGIN { printf "%.0f", a - b }')
    printf 'added by the proxy at the median: %s ms (target < 1 ms); throughput %s of direct\n' \
        "$(fmt_ms "$added")" "$(ratio "$pmib" "$dmib")"
    ((added < 1000)) || section_fail "the proxy adds $(fmt_ms "$added") ms at the median (target < 1 ms)"

    # Memory: n consoles open at once, each having received a full frame.
    before=$MEM_RSS_KB
    for ((i = 0; i < n; i++)); do
        c=$(curl -sS --max-time 30 -H "X-Auth-Token: $admin" -H 'Content-Type: application/json' \
            -d '{"console": {"type": "vnc"}}' "$url/compute/v2.0/servers/$id/action") || c=""
        port=$(jq -r '.console.port // empty' <<<"$c" 2>/dev/null) pw=$(jq -r '.console.password // empty' <<<"$c" 2>/dev/null)
        [[ -n $port ]] || { section_fail "console $i of $n: $(head -c 300 <<<"$c")"; break; }
        held+=("$port:$pw")
    done
    if ((${#held[@]} == n)); then
        "$bench" hold 20 "${held[@]}" >"$WORK/console-hold.out" 2>&1 &
        BG_PIDS+=("$!")
        for ((i = 0; i < 600; i++)); do
            grep -qs '^held ' "$WORK/console-hold.out" && break
            kill -0 "${BG_PIDS[-1]}" 2>/dev/null || break
            sleep 0.1
        done
        if grep -qs "^held $n\$" "$WORK/console-hold.out" && read_mem "$pid"; then
            after=$MEM_RSS_KB
            printf 'memory: gateway VmRSS %s MiB before, %s MiB with %s consoles open: %s KiB per console (two %s KiB buffers each by design)\n' \
                "$(mib_of "$before")" "$(mib_of "$after")" "$n" \
                "$(awk -v a="$after" -v b="$before" -v n="$n" 'BEGIN { printf "%.0f", (a - b) / n }')" 64
        else
            section_fail "holding $n consoles failed: $(head -c 300 "$WORK/console-hold.out")"
        fi
        kill -TERM "${BG_PIDS[-1]}" 2>/dev/null || true
        wait "${BG_PIDS[-1]}" 2>/dev/null || true
    fi
    console_cleanup "$url" "$admin" "$id" "$pid" "$data"
}

# console_cleanup URL TOKEN ID GATEWAY_PID DATA_DIR : deletes the server (its QEMU stops),
# waits for the VM to go (bounded), then stops that gateway.
console_cleanup() {
    local url=$1 tok=$2 id=$3 pid=$4 data=$5 qpid i p alive=()
    qpid=$(cat "$data/qemu/$id/qemu.pid" 2>/dev/null || true)
    curl -sS --max-time 30 -o /dev/null -X DELETE -H "X-Auth-Token: $tok" \
        "$url/compute/v2.0/servers/$id" || true
    for ((i = 0; i < 300; i++)); do
        [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -n $qpid ]] && kill -0 "$qpid" 2>/dev/null; then
        section_fail "server $id's QEMU (pid $qpid) still runs 30 s after its DELETE; killing it"
        kill -KILL "$qpid" 2>/dev/null || true
    fi
    stop_pid "$pid"
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || alive+=("$p"); done
    PIDS=("${alive[@]}")
    rm -rf "$data"
}

# ---------------------------------------------------------------- switch
# The QEMU backend's layer-2 switch (src/backend/qemu/switch.rs), measured by
# examples/switch_bench.rs against the same frames sent straight from one unix datagram socket
# to the other (what QEMU's dgram netdev costs without a switch), in the same run.
section_switch() {
    local out direct through d50 d99 dfps dmib dlost s50 s99 sfps smib slost
    local rounds=$BENCH_SWITCH_ROUNDS frames=$BENCH_SWITCH_FRAMES
    section_title "switch: Ethernet frames between two guests' sockets, directly vs through the QEMU backend's switch"
    if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
        "$CARGO" build --release --quiet --example switch_bench >&2
    fi
    local bench="$TARGET_DIR/release/examples/switch_bench"
    [[ -x $bench ]] || die "missing $bench"
    out=$(timeout 300 "$bench" "$rounds" "$frames" 1514 2>&1) || {
        section_fail "switch_bench failed: $out"
        return 0
    }
    direct=$(sed -n 1p <<<"$out") through=$(sed -n 2p <<<"$out")
    read -r d50 d99 dfps dmib dlost <<<"$direct"
    read -r s50 s99 sfps smib slost <<<"$through"
    printf '%s round trips and %s frames of 1514 bytes (windows of 32) per path
' "$rounds" "$frames"
    printf '%-30s %10s %10s %10s %9s %6s
' "path" "rtt p50(ms)" "rtt p99(ms)" "frames/s" "MiB/s" "lost"
    printf '%-30s %10s %10s %10s %9s %6s
' "direct: socket to socket" "$(fmt_ms "$d50")" "$(fmt_ms "$d99")" "$dfps" "$dmib" "$dlost"
    printf '%-30s %10s %10s %10s %9s %6s
' "switch: port to port" "$(fmt_ms "$s50")" "$(fmt_ms "$s99")" "$sfps" "$smib" "$slost"
    printf 'through the switch: %s of direct throughput
' "$(ratio "$smib" "$dmib")"
    ((slost == 0)) || section_fail "the switch lost $slost of $frames frames sent in windows it has room for"
}

# Run order: the baseline first (every later wrk row is compared with it).
SECTIONS=(section_baseline section_flavors section_servers section_images section_console section_switch)

# BENCH_SECTIONS="images" or "baseline flavors" (names without section_, space- or
# comma-separated): runs only those, still in the order above. Without the baseline, wrk
# rows are printed without their ratios.
select_sections() {
    local names name s found chosen=()
    [[ -n ${BENCH_SECTIONS:-} ]] || return 0
    names=${BENCH_SECTIONS//,/ }
    for name in $names; do
        found=0
        for s in "${SECTIONS[@]}"; do [[ $s == "section_$name" ]] && found=1; done
        ((found)) || die "BENCH_SECTIONS: no section '$name' (there are: ${SECTIONS[*]#section_})"
    done
    for s in "${SECTIONS[@]}"; do
        for name in $names; do
            if [[ $s == "section_$name" ]]; then
                chosen+=("$s")
                break
            fi
        done
    done
    ((${#chosen[@]} > 0)) || die "BENCH_SECTIONS names no section"
    SECTIONS=("${chosen[@]}")
}

select_sections
setup
printf 'sections: %s\n' "${SECTIONS[*]#section_}"
for s in "${SECTIONS[@]}"; do "$s"; done
if [[ -n $BASE_RPS && -n $LAST_RPS && $LAST_RPS != "$BASE_RPS" ]]; then
    printf '\nratios: gateway/hello; req/s below 1x and latency above 1x are the gateway'"'"'s own cost.\n'
fi
if ((${#FAILED[@]} > 0)); then
    printf '\nbench: %d check(s) failed:\n' "${#FAILED[@]}"
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
