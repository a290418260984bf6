#!/usr/bin/env bash
# Runs the web UI's first-paint benchmark (benches/ui.rs) with real servers
# and a real browser:
#
#   benches/ui.sh                        # 1,000 SLOs, 5 runs
#   BENCH_SLOS=200 BENCH_RUNS=3 benches/ui.sh
#   DATABASE_URL=postgres://... benches/ui.sh
#
# Like scripts/test.sh: installs prometheus, chromium and chromium-driver
# (and postgresql) with apt-get when missing, uses DATABASE_URL when set and
# otherwise starts a throwaway PostgreSQL cluster that is removed on exit,
# exports PROMETHEUS_BIN, CHROMIUM_BIN and CHROMEDRIVER_BIN, then runs
# `cargo bench --bench ui` (which builds the release burnrate binary the
# benchmark runs).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
SCRIPT_NAME=benches/ui.sh
# shellcheck source=../scripts/lib/services.sh
source "$repo_root/scripts/lib/services.sh"

missing=()
for pkg in chromium chromium-driver; do
    pkg_installed "$pkg" || missing+=("$pkg")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    apt_install "${missing[@]}"
fi
resolve_bin CHROMIUM_BIN chromium chromium
resolve_bin CHROMEDRIVER_BIN chromium-driver chromedriver
export CHROMIUM_BIN CHROMEDRIVER_BIN
bench_servers burnrate-bench-pg
cargo bench --bench ui
