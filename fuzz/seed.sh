#!/usr/bin/env bash
# Fills fuzz/corpus/ with seed inputs from the repository: the example
# catalog, the `burnrate check` fixtures, and the selectors and queries they
# use. Safe to run again.
set -euo pipefail
fuzz_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$fuzz_dir/.." && pwd)"
catalog="$fuzz_dir/corpus/catalog_load"
promql="$fuzz_dir/corpus/promql_selector"
mkdir -p "$catalog" "$promql"

# catalog_load reads its first byte as the choice of file name; 0 is x.yaml.
files=("$repo_root"/slo-definitions/*.yaml)
while IFS= read -r -d '' f; do files+=("$f"); done < <(
    find "$repo_root/tests/check-fixtures" -type f \( -name '*.yaml' -o -name '*.yml' \) -print0 2>/dev/null)
for f in "${files[@]}"; do
    name="$(printf '%s' "${f#"$repo_root"/}" | tr '/.' '__')"
    { printf '\0'; cat "$f"; } >"$catalog/$name"
done

# Selectors and queries: every quoted PromQL-looking value in those files,
# plus a few written out here.
i=0
{
    printf '%s\n' 'http_requests_total' \
        'http_requests_total{code=~"5..",job="api"}' \
        '{__name__="up", job!="x"}' \
        'x{a="q\"uote",b!~"x|y"}' \
        'sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))' \
        'sum(increase(x[{{.window}}])) / sum(rate(y[5m]))'
    grep -ohE '[a-z_:]+\{[^}]*\}(\[\{\{\.window\}\}\])?' "${files[@]}" 2>/dev/null || true
} | sort -u | while IFS= read -r line; do
    printf '%s' "$line" >"$promql/seed-$i"
    i=$((i + 1))
done
echo "seeded $(ls "$catalog" | wc -l) catalog files and $(ls "$promql" | wc -l) selectors"
