#!/usr/bin/env bash
# Installs the `glance` package from PyPI (without its dependencies: only its data files are
# wanted) into .venv-glance-catalog/ at the repo root, so the metadefs tests can import the
# catalogue files it ships: .venv-glance-catalog/etc/glance/metadefs/*.json. Nothing of it is
# copied into the repository.
#
# Idempotent: once installed, a stamp file makes later runs return at once, silently. Exits
# non-zero with a message on stderr when anything cannot be installed.
#
# Environment: GLANCE_CATALOG_VENV overrides the venv location; PYTHON3 names the interpreter.
set -euo pipefail

PIN="glance==33.0.0"
STAMP_TAG="$PIN v1"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${GLANCE_CATALOG_VENV:-$root/.venv-glance-catalog}"
stamp="$venv/.glance-catalog-stamp"
catalog="$venv/etc/glance/metadefs"
. "$here/lib.sh" "tests/clients/glance_catalog_setup.sh"

installed() {
    [[ -f "$stamp" && "$(cat "$stamp")" == "$STAMP_TAG" ]] &&
        compgen -G "$catalog/*.json" >/dev/null
}

if installed; then
    exit 0
fi

# Several test binaries may run this at once: one installs, the others wait and find the stamp.
if command -v flock >/dev/null 2>&1; then
    mkdir -p "$(dirname "$venv")"
    lock_or_done "$venv.lock"
fi

start_log glance-catalog-setup
find_python3
python3_venv
run "installing $PIN (no dependencies) into $venv" "${pip[@]}" install --no-deps "$PIN"

compgen -G "$catalog/*.json" >/dev/null ||
    die "$PIN was installed but $catalog holds no *.json catalogue files"
echo "$STAMP_TAG" >"$stamp"
