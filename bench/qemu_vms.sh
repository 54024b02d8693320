#!/usr/bin/env bash
# Boots N real VMs (default 10) of the tiny guest on the QEMU backend and prints: per server
# the time from POST /servers to ACTIVE and to the guest's banner on its serial console, and
# with all N running the gateway's RSS and the QEMU processes' RSS. Then deletes them.
#
#   bash bench/qemu_vms.sh [N]        (CYCLADES_BIN: the binary, default target/debug/cyclades)
#
# Installs QEMU (tests/clients/qemu_setup.sh) and builds the guest (guest/build.sh) if needed.
set -euo pipefail
n="${1:-10}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${CYCLADES_BIN:-$root/target/debug/cyclades}"
[[ -x "$bin" ]] || (cd "$root" && cargo build --quiet)
bash "$root/tests/clients/qemu_setup.sh"
bash "$root/guest/build.sh" build >/dev/null
data="$(mktemp -d "${TMPDIR:-/tmp}/cyclades-qemu-bench.XXXXXX")"
out="$data.out"
cleanup() {
    for f in "$data"/qemu/*/qemu.pid; do
        [[ -f "$f" ]] && kill -KILL "$(cat "$f")" 2>/dev/null || true
    done
    [[ -n "${gw:-}" ]] && kill "$gw" 2>/dev/null || true
    rm -rf "$data" "$out"
}
trap cleanup EXIT
CYCLADES_LOG=warn "$bin" serve --listen 127.0.0.1:0 --data-dir "$data" --backend qemu >"$out" 2>&1 &
gw=$!
for _ in $(seq 1 300); do grep -q '^listening on' "$out" && break; sleep 0.1; done
url="$(sed -n 's/^listening on //p' "$out")"
token="$(sed -n 's/^admin token: //p' "$out")"
[[ -n "$url" ]] || { cat "$out" >&2; exit 1; }
flavor="$("$bin" --data-dir "$data" flavor create --name tiny --vcpus 1 --ram 128 --disk 1 | tail -n 1)"
image="$(bash "$root/guest/build.sh" register "$url" "$token" | sed -n 's/^image //p')"
python3 - "$url" "$token" "$image" "$flavor" "$n" "$data" "$gw" <<'PY'
import json, os, sys, time, urllib.request
url, token, image, flavor, n, data, gw = sys.argv[1:]
n = int(n)
def call(method, path, body=None):
    req = urllib.request.Request(url + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")
def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
t0 = {}
for i in range(n):
    s = call("POST", "/compute/v2.0/servers", {"server": {"name": f"vm{i}", "imageRef": image, "flavorRef": flavor}})
    t0[s["server"]["id"]] = time.time()
active, banner = {}, {}
deadline = time.time() + 600
while len(banner) < n and time.time() < deadline:
    for sid, start in t0.items():
        if sid not in active and call("GET", f"/compute/v2.0/servers/{sid}")["server"]["status"] == "ACTIVE":
            active[sid] = time.time() - start
            print(f"server {sid}: ACTIVE after {active[sid]:.2f} s", flush=True)
        if sid not in banner:
            try:
                if "cyclades tiny guest" in open(f"{data}/qemu/{sid}/serial.log", errors="replace").read():
                    banner[sid] = time.time() - start
                    print(f"server {sid}: banner after {banner[sid]:.2f} s", flush=True)
            except FileNotFoundError:
                pass
    time.sleep(0.1)
if len(banner) < n:
    print(f"only {len(banner)} of {n} guests printed their banner within the limit", flush=True)
a, b = sorted(active.values()), sorted(banner.values())
if b:
    print(f"median: ACTIVE {a[len(a)//2]:.2f} s, banner {b[len(b)//2]:.2f} s (max {b[-1]:.2f} s)")
time.sleep(5)
qemu = [int(open(f"{data}/qemu/{sid}/qemu.pid").read()) for sid in t0]
print(f"with {n} VMs running: gateway RSS {rss_kib(int(gw)) / 1024:.1f} MiB, "
      f"QEMU RSS {sum(rss_kib(p) for p in qemu) / 1024:.0f} MiB in all "
      f"({sum(rss_kib(p) for p in qemu) / 1024 / n:.0f} MiB each)")
for sid in t0:
    call("DELETE", f"/compute/v2.0/servers/{sid}")
PY
