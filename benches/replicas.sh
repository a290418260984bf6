#!/usr/bin/env bash
# Runs the replica benchmark (benches/replicas.rs) with real servers:
#
#   benches/replicas.sh                                   # 1,000 SLOs, 3 replicas, 1m interval
#   BENCH_SLOS=200 BENCH_INTERVAL=10s benches/replicas.sh # smaller and faster
#   DATABASE_URL=postgres://... benches/replicas.sh
#
# Like scripts/test.sh: installs prometheus and postgresql with apt-get when
# missing, uses DATABASE_URL when set and otherwise starts a throwaway
# PostgreSQL cluster that is removed on exit, then runs
# `cargo bench --bench replicas` (release build of burnrate).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
SCRIPT_NAME=benches/replicas.sh
# shellcheck source=../scripts/lib/services.sh
source "$repo_root/scripts/lib/services.sh"

bench_servers burnrate-bench-pg
cargo bench --bench replicas
