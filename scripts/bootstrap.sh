# Shared set-up for scripts/test and scripts/demo: system packages, then a virtualenv with the
# project installed. Sourced, not run. Safe to repeat: it does only what is missing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SCF_VENV:-$ROOT/.venv}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf '\033[31merror: %s\033[0m\n' "$*" >&2; exit 1; }

# need_system_packages "command:debian-package" ... ; a "command" with a slash is a path glob
# (a library without a command, e.g. a Ruby gem's specification file).
need_system_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd="${pair%%:*}"; pkg="${pair##*:}"
        if [[ "$cmd" == */* ]]; then
            compgen -G "$cmd" >/dev/null || missing+=("$pkg")
        elif ! command -v "$cmd" >/dev/null 2>&1 && ! compgen -G "/usr/lib/postgresql/*/bin/$cmd" >/dev/null; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
            || die "apt-get install ${missing[*]} failed"
    else
        die "missing system packages: ${missing[*]}. Install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run again."
    fi
}

find_python() {
    local candidate
    for candidate in ${SCF_PYTHON:-} python3 python3.13 python3.12 python3.11; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"; return 0
        fi
    done
    die "Python 3.11 or newer is needed (set SCF_PYTHON to its path)."
}

# ensure_venv [EXTRAS]: the project installed with EXTRAS (default "dev", what the tests need;
# scripts/demo asks for "redis" only, a third of the download). A dev install covers any extras.
ensure_venv() {
    local extras="${1-dev}" stamp="$VENV/.scf-installed" want have
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating virtualenv in $VENV"
        "$(find_python)" -m venv "$VENV" || die "could not create a virtualenv (Debian: apt-get install python3-venv)"
    fi
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    # The stamp is "<hash>" after a dev install, "<hash> <extras>" after any other.
    if [ "$have" != "$want" ] && [ "$have" != "$want $extras" ]; then
        if [ "$extras" = dev ]; then
            say "installing django-seeclickfix and its development tools"
        else
            say "installing django-seeclickfix${extras:+ [$extras]}"
        fi
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
        "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT${extras:+[$extras]}" \
            || die "pip install failed"
        if [ "$extras" = dev ]; then echo "$want" > "$stamp"; else echo "$want $extras" > "$stamp"; fi
    fi
    export PATH="$VENV/bin:$PATH"
}
