#!/usr/bin/env bash
# Runs the whole burnrate test suite: the single command the README gives and
# what CI runs (via .ci/run).
#
#   scripts/test.sh              # fmt check, clippy, every test
#   scripts/test.sh engine       # extra arguments go to the test runner (a filter here)
#   scripts/test.sh serve        # an area (tests/NAME/main.rs) runs that test binary
#   scripts/test.sh ingestion    # a module name filters by test path (serve's ingestion::*)
#   SKIP_LINT=1 scripts/test.sh  # while iterating: tests only (ignored when CI=true)
#   scripts/test.sh --fixtures-only  # only find and check the upstream fixtures
#
# Works on a fresh Debian machine where the user is root and has cargo:
#   * installs what is missing (prometheus, prometheus-alertmanager,
#     victoria-metrics, chromium, chromium-driver, postgresql) with apt-get,
#     idempotently;
#   * uses DATABASE_URL when it is set, otherwise starts a throwaway
#     PostgreSQL cluster in a temp dir on a free port and removes it on exit;
#   * installs pre-commit, kubernetes-validate, schemathesis and
#     openapi-python-client (pinned, from PyPI) into virtualenvs under
#     target/tools, once;
#   * exports PROMETHEUS_BIN, PROMTOOL_BIN, ALERTMANAGER_BIN,
#     VICTORIA_METRICS_BIN, CHROMIUM_BIN, CHROMEDRIVER_BIN, PRE_COMMIT_BIN,
#     KUBERNETES_VALIDATE_BIN, SCHEMATHESIS_BIN, OPENAPI_PYTHON_CLIENT_BIN
#     and DATABASE_URL for the tests;
#   * finds the upstream Sloth/Pyrra/OpenSLO files that tests/upstream.toml
#     pins (BURNRATE_UPSTREAM_FIXTURES, else ../shared/fixtures/external, else
#     a download into target/upstream-fixtures/), checks their sha256 and
#     exports BURNRATE_UPSTREAM_FIXTURES; when they cannot be had, runs
#     everything except the upstream_* tests and says so loudly at the end
#     (with CI=true that is a failure instead);
#   * runs cargo fmt --check, cargo clippy -D warnings, then cargo nextest
#     (or cargo test when cargo-nextest is absent), failing fast.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

SCRIPT_NAME=scripts/test.sh
# shellcheck source=lib/services.sh
source "$repo_root/scripts/lib/services.sh"
# shellcheck source=lib/upstream.sh
source "$repo_root/scripts/lib/upstream.sh"

fixtures_only=0
if [[ ${1:-} == --fixtures-only ]]; then
    fixtures_only=1
    shift
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

# ------------------------------------------------------- upstream fixtures --

upstream_skipped=""
upstream_resolve
if [[ -n $UPSTREAM_DIR ]]; then
    log "upstream fixtures: $UPSTREAM_DIR ($UPSTREAM_SOURCE); all match $UPSTREAM_MANIFEST"
    export BURNRATE_UPSTREAM_FIXTURES=$UPSTREAM_DIR
elif [[ ${CI:-} == true ]]; then
    die "FAILED: upstream fixtures unavailable: $UPSTREAM_UNAVAILABLE. With CI=true the upstream-fixture tests may not be skipped: set BURNRATE_UPSTREAM_FIXTURES to a directory holding the files of $UPSTREAM_MANIFEST, or allow downloads from raw.githubusercontent.com"
else
    upstream_skipped=$(upstream_tests "${runner_args[@]}") || exit 1
    log "upstream fixtures unavailable ($UPSTREAM_UNAVAILABLE): the upstream_* tests will not run"
fi
if [[ $fixtures_only -eq 1 ]]; then
    if [[ -n $upstream_skipped ]]; then
        upstream_skip_report "$upstream_skipped" "(--fixtures-only: this is what a run would skip; nothing was run)"
    fi
    exit 0
fi

# ---------------------------------------------------------------- installs --

missing=()
# chromium and chromium-driver: the web UI's browser tests (tests/ui).
for pkg in prometheus prometheus-alertmanager victoria-metrics chromium chromium-driver; do
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
resolve_bin CHROMIUM_BIN chromium chromium
resolve_bin CHROMEDRIVER_BIN chromium-driver chromedriver
tools="${CARGO_TARGET_DIR:-$repo_root/target}/tools"
install_pypi_tool PRE_COMMIT_BIN pre-commit "$PRE_COMMIT_VERSION" "$tools"
install_pypi_tool KUBERNETES_VALIDATE_BIN kubernetes-validate "$KUBERNETES_VALIDATE_VERSION" "$tools"
install_pypi_tool SCHEMATHESIS_BIN schemathesis "$SCHEMATHESIS_VERSION" "$tools" st
install_pypi_tool OPENAPI_PYTHON_CLIENT_BIN openapi-python-client "$OPENAPI_PYTHON_CLIENT_VERSION" "$tools" \
    openapi-python-client "${GENERATED_CLIENT_REQUIREMENTS[@]}"

# -------------------------------------------------------------- PostgreSQL --

pg_from_env_or_throwaway burnrate-pg

log "PROMETHEUS_BIN=$PROMETHEUS_BIN"
log "PROMTOOL_BIN=$PROMTOOL_BIN"
log "ALERTMANAGER_BIN=$ALERTMANAGER_BIN"
log "VICTORIA_METRICS_BIN=$VICTORIA_METRICS_BIN"
log "CHROMIUM_BIN=$CHROMIUM_BIN"
log "CHROMEDRIVER_BIN=$CHROMEDRIVER_BIN"
export PROMETHEUS_BIN PROMTOOL_BIN ALERTMANAGER_BIN VICTORIA_METRICS_BIN CHROMIUM_BIN CHROMEDRIVER_BIN PRE_COMMIT_BIN DATABASE_URL

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

# Without the upstream fixtures, the tests that need them are left out by name.
runner=(cargo nextest run --no-fail-fast)
if ! cargo nextest --version >/dev/null 2>&1; then
    log "cargo-nextest not found; using cargo test"
    runner=(cargo test --no-fail-fast)
fi
if [[ -n $upstream_skipped ]]; then
    filtered=() user_filterset=0 prev="" after_dashes=0
    for arg in "${runner_args[@]}"; do
        if [[ $after_dashes -eq 0 && ${runner[1]} == nextest && ($prev == -E || $prev == --filterset) ]]; then
            arg="($arg) and not $UPSTREAM_FILTERSET"
            user_filterset=1
        fi
        [[ $arg == -- ]] && after_dashes=1
        filtered+=("$arg")
        prev=$arg
    done
    if [[ ${runner[1]} == nextest ]]; then
        [[ $user_filterset -eq 1 ]] || filtered=(-E "not $UPSTREAM_FILTERSET" "${filtered[@]}")
    else
        [[ $after_dashes -eq 1 ]] || filtered+=(--)
        filtered+=(--skip upstream_)
    fi
    runner_args=("${filtered[@]}")
fi

log "${runner[*]} ${runner_args[*]}"
if ! "${runner[@]}" "${runner_args[@]}" </dev/null; then
    [[ -z $upstream_skipped ]] || upstream_skip_report "$upstream_skipped"
    printf '\nscripts/test.sh: FAILED: %s\n' "${runner[*]} ${runner_args[*]}" >&2
    exit 1
fi

if [[ ${lint_skipped:-0} -eq 1 ]]; then
    outcome="tests passed (fmt and clippy skipped)"
else
    outcome="fmt, clippy and tests all passed"
fi
if [[ -n $upstream_skipped ]]; then
    upstream_skip_report "$upstream_skipped"
    outcome="$outcome, except the $(grep -c . <<<"$upstream_skipped") upstream-fixture tests skipped above"
fi
printf '\nscripts/test.sh: OK: %s\n' "$outcome" >&2
