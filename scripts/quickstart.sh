#!/usr/bin/env bash
# Starts burnrate doing its job on this machine, against real servers:
#
#   scripts/quickstart.sh
#
# * installs Prometheus (apt-get) when it is missing;
# * uses DATABASE_URL when set, otherwise starts a throwaway PostgreSQL
#   cluster (installing the postgresql package when initdb is missing);
# * builds the release binaries;
# * starts the demo workload (simulated checkout/search/payments traffic with
#   incidents), a real Prometheus scraping it every 5 s, and
#   `burnrate serve` on the example catalog in slo-definitions/;
# * prints where to look (the web UI first), then stays in the foreground:
#   Ctrl-C stops every process it started and removes its temp dir (logs
#   included). The processes run in sessions of their own, so the terminal's
#   Ctrl-C reaches this script alone, which then stops them in order with
#   SIGTERM.
#
# Environment:
#   BURNRATE_PORT=8080   port of burnrate's HTTP API on 127.0.0.1
#   KEEP_DATA=1          keep the temp dir (logs, Prometheus and PostgreSQL data)
#   DATABASE_URL=...     use this PostgreSQL instead of a throwaway cluster
#   BURNRATE_BIN=...     run this burnrate binary instead of target/release/burnrate
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
SCRIPT_NAME=scripts/quickstart.sh
# shellcheck source=scripts/lib/services.sh
source "$repo_root/scripts/lib/services.sh"

burnrate_port=${BURNRATE_PORT:-8080}
release_dir=${CARGO_TARGET_DIR:-$repo_root/target}/release
burnrate_bin=${BURNRATE_BIN:-$release_dir/burnrate}
if port_in_use "$burnrate_port"; then
    die "port $burnrate_port is already in use; pick another with BURNRATE_PORT=..."
fi

# ---------------------------------------------------------------- installs --

missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
if ! command -v prometheus >/dev/null 2>&1 && ! pkg_bin prometheus prometheus >/dev/null; then
    missing+=(prometheus)
fi
if [[ -z ${DATABASE_URL:-} ]] && ! find_pg_bin >/dev/null; then
    missing+=(postgresql)
fi
if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
fi
resolve_bin PROMETHEUS_BIN prometheus prometheus

# ------------------------------------------------------ processes, cleanup --

work=$(mktemp -d "${TMPDIR:-/tmp}/burnrate-quickstart.XXXXXX")
chmod 755 "$work"
pids=()   # every background process started here
names=()  # and its name, for messages and log files

interrupted=0

cleanup() {
    local rc=$? i pid
    trap '' INT TERM
    if [[ $interrupted -eq 1 ]]; then
        printf '\n' >&2
        log "stopping ${names[*]:-nothing}"
    fi
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "${names[$i]} (pid $pid) ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    pg_stop_throwaway
    if [[ ${KEEP_DATA:-0} == 1 ]]; then
        log "kept logs and data in $work"
    else
        rm -rf "$work"
    fi
    if [[ $interrupted -eq 1 ]]; then
        log "stopped everything$([[ ${KEEP_DATA:-0} == 1 ]] || echo " and removed $work")"
        rc=0
    fi
    exit "$rc"
}
trap cleanup EXIT
# Ctrl-C or a TERM is how people stop the demo: a clean stop, not a failure.
trap 'interrupted=1; exit 130' INT
trap 'interrupted=1; exit 143' TERM

# start NAME COMMAND...: runs COMMAND in the background, output to
# $work/NAME.log, in a session of its own: the terminal's Ctrl-C goes to this
# script only, and cleanup stops the processes (burnrate would otherwise see
# the SIGINT first, exit, and look like a crash).
start() {
    local name=$1
    shift
    setsid "$@" </dev/null >"$work/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name")
}

# await NAME TIMEOUT_SECS COMMAND...: waits until COMMAND succeeds while the
# process NAME (the last started) is alive; shows its log on failure.
await() {
    local name=$1 timeout=$2 pid=${pids[-1]} deadline
    shift 2
    deadline=$((SECONDS + timeout))
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
            tail -n 30 "$work/$name.log" >&2 || true
            kill -0 "$pid" 2>/dev/null && die "$name did not become ready within ${timeout}s (log above: $work/$name.log)"
            die "$name exited (log above: $work/$name.log)"
        fi
        sleep 0.2
    done
}

# demo_is_up: Prometheus has scraped the demo workload successfully (up == 1).
demo_is_up() {
    curl -fsS --get --data-urlencode 'query=up{job="demo"}' \
        "http://127.0.0.1:$prom_port/api/v1/query" | grep -q '"value":\[[^],]*,"1"\]'
}

log "logs of every process go to $work"

# ------------------------------------------------------------------- build --

log "cargo build --release --bins"
cargo build --release --bins

# -------------------------------------------------------------- PostgreSQL --

if [[ -n ${DATABASE_URL:-} ]]; then
    log "using DATABASE_URL from the environment"
else
    pg_start_throwaway "$work/postgres"
    log "throwaway PostgreSQL at $DATABASE_URL"
fi

# ------------------------------------------------- demo workload, Prometheus --

demo_port=$(free_port)
start demo_workload "$release_dir/demo_workload" --listen "127.0.0.1:$demo_port"
await demo_workload 30 curl -fsS -o /dev/null "http://127.0.0.1:$demo_port/metrics"
log "demo workload serving http://127.0.0.1:$demo_port/metrics"

prom_port=$(free_port)
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 5s
  evaluation_interval: 5s
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ['127.0.0.1:$demo_port']
EOF
start prometheus "$PROMETHEUS_BIN" --config.file="$work/prometheus.yml" \
    --storage.tsdb.path="$work/prometheus-data" \
    --web.listen-address="127.0.0.1:$prom_port" \
    --storage.tsdb.retention.time=60d
await prometheus 60 curl -fsS -o /dev/null "http://127.0.0.1:$prom_port/-/ready"
log "Prometheus ready at http://127.0.0.1:$prom_port; waiting for its first scrape of the demo"
await prometheus 60 demo_is_up
log "Prometheus scrapes the demo workload (up == 1)"

# ---------------------------------------------------------------- burnrate --

if ! "$burnrate_bin" serve --help >/dev/null 2>&1; then
    cat >&2 <<EOF

$SCRIPT_NAME: '$burnrate_bin serve' does not exist in this build
('$burnrate_bin serve --help' fails), so burnrate cannot be started.
Everything else was up:
  Prometheus:    http://127.0.0.1:$prom_port
  demo metrics:  http://127.0.0.1:$demo_port/metrics
  PostgreSQL:    $DATABASE_URL
Stopping them now.
EOF
    exit 2
fi

# NO_COLOR: plain text in the log file.
start burnrate env NO_COLOR=1 "$burnrate_bin" serve --catalog "$repo_root/slo-definitions" \
    --prometheus-url "http://127.0.0.1:$prom_port" \
    --database-url "$DATABASE_URL" \
    --listen "127.0.0.1:$burnrate_port"
# Any HTTP answer means it listens; it may still be loading history.
await burnrate 120 curl -sS -o /dev/null "http://127.0.0.1:$burnrate_port/"

cat <<EOF

burnrate is running on the example catalog (slo-definitions/), fed by simulated
traffic with an incident every few minutes.

  burnrate UI      http://127.0.0.1:$burnrate_port/
  burnrate API     http://127.0.0.1:$burnrate_port/api/v1/slos
                   http://127.0.0.1:$burnrate_port/api/v1/slos/checkout/availability
                   http://127.0.0.1:$burnrate_port/readyz
  Prometheus UI    http://127.0.0.1:$prom_port/graph
  demo metrics     http://127.0.0.1:$demo_port/metrics
  PostgreSQL       $DATABASE_URL
  logs             $work/{burnrate,prometheus,demo_workload}.log$([[ -n $PG_DIR ]] && echo " $PG_DIR/server.log")
                   (incidents: tail -f $work/demo_workload.log)

Press Ctrl-C to stop everything$([[ ${KEEP_DATA:-0} == 1 ]] && echo " (KEEP_DATA=1: $work is kept)" || echo " and remove $work").

Open the web UI: http://127.0.0.1:$burnrate_port/
EOF

# ------------------------------------------------------------- foreground --

wait -n "${pids[@]}" || true
for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        tail -n 30 "$work/${names[$i]}.log" >&2 || true
        die "${names[$i]} exited unexpectedly (log above); stopping the rest"
    fi
done
die "a child process exited unexpectedly; stopping the rest"
