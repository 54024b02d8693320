#!/usr/bin/env bash
# Installs the Image API clients (python-glanceclient, openstacksdk) into .venv-clients/ at the
# repo root, with the machine's python3 (3.11 here).
#
# Idempotent: once the pinned versions are installed a stamp file makes later runs return at
# once, silently. Exits non-zero with a message on stderr when anything cannot be installed.
#
# Environment: CLIENTS_VENV overrides the venv location; PYTHON3 names the interpreter to use.
set -euo pipefail

# The versions ../shared/CLIENTS.md was written against.
PINS=("python-glanceclient==4.13.0" "openstacksdk==4.22.0" "keystoneauth1==5.18.1")
STAMP_TAG="${PINS[*]} v1"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${CLIENTS_VENV:-$root/.venv-clients}"
stamp="$venv/.clients-setup-stamp"
. "$here/lib.sh" "tests/clients/setup.sh"

installed() {
    [[ -f "$stamp" && "$(cat "$stamp")" == "$STAMP_TAG" && -x "$venv/bin/glance" ]] &&
        "$venv/bin/python" -c 'import glanceclient, openstack' >/dev/null 2>&1
}

if installed; then
    exit 0
fi

# Several test binaries may run this at once: one installs, the others wait for it and then
# find the stamp.
if command -v flock >/dev/null 2>&1; then
    mkdir -p "$(dirname "$venv")"
    lock_or_done "$venv.lock"
fi

start_log clients-setup
check_home="$(mktemp -d "${TMPDIR:-/tmp}/clients-home.XXXXXX")"
trap 'rm -f "$log"; rm -rf "$check_home"' EXIT

find_python3
"$py3" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 9) else 1)' ||
    die "$py3 is older than Python 3.9, which ${PINS[*]} need"

python3_venv
run "installing ${PINS[*]} into $venv" "${pip[@]}" install "${PINS[@]}"

[[ -x "$venv/bin/glance" ]] || die "python-glanceclient was installed but $venv/bin/glance is missing"
HOME="$check_home" run "running the installed glance" "$venv/bin/glance" --version
run "importing openstacksdk" "$venv/bin/python" -c 'import openstack, glanceclient'
echo "$STAMP_TAG" >"$stamp"
