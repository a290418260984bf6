#!/usr/bin/env bash
# Runs the whole burnrate test suite: the single command the README gives and
# what CI runs (via .ci/run).
#
#   scripts/test.sh              # fmt check, clippy, every test
#   scripts/test.sh engine       # extra arguments go to the test runner (a filter here)
#   scripts/test.sh harness      # the name of a tests/*.rs file runs that binary
#   SKIP_LINT=1 scripts/test.sh  # while iterating: tests only (ignored when CI=true)
#
# Works on a fresh Debian machine where the user is root and has cargo:
#   * installs what is missing (prometheus, prometheus-alertmanager,
#     victoria-metrics, postgresql) with apt-get, idempotently;
#   * uses DATABASE_URL when it is set, otherwise starts a throwaway
#     PostgreSQL cluster in a temp dir on a free port and removes it on exit;
#   * exports PROMETHEUS_BIN, PROMTOOL_BIN, ALERTMANAGER_BIN,
#     VICTORIA_METRICS_BIN and DATABASE_URL for tests/support;
#   * runs cargo fmt --check, cargo clippy -D warnings, then cargo nextest
#     (or cargo test when cargo-nextest is absent), failing fast.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

log() { printf '==> %s\n' "$*" >&2; }
die() {
    printf 'scripts/test.sh: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- installs --

apt_updated=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        die "missing $*, and apt-get is not available to install it"
    fi
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || die "missing $*; run as root or install it yourself"
        sudo=(sudo)
    fi
    if [[ $apt_updated -eq 0 ]]; then
        log "apt-get update"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        apt_updated=1
    fi
    log "apt-get install $*"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pkg_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Absolute path of the first existing file of a Debian package matching a
# name, e.g. pkg_bin victoria-metrics victoria-metrics.
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

missing=()
for pkg in prometheus prometheus-alertmanager victoria-metrics; do
    pkg_installed "$pkg" || missing+=("$pkg")
done

find_pg_bin() {
    # Prints the directory holding initdb and pg_ctl, newest version first.
    local d
    if command -v initdb >/dev/null 2>&1; then
        d=$(dirname "$(readlink -f "$(command -v initdb)")")
        if [[ -x $d/pg_ctl ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -Vr); do
        if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    done
    return 1
}

need_pg_server=0
[[ -z ${DATABASE_URL:-} ]] && need_pg_server=1
if [[ $need_pg_server -eq 1 ]] && ! find_pg_bin >/dev/null; then
    missing+=(postgresql)
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
fi

resolve_bin() {
    # resolve_bin ENVVAR package name... : keeps ENVVAR when set, else PATH,
    # else the package's file list.
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

resolve_bin PROMETHEUS_BIN prometheus prometheus
resolve_bin PROMTOOL_BIN prometheus promtool
resolve_bin ALERTMANAGER_BIN prometheus-alertmanager prometheus-alertmanager alertmanager
resolve_bin VICTORIA_METRICS_BIN victoria-metrics victoria-metrics victoria-metrics-prod

# -------------------------------------------------------------- PostgreSQL --

pg_dir=""
pg_ctl_bin=""
pg_as=()
cleanup() {
    local rc=$?
    if [[ -n $pg_dir ]]; then
        if [[ -f $pg_dir/data/postmaster.pid ]]; then
            "${pg_as[@]}" "$pg_ctl_bin" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        rm -rf "$pg_dir"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    # Asks the kernel for a free port on 127.0.0.1.
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
        return
    fi
    local port
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return
        fi
    done
    die "no free port found"
}

if [[ -n ${DATABASE_URL:-} ]]; then
    log "using DATABASE_URL from the environment"
else
    pg_bin=$(find_pg_bin) || die "initdb/pg_ctl not found even after installing postgresql"
    pg_ctl_bin="$pg_bin/pg_ctl"
    pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/burnrate-pg.XXXXXX")
    chmod 755 "$pg_dir"
    if [[ $(id -u) -eq 0 ]]; then
        # initdb refuses to run as root.
        id postgres >/dev/null 2>&1 || die "running as root but there is no postgres user to run initdb as"
        chown postgres: "$pg_dir"
        pg_as=(runuser -u postgres --)
    fi
    "${pg_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres \
        --no-sync -E UTF8 --locale=C >"$pg_dir/initdb.log" 2>&1 ||
        {
            cat "$pg_dir/initdb.log" >&2
            die "initdb failed"
        }
    started=0
    for _ in 1 2 3 4 5; do
        pg_port=$(free_port)
        if "${pg_as[@]}" "$pg_ctl_bin" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
            -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
            start >/dev/null 2>&1; then
            started=1
            break
        fi
    done
    if [[ $started -ne 1 ]]; then
        cat "$pg_dir/server.log" >&2 || true
        die "could not start a throwaway PostgreSQL cluster"
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
    log "throwaway PostgreSQL at $DATABASE_URL (data in $pg_dir)"
fi

log "PROMETHEUS_BIN=$PROMETHEUS_BIN"
log "PROMTOOL_BIN=$PROMTOOL_BIN"
log "ALERTMANAGER_BIN=$ALERTMANAGER_BIN"
log "VICTORIA_METRICS_BIN=$VICTORIA_METRICS_BIN"
export PROMETHEUS_BIN PROMTOOL_BIN ALERTMANAGER_BIN VICTORIA_METRICS_BIN DATABASE_URL

# ------------------------------------------------------------------ checks --

step() {
    log "$*"
    if ! "$@" </dev/null; then
        printf '\nscripts/test.sh: FAILED: %s\n' "$*" >&2
        exit 1
    fi
}

if [[ -n ${SKIP_LINT:-} && ${SKIP_LINT} != 0 && ${CI:-} != true ]]; then
    log "SKIP_LINT set: skipping cargo fmt and cargo clippy"
    lint_skipped=1
else
    step cargo fmt --all -- --check
    step cargo clippy --all-targets -- -D warnings
fi

# An argument naming an integration test binary (tests/NAME.rs) selects that
# binary (--test NAME); anything else is passed to the runner as is (a test
# name filter, or runner flags). Arguments after `--` are never rewritten.
runner_args=()
while [[ $# -gt 0 ]]; do
    if [[ $1 == -- ]]; then
        runner_args+=("$@")
        break
    fi
    if [[ $1 != -* && -f tests/$1.rs ]]; then
        runner_args+=(--test "$1")
    else
        runner_args+=("$1")
    fi
    shift
done

if cargo nextest --version >/dev/null 2>&1; then
    step cargo nextest run --no-fail-fast "${runner_args[@]}"
else
    log "cargo-nextest not found; using cargo test"
    step cargo test --no-fail-fast "${runner_args[@]}"
fi

if [[ ${lint_skipped:-0} -eq 1 ]]; then
    printf '\nscripts/test.sh: OK: tests passed (fmt and clippy skipped)\n' >&2
else
    printf '\nscripts/test.sh: OK: fmt, clippy and tests all passed\n' >&2
fi
