#!/usr/bin/env bash
# The logic behind the GitHub action (action.yml) and the GitLab CI template
# (ci/gitlab/burnrate.gitlab-ci.yml); tests/integrations runs it directly.
#
#   ci/burnrate-ci.sh check   # burnrate check, annotations for the CI system
#   ci/burnrate-ci.sh gate    # burnrate gate, the exit status decides
#
# Settings come from the environment (the action's inputs and the template's
# variables map onto these):
#
#   BURNRATE_BIN            the burnrate binary (default: burnrate on PATH)
#   check:
#   BURNRATE_PATHS          catalog files or directories, space-separated (default slo-definitions)
#   BURNRATE_FORMAT         github, gitlab, sarif, text or json (default text)
#   BURNRATE_CHANGED_FROM   report only on files changed since this git revision
#   BURNRATE_STRICT         true: warnings fail too
#   BURNRATE_REPORT         write the report here and print the text form to the log
#   gate:
#   BURNRATE_SERVER         the burnrate URL (required)
#   BURNRATE_SERVICES       services to release, space-separated (required)
#   BURNRATE_SLO            only this SLO
#   BURNRATE_TIMEOUT        retry within this long (burnrate's default otherwise)
#   BURNRATE_WAIT_FRESH     wait for evaluations newer than the call, up to this long
#   BURNRATE_OVERRIDE       a reason to release despite a deny (needs the write token)
#   BURNRATE_ACTOR          who asks, recorded with the decision (e.g. the CI user)
#   BURNRATE_FAIL_OPEN      true: "cannot decide" does not fail the job
#   BURNRATE_GATE_FORMAT    text or json (default text)
#   BURNRATE_API_TOKEN / BURNRATE_API_TOKEN_FILE are read by burnrate itself.
#
# Exit status: burnrate's own (check: 0 valid, 1 errors, 2 cannot run;
# gate: 0 allow, 1 deny, 2 cannot decide), 64 for a usage error here.
set -euo pipefail

usage() {
    printf 'burnrate-ci: %s\n' "$*" >&2
    exit 64
}

# An input left empty (action.yml passes every one) means "not set" to burnrate too.
for var in BURNRATE_API_TOKEN BURNRATE_API_TOKEN_FILE BURNRATE_ACTOR; do
    [[ -n ${!var:-} ]] || unset "$var"
done

bin=${BURNRATE_BIN:-burnrate}
command -v "$bin" >/dev/null 2>&1 || usage "cannot find the burnrate binary \`$bin\` (set BURNRATE_BIN or put burnrate on PATH)"

is_true() {
    case ${1:-} in
    true | 1 | yes) return 0 ;;
    '' | false | 0 | no) return 1 ;;
    *) usage "expected true or false, found \`$1\`" ;;
    esac
}

run_check() {
    local format=${BURNRATE_FORMAT:-text} paths=() args=()
    case $format in
    github | gitlab | sarif | text | json) ;;
    *) usage "BURNRATE_FORMAT must be github, gitlab, sarif, text or json, not \`$format\`" ;;
    esac
    read -r -a paths <<<"${BURNRATE_PATHS:-slo-definitions}"
    [[ ${#paths[@]} -gt 0 ]] || usage "BURNRATE_PATHS is empty"
    if [[ -n ${BURNRATE_CHANGED_FROM:-} ]]; then
        args+=(--changed-from "$BURNRATE_CHANGED_FROM")
    fi
    if is_true "${BURNRATE_STRICT:-}"; then
        args+=(--strict)
    fi
    if [[ -z ${BURNRATE_REPORT:-} ]]; then
        exec "$bin" check --format "$format" "${args[@]}" -- "${paths[@]}"
    fi
    # The report for the CI system to pick up, and the text for people reading the log.
    local status=0
    "$bin" check --format "$format" "${args[@]}" -- "${paths[@]}" >"$BURNRATE_REPORT" || status=$?
    "$bin" check --format text "${args[@]}" -- "${paths[@]}" || true
    return "$status"
}

run_gate() {
    local services=() args=() s
    [[ -n ${BURNRATE_SERVER:-} ]] || usage "BURNRATE_SERVER is required for the gate"
    read -r -a services <<<"${BURNRATE_SERVICES:-}"
    [[ ${#services[@]} -gt 0 ]] || usage "BURNRATE_SERVICES is required for the gate"
    args=(gate --server "$BURNRATE_SERVER" --format "${BURNRATE_GATE_FORMAT:-text}")
    for s in "${services[@]}"; do
        args+=(--service "$s")
    done
    [[ -z ${BURNRATE_SLO:-} ]] || args+=(--slo "$BURNRATE_SLO")
    [[ -z ${BURNRATE_TIMEOUT:-} ]] || args+=(--timeout "$BURNRATE_TIMEOUT")
    [[ -z ${BURNRATE_WAIT_FRESH:-} ]] || args+=(--wait-fresh "$BURNRATE_WAIT_FRESH")
    [[ -z ${BURNRATE_OVERRIDE:-} ]] || args+=(--override "$BURNRATE_OVERRIDE")
    [[ -z ${BURNRATE_ACTOR:-} ]] || args+=(--actor "$BURNRATE_ACTOR")
    if is_true "${BURNRATE_FAIL_OPEN:-}"; then
        args+=(--fail-open)
    fi
    exec "$bin" "${args[@]}"
}

case ${1:-} in
check) run_check ;;
gate) run_gate ;;
*) usage "usage: ci/burnrate-ci.sh check|gate (settings in BURNRATE_* variables)" ;;
esac
