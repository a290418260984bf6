#!/usr/bin/env bash
# Runs the ingestion-cost benchmark (benches/ingest_cost.rs) with real servers:
#
#   benches/ingest_cost.sh                      # 1,000 SLOs, 30 days, 60 s scrapes
#   BENCH_SLOS=200 benches/ingest_cost.sh       # smaller; see the knobs in the .rs file
#   BENCH_SHAPE=shared benches/ingest_cost.sh   # 1,000 SLOs on 20 services x 25 routes, shared metrics
#   BENCH_SHAPE=shared BENCH_SLOS=10000 BENCH_DAYS=3 BENCH_PROMQL_SLOS=1000 benches/ingest_cost.sh
#   DATABASE_URL=postgres://... benches/ingest_cost.sh
#   BENCH_FEATURES=system-allocator benches/ingest_cost.sh   # glibc malloc, not mimalloc
#
# Like scripts/test.sh: installs prometheus (for prometheus and promtool) and
# postgresql with apt-get when missing, uses DATABASE_URL when set and
# otherwise starts a throwaway PostgreSQL cluster (fsync off) that is removed
# on exit, exports PROMETHEUS_BIN and PROMTOOL_BIN, then runs
# `cargo bench --bench ingest_cost` (which builds the release burnrate binary
# the benchmark runs). Needs about 6 GB free in $TMPDIR while seeding.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
SCRIPT_NAME=benches/ingest_cost.sh
# shellcheck source=../scripts/lib/services.sh
source "$repo_root/scripts/lib/services.sh"

bench_servers burnrate-bench-pg
cargo bench --bench ingest_cost ${BENCH_FEATURES:+--features "$BENCH_FEATURES"}
