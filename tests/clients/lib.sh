# shellcheck shell=bash
# The shell every install script in this folder shares; sourced, never run:
#
#   . "$here/lib.sh" "tests/clients/NAME.sh"    (the name its error messages start with)
#
# The scripts stay quiet when they succeed: a step's output is shown only when it fails, and
# every failure is one `NAME: error: …` line on stderr and exit code 1.

setup_name="$1"

die() {
    echo "$setup_name: error: $*" >&2
    exit 1
}

# Takes the install lock (fd 9, held until the script ends), waiting for a run that holds it;
# exits at once, successfully, when that run has installed everything meanwhile. Needs the
# caller's `installed` check.
lock_or_done() {
    exec 9>"$1"
    flock 9
    if installed; then
        exit 0
    fi
}

# Makes the temp file `run` captures output in ($1 names it), removed when the script ends.
start_log() {
    log="$(mktemp "${TMPDIR:-/tmp}/$1.XXXXXX")"
    trap 'rm -f "$log"' EXIT
}

# Runs a step with its output captured; shows the output only when the step fails.
run() {
    local what="$1"
    shift
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        die "$what failed: $*"
    fi
}

# Sets `py3`: $PYTHON3, else python3 on PATH.
find_python3() {
    py3="${PYTHON3:-$(command -v python3 2>/dev/null || true)}"
    [[ -n "$py3" && -x "$py3" ]] || die "python3 not found (set PYTHON3): it is needed for the venv"
}

# Drops the stamp and makes sure $venv is a python3 venv with pip (a half-made one from an
# interrupted run is reused when its python works, rebuilt otherwise); sets `pip`, the quiet
# pip command of that venv.
python3_venv() {
    rm -f "$stamp"
    if [[ ! -x "$venv/bin/python" ]] || ! "$venv/bin/python" -c 'import pip' >/dev/null 2>&1; then
        rm -rf "$venv"
        run "creating the venv $venv with $py3" "$py3" -m venv "$venv"
    fi
    pip=("$venv/bin/python" -m pip --disable-pip-version-check --no-input -q)
}
