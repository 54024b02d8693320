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

die() {
    echo "tests/clients/glance_catalog_setup.sh: error: $*" >&2
    exit 1
}

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
    exec 9>"$venv.lock"
    flock 9
    if installed; then
        exit 0
    fi
fi

log="$(mktemp "${TMPDIR:-/tmp}/glance-catalog-setup.XXXXXX")"
trap 'rm -f "$log"' EXIT
run() {
    local what="$1"
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "$what failed: $*"
    fi
}

py3="${PYTHON3:-$(command -v python3 2>/dev/null || true)}"
[[ -n "$py3" && -x "$py3" ]] || die "python3 not found (set PYTHON3): it is needed for the venv"

rm -f "$stamp"
if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import pip' >/dev/null 2>&1; then
    rm -rf "$venv"
    run "creating the venv $venv with $py3" "$py3" -m venv "$venv"
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input -q)
run "installing $PIN (no dependencies) into $venv" "${pip[@]}" install --no-deps "$PIN"

compgen -G "$catalog/*.json" >/dev/null ||
    die "$PIN was installed but $catalog holds no *.json catalogue files"
echo "$STAMP_TAG" >"$stamp"
