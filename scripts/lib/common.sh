# Shared set-up for scripts/serve and scripts/test: sourced, not run.
# Installs what energymon needs from PyPI and npm into the project folder.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

log() { printf '\033[1m[energymon]\033[0m %s\n' "$*" >&2; }

find_python() {
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    log "energymon needs Python 3.11, 3.12 or 3.13 (python3.11 or newer on PATH)"
    return 1
}

ensure_uv() {
    if command -v uv >/dev/null 2>&1; then
        UV=uv
        return 0
    fi
    if [ -x "$ROOT/.tools/bin/uv" ]; then
        UV="$ROOT/.tools/bin/uv"
        return 0
    fi
    local py
    py="$(find_python)"
    log "installing uv (the package manager that reads uv.lock) into .tools/"
    "$py" -m venv "$ROOT/.tools"
    "$ROOT/.tools/bin/python" -m pip install --quiet --disable-pip-version-check uv
    UV="$ROOT/.tools/bin/uv"
}

# ensure_python_env [--dev]: the locked dependencies in .venv.
ensure_python_env() {
    ensure_uv
    local py
    py="$(find_python)"
    export UV_PYTHON="$py" UV_PYTHON_DOWNLOADS=never
    if [ "${1:-}" = "--dev" ]; then
        "$UV" sync --locked --quiet
    else
        "$UV" sync --locked --quiet --no-dev --inexact
    fi
}

port_open() {
    (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-
}

wait_port() {  # host port seconds
    local i
    for ((i = 0; i < $3 * 2; i++)); do
        port_open "$1" "$2" && return 0
        sleep 0.5
    done
    return 1
}

# Start MariaDB when it is installed but not running (tests skip it when it is absent).
ensure_mariadb() {
    port_open 127.0.0.1 3306 && return 0
    if [ ! -x /usr/sbin/mariadbd ]; then
        log "MariaDB is not installed: its tests will be skipped"
        return 0
    fi
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql ||
        start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_port 127.0.0.1 3306 60 || log "MariaDB did not come up on 127.0.0.1:3306"
}

# Start RabbitMQ when it is installed but not running.
ensure_rabbitmq() {
    port_open 127.0.0.1 5672 && return 0
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        log "RabbitMQ is not installed: its tests will be skipped"
        return 0
    fi
    log "starting RabbitMQ"
    rabbitmq-server -detached || true
    wait_port 127.0.0.1 5672 90 || log "RabbitMQ did not come up on 127.0.0.1:5672"
}

# The browser libraries of the web app (web/package.json, pinned by its lockfile) into
# web/node_modules, from which the app serves them. Reinstalled when the lockfile changes.
ensure_web_assets() {
    local stamp="$ROOT/web/node_modules/.package-lock.json"
    if [ -f "$stamp" ] && [ "$stamp" -nt "$ROOT/web/package-lock.json" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        log "npm is missing: install Node.js (18 or newer) for the web app's browser libraries"
        return 1
    fi
    log "installing the web app's browser libraries (npm ci in web/)"
    (cd "$ROOT/web" && npm ci --no-audit --no-fund --loglevel=error)
}

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads one).
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        log "no /usr/bin/chromium and no apt-get: the browser tests will be skipped"
        return 0
    fi
    log "installing Debian's chromium and chromium-driver for the browser tests"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium chromium-driver >/dev/null 2>&1; then
        $sudo apt-get update -qq
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
            chromium chromium-driver >/dev/null
    fi
}
