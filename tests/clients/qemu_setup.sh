#!/usr/bin/env bash
# Installs QEMU (qemu-system-x86, for the QEMU compute backend) from Debian bookworm-backports.
#
# Why backports: these machines carry qemu-utils 10.0 from bookworm-backports without that suite
# in their apt sources, so bookworm's own qemu-system-x86 7.2 conflicts with it ("qemu-utils
# breaks qemu-system-common < 8.0"). The script adds bookworm-backports as an apt source signed
# by the Debian archive keyring and installs qemu-system-x86 from it, without recommends.
#
# Idempotent and quiet: when qemu-system-x86_64 and qemu-img already run it returns at once,
# silently. Serialized with flock, so that several test binaries may call it at once. Needs
# root (apt-get); exits non-zero with a message on stderr when anything cannot be installed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/lib.sh" "tests/clients/qemu_setup.sh"

# curl too: guest/build.sh registers the tiny guest through the Image API with it.
installed() {
    command -v qemu-system-x86_64 >/dev/null 2>&1 &&
        qemu-system-x86_64 --version >/dev/null 2>&1 &&
        command -v qemu-img >/dev/null 2>&1 &&
        command -v curl >/dev/null 2>&1
}

if installed; then
    exit 0
fi

[[ "$(id -u)" == 0 ]] || die "qemu-system-x86_64 is missing and installing it needs root (apt-get)"
command -v apt-get >/dev/null 2>&1 || die "qemu-system-x86_64 is missing and apt-get is not available"

lock_or_done /var/lock/cyclades-qemu-setup.lock
start_log qemu-setup

sources=/etc/apt/sources.list.d/bookworm-backports.sources
if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    [[ -f "$keyring" ]] || die "$keyring is missing (package debian-archive-keyring)"
    # The backports suite lives in the same archive as the machine's own bookworm suite: take
    # that source's URI rather than naming a mirror here.
    mirror="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)"
    if [[ -z "$mirror" ]]; then
        mirror="$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\)[[:space:]]\+bookworm[[:space:]].*/\2/p' \
            /etc/apt/sources.list 2>/dev/null | head -n 1)"
    fi
    [[ -n "$mirror" ]] || die "no Debian bookworm source in the apt sources to add bookworm-backports beside"
    cat >"$sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: $keyring
EOF
fi

export DEBIAN_FRONTEND=noninteractive
run "apt-get update" apt-get update -q
if ! command -v qemu-system-x86_64 >/dev/null 2>&1 || ! command -v qemu-img >/dev/null 2>&1; then
    run "installing qemu-system-x86 from bookworm-backports" \
        apt-get install -q -y --no-install-recommends -t bookworm-backports qemu-system-x86 qemu-utils
fi
if ! command -v curl >/dev/null 2>&1; then
    run "installing curl" apt-get install -q -y --no-install-recommends curl
fi

installed || die "qemu-system-x86 and curl were installed but qemu-system-x86_64, qemu-img or curl does not run"
