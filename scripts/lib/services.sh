# shellcheck shell=bash
# Shared helpers for scripts/*.sh: installing the Debian packages of the real
# servers, finding free ports, running a throwaway PostgreSQL cluster, waiting
# for a service without blind sleeps.
#
# Source it from a script running under `set -euo pipefail`:
#   SCRIPT_NAME=scripts/foo.sh
#   source "$repo_root/scripts/lib/services.sh"
# It only defines functions (and the globals named PG_* and APT_UPDATED); it
# sets no traps and starts nothing by itself.

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf '%s: %s\n' "${SCRIPT_NAME:-${0##*/}}" "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- installs --

APT_UPDATED=0
# apt_install PKG...: installs packages (as root, or through sudo), running
# `apt-get update` once, only when something is actually installed. Another
# apt-get holding the lock (a second test run) is waited for, not failed on.
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "missing $*, and apt-get is not available to install it"
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "missing $*; run as root or install it yourself"
        sudo=(sudo)
    fi
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@" >/dev/null
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# pkg_bin PACKAGE NAME...: absolute path of the first executable file of an
# installed Debian package called NAME.
pkg_bin() {
    local pkg=$1 name f
    shift
    for name in "$@"; do
        while IFS= read -r f; do
            if [[ ${f##*/} == "$name" && -x $f && ! -d $f ]]; then
                printf '%s\n' "$f"
                return 0
            fi
        done < <(dpkg -L "$pkg" 2>/dev/null || true)
    done
    return 1
}

# resolve_bin VAR PACKAGE NAME...: keeps $VAR when set, else exports the first
# NAME found on PATH, else in the package's file list.
resolve_bin() {
    local var=$1 pkg=$2 name p
    shift 2
    if [[ -n ${!var:-} ]]; then
        [[ -x ${!var} ]] || die "$var=${!var} is not an executable"
        return 0
    fi
    for name in "$@"; do
        if p=$(command -v "$name" 2>/dev/null) && [[ -n $p ]]; then
            export "$var=$(readlink -f "$p")"
            return 0
        fi
    done
    if p=$(pkg_bin "$pkg" "$@"); then
        export "$var=$p"
        return 0
    fi
    die "cannot find $* (package $pkg) for $var"
}

# ------------------------------------------------------------ PyPI tools --

# The Python tools the suite runs, each pinned so every machine sees the same
# behaviour: pre-commit for the hook test (tests/integrations),
# kubernetes-validate (it bundles the Kubernetes schemas) for tests/deploy,
# schemathesis and openapi-python-client for the API contract tests
# (tests/api).
PRE_COMMIT_VERSION=4.7.0
KUBERNETES_VALIDATE_VERSION=1.37.0
SCHEMATHESIS_VERSION=4.32.5
OPENAPI_PYTHON_CLIENT_VERSION=0.29.1
# What the client openapi-python-client generates imports besides its own
# dependencies.
GENERATED_CLIENT_REQUIREMENTS=(python-dateutil==2.9.0.post0)

# install_pypi_tool VAR PACKAGE VERSION DIR [COMMAND [REQUIREMENT...]]:
# keeps $VAR when it is set (it must name an executable); otherwise installs
# PACKAGE==VERSION and the extra pinned REQUIREMENTs from PyPI into a
# virtualenv at DIR/PACKAGE-VERSION (once, redone when the requirements
# change; python3 and its venv module from Debian when missing) and exports
# VAR as the path of COMMAND (default PACKAGE) in it.
install_pypi_tool() {
    local var=$1 package=$2 version=$3 dir=$4/$2-$3 command=${5:-$2}
    local requirements=("$package==$version" "${@:6}")
    if [[ -n ${!var:-} ]]; then
        [[ -x ${!var} ]] || die "$var=${!var} is not an executable"
        export "${var?}"
        return 0
    fi
    if [[ ! -x $dir/bin/$command || $(cat "$dir/.requirements" 2>/dev/null) != "${requirements[*]}" ]]; then
        command -v python3 >/dev/null 2>&1 || apt_install python3
        python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_install python3-venv
        log "installing ${requirements[*]} into $dir"
        rm -rf "$dir"
        python3 -m venv "$dir" || die "cannot create a virtualenv in $dir"
        "$dir/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}" ||
            die "cannot install ${requirements[*]} from PyPI"
        printf '%s' "${requirements[*]}" >"$dir/.requirements"
    fi
    printf -v "$var" '%s' "$dir/bin/$command"
    export "${var?}"
    log "$var=${!var}"
}

# find_pg_bin: prints the directory holding initdb and pg_ctl (PATH first,
# then /usr/lib/postgresql/*/bin, newest version first).
find_pg_bin() {
    local d
    if command -v initdb >/dev/null 2>&1; then
        d=$(dirname "$(readlink -f "$(command -v initdb)")")
        if [[ -x $d/pg_ctl ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    while IFS= read -r d; do
        if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -Vr)
    return 1
}

# ------------------------------------------------------------------- ports --

# port_in_use PORT: true when something accepts connections on 127.0.0.1:PORT.
port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port: a port on 127.0.0.1 that nothing listens on.
free_port() {
    if command -v python3 >/dev/null 2>&1 &&
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null; then
        return 0
    fi
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! port_in_use "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    die "no free port found"
}

# ----------------------------------------------------------------- waiting --

# wait_until DESCRIPTION TIMEOUT_SECS COMMAND...: polls COMMAND every 0.2 s
# until it succeeds; false after TIMEOUT_SECS.
wait_until() {
    local what=$1 deadline=$((SECONDS + $2))
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            printf '%s: timed out waiting for %s\n' "${SCRIPT_NAME:-${0##*/}}" "$what" >&2
            return 1
        fi
        sleep 0.2
    done
}

# -------------------------------------------------------------- PostgreSQL --

PG_DIR=""
PG_PORT=""
PG_CTL=""
PG_AS=()

# pg_start_throwaway DIR: initialises a trust-auth cluster in DIR (created;
# must not exist yet) and starts it on a free port of 127.0.0.1, with its
# socket and server.log in DIR; exports DATABASE_URL. As root, the server runs
# as the postgres user (initdb refuses root). Fast and unsafe: fsync off.
pg_start_throwaway() {
    local bin started=0
    bin=$(find_pg_bin) || die "initdb/pg_ctl not found (install the postgresql package)"
    PG_DIR=$1
    PG_CTL=$bin/pg_ctl
    mkdir -p "$PG_DIR"
    chmod 755 "$PG_DIR"
    if [[ $(id -u) -eq 0 ]]; then
        id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user to run initdb as"
        chown postgres: "$PG_DIR"
        PG_AS=(runuser -u postgres --)
    fi
    if ! "${PG_AS[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres \
        --no-sync -E UTF8 --locale=C >"$PG_DIR/initdb.log" 2>&1; then
        cat "$PG_DIR/initdb.log" >&2
        die "initdb failed"
    fi
    for _ in 1 2 3 4 5; do
        PG_PORT=$(free_port)
        if "${PG_AS[@]}" "$PG_CTL" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null 2>&1; then
            started=1
            break
        fi
    done
    if [[ $started -ne 1 ]]; then
        cat "$PG_DIR/server.log" >&2 || true
        die "could not start a throwaway PostgreSQL cluster"
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

# pg_stop_throwaway: stops the cluster pg_start_throwaway started, if any
# (the directory is left for the caller to remove).
pg_stop_throwaway() {
    if [[ -n $PG_DIR && -f $PG_DIR/data/postmaster.pid ]]; then
        "${PG_AS[@]}" "$PG_CTL" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            "${PG_AS[@]}" "$PG_CTL" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
}

# pg_from_env_or_throwaway PREFIX: keeps DATABASE_URL when it is set;
# otherwise starts a throwaway cluster in a new $TMPDIR/PREFIX.XXXXXX and
# installs traps that stop and remove it when the script exits.
pg_from_env_or_throwaway() {
    if [[ -n ${DATABASE_URL:-} ]]; then
        log "using DATABASE_URL from the environment"
        return
    fi
    PG_THROWAWAY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap 'rc=$?; pg_stop_throwaway; rm -rf "$PG_THROWAWAY_DIR"; exit "$rc"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    pg_start_throwaway "$PG_THROWAWAY_DIR"
    log "throwaway PostgreSQL at $DATABASE_URL (data in $PG_THROWAWAY_DIR)"
}

# bench_servers PG_NAME: what the benchmarks need: prometheus and promtool
# (installed when missing, exported as PROMETHEUS_BIN and PROMTOOL_BIN) and a
# PostgreSQL (DATABASE_URL, or a throwaway cluster named PG_NAME).
bench_servers() {
    local missing=()
    pkg_installed prometheus || missing+=(prometheus)
    if [[ -z ${DATABASE_URL:-} ]] && ! find_pg_bin >/dev/null; then
        missing+=(postgresql)
    fi
    if [[ ${#missing[@]} -gt 0 ]]; then
        apt_install "${missing[@]}"
    fi
    resolve_bin PROMETHEUS_BIN prometheus prometheus
    resolve_bin PROMTOOL_BIN prometheus promtool
    export PROMETHEUS_BIN PROMTOOL_BIN
    pg_from_env_or_throwaway "$1"
    log "PROMETHEUS_BIN=$PROMETHEUS_BIN PROMTOOL_BIN=$PROMTOOL_BIN"
}
