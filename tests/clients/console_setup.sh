#!/usr/bin/env bash
# Installs what the console tests drive: QEMU (for a real VNC screen, via qemu_setup.sh), vncdotool (PyPI, into
# .venv-console/ at the repo root), Debian's chromium, and web/node_modules (noVNC for the
# console page, playwright-core to drive chromium) from the npm registry.
#
# Idempotent and quiet: once everything is in place a stamp file makes later runs return at
# once. Serialized with flock: several test binaries may call it at the same time. Exits
# non-zero with a message on stderr when anything cannot be installed.
#
# Environment: CONSOLE_VENV overrides the venv location; PYTHON3 names the interpreter.
set -euo pipefail

PIP_PINS=("vncdotool==1.2.0")
STAMP_TAG="${PIP_PINS[*]} novnc-1.7.0 playwright-core-1.65.1 v1"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${CONSOLE_VENV:-$root/.venv-console}"
web="$root/web"
stamp="$venv/.console-setup-stamp"
. "$here/lib.sh" "tests/clients/console_setup.sh"

installed() {
    [[ -f "$stamp" && "$(cat "$stamp")" == "$STAMP_TAG" && -x "$venv/bin/vncdo" ]] &&
        command -v qemu-system-x86_64 >/dev/null 2>&1 &&
        command -v chromium >/dev/null 2>&1 &&
        [[ -f "$web/node_modules/@novnc/novnc/core/rfb.js" ]] &&
        [[ -f "$web/node_modules/playwright-core/package.json" ]]
}

if installed; then
    exit 0
fi

mkdir -p "$(dirname "$venv")"
lock_or_done "$venv.lock"
start_log console-setup

as_root() {
    if [[ "$(id -u)" == 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo -n "$@"
    else
        die "installing Debian packages needs root or sudo: $*"
    fi
}

apt_updated=0
apt_update() {
    if [[ "$apt_updated" == 0 ]]; then
        run "apt-get update" as_root apt-get update -qq
        apt_updated=1
    fi
}

export DEBIAN_FRONTEND=noninteractive

# QEMU, from bookworm-backports (the QEMU backend's own install script).
bash "$here/qemu_setup.sh"
command -v qemu-system-x86_64 >/dev/null 2>&1 || die "qemu-system-x86_64 is still missing"

# Debian's chromium: playwright-core drives it (no browser download of its own).
if ! command -v chromium >/dev/null 2>&1; then
    apt_update
    run "installing chromium" as_root apt-get install -y -qq --no-install-recommends chromium \
        fonts-dejavu-core
fi
command -v chromium >/dev/null 2>&1 || die "chromium is still missing"

# node and npm, for noVNC and playwright-core.
if ! command -v npm >/dev/null 2>&1; then
    apt_update
    run "installing npm" as_root apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [[ ! -f "$web/node_modules/@novnc/novnc/core/rfb.js" ||
    ! -f "$web/node_modules/playwright-core/package.json" ]]; then
    run "npm install in web/" npm install --prefix "$web" --no-audit --no-fund \
        --loglevel=error
fi
[[ -f "$web/node_modules/@novnc/novnc/core/rfb.js" ]] || die "npm did not install @novnc/novnc"

# vncdotool in its own venv.
find_python3
python3_venv
run "installing ${PIP_PINS[*]} into $venv" "${pip[@]}" install "${PIP_PINS[@]}"
[[ -x "$venv/bin/vncdo" ]] || die "vncdotool was installed but $venv/bin/vncdo is missing"
run "running the installed vncdo" "$venv/bin/vncdo" --help
echo "$STAMP_TAG" >"$stamp"
