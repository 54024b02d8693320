#!/usr/bin/env bash
# Installs kamaki 0.16 (Synnefo's CLI, Python 2.7 only) into .venv-kamaki/ at the repo root.
#
# Idempotent: once kamaki is installed a stamp file makes later runs return at once, silently.
# Needs a CPython 2.7 (found on PATH or under pyenv) and a python3 with pip, used to install
# `virtualenv<20.22` (the last line of virtualenv that can still build Python 2.7 envs) into
# .venv-tools/. Exits non-zero with a message on stderr when anything is missing.
#
# Environment: KAMAKI_VENV overrides the venv location; PYTHON2 names the interpreter to use.
set -euo pipefail

KAMAKI_VERSION=0.16
# Python-2 compatible pins of kamaki's dependencies (and theirs) and of the packaging tools in
# the 2.7 env, so that nothing newer that dropped Python 2.7 gets picked.
PY2_PINS=("objpool==0.4" "progress==1.5" "astakosclient==0.19" "python-dateutil==2.9.0.post0"
    "six==1.17.0" "setuptools<45" "wheel<0.38")
STAMP_TAG="kamaki==${KAMAKI_VERSION} ${PY2_PINS[*]} v1"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${KAMAKI_VENV:-$root/.venv-kamaki}"
tools="$root/.venv-tools"
stamp="$venv/.kamaki-setup-stamp"
. "$here/lib.sh" "kamaki_setup.sh"

installed() {
    [[ -f "$stamp" && "$(cat "$stamp")" == "$STAMP_TAG" && -x "$venv/bin/kamaki" ]] &&
        "$venv/bin/python" -c 'import kamaki.cli' >/dev/null 2>&1
}

if installed; then
    exit 0
fi

# Several test binaries (or checkouts' builds) may run this at once: one installs, the others
# wait for it and then find the stamp.
if command -v flock >/dev/null 2>&1; then
    mkdir -p "$(dirname "$venv")"
    lock_or_done "$venv.lock"
fi

start_log kamaki-setup

is_py27() {
    [[ -n "$1" && -x "$1" ]] &&
        "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' >/dev/null 2>&1
}

# Find a working Python 2.7. A pyenv shim on PATH may exist but refuse to run when 2.7 is not
# the selected version, so every candidate is tried, not just found.
find_py27() {
    local c
    local -a cands=()
    [[ -n "${PYTHON2:-}" ]] && cands+=("$PYTHON2")
    c="$(command -v python2.7 2>/dev/null || true)"
    [[ -n "$c" ]] && cands+=("$c")
    local proot="${PYENV_ROOT:-$HOME/.pyenv}"
    if command -v pyenv >/dev/null 2>&1; then
        proot="$(pyenv root 2>/dev/null || echo "$proot")"
    fi
    for c in "$proot"/versions/2.7*/bin/python2.7; do
        [[ -e "$c" ]] && cands+=("$c")
    done
    c="$(command -v python2 2>/dev/null || true)"
    [[ -n "$c" ]] && cands+=("$c")
    for c in "${cands[@]}"; do
        if is_py27 "$c"; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

py27="$(find_py27)" ||
    die "no working Python 2.7 found (tried \$PYTHON2, python2.7 on PATH, \
\${PYENV_ROOT:-\$HOME/.pyenv}/versions/2.7*/bin/python2.7, python2); kamaki ${KAMAKI_VERSION} \
needs CPython 2.7 (e.g. 'pyenv install 2.7.18')"

# virtualenv<20.22 from a small python3 helper venv.
if [[ ! -x "$tools/bin/virtualenv" ]]; then
    py3="$(command -v python3 2>/dev/null || true)"
    [[ -n "$py3" ]] || die "python3 not found: it is needed to install virtualenv<20.22"
    rm -rf "$tools"
    run "creating the helper venv $tools" "$py3" -m venv "$tools"
    run "installing virtualenv<20.22 into $tools" \
        "$tools/bin/python" -m pip install --disable-pip-version-check -q "virtualenv<20.22"
fi

# A half-made venv from an interrupted run is removed and rebuilt.
rm -f "$stamp"
if [[ ! -x "$venv/bin/python" ]] || ! is_py27 "$venv/bin/python"; then
    rm -rf "$venv"
    run "creating the Python 2.7 venv $venv" \
        "$tools/bin/virtualenv" -q -p "$py27" --no-periodic-update "$venv"
fi

pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-python-version-warning -q)
run "installing kamaki==${KAMAKI_VERSION}" "${pip[@]}" install "${PY2_PINS[@]}" \
    "kamaki==${KAMAKI_VERSION}"

[[ -x "$venv/bin/kamaki" ]] || die "kamaki was installed but $venv/bin/kamaki is missing"
check_home="$(mktemp -d "${TMPDIR:-/tmp}/kamaki-home.XXXXXX")"
trap 'rm -f "$log"; rm -rf "$check_home"' EXIT
HOME="$check_home" run "running the installed kamaki" "$venv/bin/kamaki" --version
echo "$STAMP_TAG" >"$stamp"
