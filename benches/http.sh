#!/usr/bin/env bash
# HTTP API benchmark: wrk on loopback against `burnrate serve` with 1,000
# SLOs (real Prometheus seeded by remote write, real PostgreSQL, the
# scheduler running). Prints a Markdown table for BENCHMARKS.md.
#
#   bash benches/http.sh
#   WRK_DURATION=30s WRK_CONNECTIONS=64 bash benches/http.sh
#
# Installs wrk and prometheus from Debian's packages when missing; uses
# DATABASE_URL when set, otherwise starts a throwaway PostgreSQL cluster and
# removes it on exit.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
SCRIPT_NAME=benches/http.sh
# shellcheck source=../scripts/lib/services.sh
source "$repo_root/scripts/lib/services.sh"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
pkg_installed prometheus || missing+=(prometheus)
if [[ -z ${DATABASE_URL:-} ]] && ! find_pg_bin >/dev/null; then
    missing+=(postgresql)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
fi
resolve_bin PROMETHEUS_BIN prometheus prometheus
export PROMETHEUS_BIN

pg_tmp=""
cleanup() {
    local rc=$?
    pg_stop_throwaway
    [[ -n $pg_tmp ]] && rm -rf "$pg_tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${DATABASE_URL:-} ]]; then
    pg_tmp=$(mktemp -d "${TMPDIR:-/tmp}/burnrate-bench-pg.XXXXXX")
    chmod 755 "$pg_tmp"
    pg_start_throwaway "$pg_tmp/pg"
    log "throwaway PostgreSQL at $DATABASE_URL"
fi

log "nproc: $(nproc); wrk: $(wrk -v 2>&1 | head -1)"
cargo bench --bench http_api
