#!/usr/bin/env bash
# Measures what one more query costs Prometheus in returned series, the
# break-even behind SERIES_PER_QUERY in src/ingest/fanin.rs
# (benches/fanin_threshold.rs):
#
#   bash benches/fanin_threshold.sh
#   BENCH_SERIES=40000 BENCH_ROUNDS=5 bash benches/fanin_threshold.sh
#
# Installs prometheus with apt-get when missing (like scripts/test.sh) and
# runs `cargo bench --bench fanin_threshold` (the shared bench setup also
# provides a PostgreSQL, which this benchmark does not use).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
SCRIPT_NAME=benches/fanin_threshold.sh
# shellcheck source=../scripts/lib/services.sh
source "$repo_root/scripts/lib/services.sh"

bench_servers burnrate-bench-pg
cargo bench --bench fanin_threshold
