#!/usr/bin/env bash
# Runs the whole burnrate test suite: the single command the README gives and
# what CI runs (via .ci/run).
#
#   scripts/test.sh              # fmt check, clippy, every test
#   scripts/test.sh engine       # extra arguments go to the test runner (a filter here)
#   scripts/test.sh serve        # an area (tests/NAME/main.rs) runs that test binary
#   scripts/test.sh ingestion    # a module name filters by test path (serve's ingestion::*)
#   SKIP_LINT=1 scripts/test.sh  # while iterating: tests only (ignored when CI=true)
#
# Works on a fresh Debian machine where the user is root and has cargo:
#   * installs what is missing (prometheus, prometheus-alertmanager,
#     victoria-metrics, postgresql) with apt-get, idempotently;
#   * uses DATABASE_URL when it is set, otherwise starts a throwaway
#     PostgreSQL cluster in a temp dir on a free port and removes it on exit;
#   * exports PROMETHEUS_BIN, PROMTOOL_BIN, ALERTMANAGER_BIN,
#     VICTORIA_METRICS_BIN and DATABASE_URL for tests/support (the testkit crate);
#   * runs cargo fmt --check, cargo clippy -D warnings, then cargo nextest
#     (or cargo test when cargo-nextest is absent), failing fast.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

SCRIPT_NAME=scripts/test.sh
# shellcheck source=lib/services.sh
source "$repo_root/scripts/lib/services.sh"

# ---------------------------------------------------------------- installs --

missing=()
for pkg in prometheus prometheus-alertmanager victoria-metrics; do
    pkg_installed "$pkg" || missing+=("$pkg")
done
if [[ -z ${DATABASE_URL:-} ]] && ! find_pg_bin >/dev/null; then
    missing+=(postgresql)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
fi

resolve_bin PROMETHEUS_BIN prometheus prometheus
resolve_bin PROMTOOL_BIN prometheus promtool
resolve_bin ALERTMANAGER_BIN prometheus-alertmanager prometheus-alertmanager alertmanager
resolve_bin VICTORIA_METRICS_BIN victoria-metrics victoria-metrics victoria-metrics-prod

# kubernetes-validate (pinned, from PyPI) in a venv under target/, for
# tests/deploy; exports KUBERNETES_VALIDATE_BIN.
install_kubernetes_validate "${CARGO_TARGET_DIR:-$repo_root/target}/kubernetes-validate"

# -------------------------------------------------------------- PostgreSQL --

pg_from_env_or_throwaway burnrate-pg

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
    step cargo clippy --workspace --all-targets -- -D warnings
fi

# An argument naming an integration test binary (tests/NAME/main.rs) selects that
# binary (--test NAME); anything else is passed to the runner as is (a test
# name filter, or runner flags). Arguments after `--` are never rewritten.
runner_args=()
while [[ $# -gt 0 ]]; do
    if [[ $1 == -- ]]; then
        runner_args+=("$@")
        break
    fi
    if [[ $1 != -* && -f tests/$1/main.rs ]]; then
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
