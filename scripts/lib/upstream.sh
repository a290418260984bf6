# shellcheck shell=bash
# The upstream fixture files (tests/upstream.toml): finding them, checking
# them, and naming the tests that need them (`upstream_*`).
#
# Source it after scripts/lib/services.sh (it uses log and die), from a script
# running under `set -euo pipefail` with $repo_root set. It only defines
# functions and the UPSTREAM_* globals below; nothing runs by itself.
#
# Where the files come from, first found wins:
#   1. $BURNRATE_UPSTREAM_FIXTURES, when set;
#   2. ../shared/fixtures/external beside the checkout, when present;
#   3. target/upstream-fixtures/, filled by downloading each manifest entry at
#      its pinned commit from $BURNRATE_UPSTREAM_BASE_URL (default
#      https://raw.githubusercontent.com).
# Every file is checked against its sha256 in all three cases; a mismatch or
# a missing file in 1 or 2 is fatal and names the file. Only a failed download
# makes the fixtures "unavailable".

UPSTREAM_MANIFEST=tests/upstream.toml
# The test-name prefix of the tests that read upstream files, as a nextest
# filterset; cargo test skips by substring (`--skip upstream_`), which is why
# no other test name may contain `upstream_` (upstream_tests checks that).
UPSTREAM_FILTERSET='test(/(^|::)upstream_/)'
UPSTREAM_DIR=""         # the verified directory, when available
UPSTREAM_SOURCE=""      # how it was found
UPSTREAM_UNAVAILABLE="" # why not, when not

# upstream_entries: the manifest as lines of
# `local<TAB>repository<TAB>commit<TAB>path<TAB>sha256`, checked: only
# [[file]] tables of the five string keys, each present once, local names
# relative and without `..`, hashes of 64 lowercase hex digits.
upstream_entries() {
    local manifest=$repo_root/$UPSTREAM_MANIFEST
    [[ -f $manifest ]] || die "$UPSTREAM_MANIFEST is missing"
    awk -v file="$UPSTREAM_MANIFEST" '
        function fail(msg) { printf "%s:%d: %s\n", file, NR, msg > "/dev/stderr"; bad = 1; exit 1 }
        function flush(   k) {
            if (!open) return
            for (k in want) if (!(k in v)) { NR = start; fail("[[file]] without `" k "`") }
            if (v["local"] ~ /^\// || v["local"] ~ /(^|\/)\.\.(\/|$)/) { NR = start; fail("`local` must be a relative path without ..") }
            if (length(v["sha256"]) != 64 || v["sha256"] ~ /[^0-9a-f]/) { NR = start; fail("`sha256` must be 64 lowercase hex digits") }
            if (v["local"] in seen) { NR = start; fail("`" v["local"] "` is listed twice") }
            seen[v["local"]] = 1
            count++
            print v["local"] "\t" v["repository"] "\t" v["commit"] "\t" v["path"] "\t" v["sha256"]
            delete v
        }
        BEGIN { split("local repository commit path sha256", ks, " "); for (i in ks) want[ks[i]] = 1 }
        /^[ \t]*(#.*)?$/ { next }
        /^\[\[file\]\][ \t]*$/ { flush(); open = 1; start = NR; next }
        /^[a-z0-9]+ = "[^"\\]*"[ \t]*$/ {
            if (!open) fail("a key outside [[file]]")
            k = $1
            if (!(k in want)) fail("unknown key `" k "`")
            if (k in v) fail("`" k "` given twice")
            s = $0; sub(/^[a-z0-9]+ = "/, "", s); sub(/"[ \t]*$/, "", s)
            v[k] = s
            next
        }
        { fail("not a [[file]] header, a `key = \"value\"` line or a comment") }
        END { if (bad) exit 1; flush(); if (!bad && !count) fail("no [[file]] entries") }
    ' "$manifest" || die "$UPSTREAM_MANIFEST is not in the expected form"
}

# upstream_verify DIR WHAT: every manifest file is in DIR with its sha256;
# dies naming the first file that is missing or differs.
upstream_verify() {
    local dir=$1 what=$2 local_name repo commit path sum actual entries
    entries=$(upstream_entries) || exit 1
    while IFS=$'\t' read -r local_name repo commit path sum; do
        [[ -f $dir/$local_name ]] ||
            die "upstream fixture $local_name is missing from $dir ($what); it is $repo at $commit, $path"
        actual=$(sha256sum "$dir/$local_name" | cut -d' ' -f1)
        [[ $actual == "$sum" ]] ||
            die "upstream fixture $local_name in $dir ($what) fails its checksum: sha256 $actual, $UPSTREAM_MANIFEST pins $sum ($repo at $commit, $path); upstream files must not be edited"
    done <<<"$entries"
}

# upstream_download DIR: fills DIR with every manifest file not yet there, each
# downloaded at its pinned commit and checked before it is moved into place.
# Returns 1 (setting UPSTREAM_UNAVAILABLE) at the first download that fails;
# dies if a downloaded file differs from its sha256.
upstream_download() {
    local dir=$1 base=${BURNRATE_UPSTREAM_BASE_URL:-https://raw.githubusercontent.com}
    local local_name repo commit path sum url part err entries
    command -v curl >/dev/null 2>&1 || {
        UPSTREAM_UNAVAILABLE="curl is not installed, so they cannot be downloaded"
        return 1
    }
    entries=$(upstream_entries) || exit 1
    while IFS=$'\t' read -r local_name repo commit path sum; do
        [[ -f $dir/$local_name ]] && continue
        [[ $repo == github.com/* ]] || die "$UPSTREAM_MANIFEST: $local_name: only github.com repositories can be downloaded, not $repo"
        url="${base%/}/${repo#github.com/}/$commit/$path"
        mkdir -p "$dir"
        part="$dir/.download.part"
        if ! err=$(curl -fsSL --connect-timeout 5 --max-time 30 -o "$part" "$url" 2>&1); then
            rm -f "$part"
            rmdir "$dir" 2>/dev/null || true
            UPSTREAM_UNAVAILABLE="downloading $local_name from $url failed: ${err:-curl failed}"
            return 1
        fi
        actual=$(sha256sum "$part" | cut -d' ' -f1)
        if [[ $actual != "$sum" ]]; then
            rm -f "$part"
            die "upstream fixture $local_name downloaded from $url fails its checksum: sha256 $actual, $UPSTREAM_MANIFEST pins $sum"
        fi
        mkdir -p "$(dirname "$dir/$local_name")"
        mv "$part" "$dir/$local_name"
    done <<<"$entries"
}

# upstream_resolve: sets UPSTREAM_DIR and UPSTREAM_SOURCE to verified fixtures,
# or UPSTREAM_UNAVAILABLE to the reason there are none. Dies on a checksum
# mismatch or on a missing file where the files were said to be.
upstream_resolve() {
    local sibling cache
    sibling="$(dirname "$repo_root")/shared/fixtures/external"
    cache="$repo_root/target/upstream-fixtures"
    if [[ -n ${BURNRATE_UPSTREAM_FIXTURES:-} ]]; then
        UPSTREAM_DIR=$BURNRATE_UPSTREAM_FIXTURES
        UPSTREAM_SOURCE="BURNRATE_UPSTREAM_FIXTURES"
    elif [[ -d $sibling ]]; then
        UPSTREAM_DIR=$sibling
        UPSTREAM_SOURCE="../shared/fixtures/external beside the checkout"
    else
        if ! upstream_download "$cache"; then
            UPSTREAM_DIR=""
            return 0
        fi
        UPSTREAM_DIR=$cache
        UPSTREAM_SOURCE="downloaded at the pinned commits into target/upstream-fixtures"
    fi
    upstream_verify "$UPSTREAM_DIR" "$UPSTREAM_SOURCE"
    UPSTREAM_DIR="$(cd "$UPSTREAM_DIR" && pwd)"
}

# upstream_tests RUNNER_ARG...: the upstream tests the runner arguments select,
# one `area: module::name` per line, read from the test sources: functions
# named upstream_* right under a #[test] attribute, in the areas named by
# `--test NAME` (all areas when none is), matching one of the bare name
# filters, if any, as a substring (as both runners do).
upstream_tests() {
    local areas=() filters=() arg prev="" f area rel module name
    for arg in "$@"; do
        [[ $arg == -- ]] && break
        if [[ $prev == --test ]]; then
            areas+=("$arg")
        elif [[ $arg != -* && ! $prev =~ ^(-E|--filterset|-p|--package|-j|--jobs|-F|--features|-P|--profile|--bin|--example|--bench|--target|--manifest-path|--partition)$ ]]; then
            filters+=("$arg")
        fi
        prev=$arg
    done
    if [[ ${#areas[@]} -eq 0 ]]; then
        for f in "$repo_root"/tests/*/main.rs; do
            [[ -f $f ]] || continue
            area=${f%/main.rs}
            areas+=("${area##*/}")
        done
    fi
    for area in "${areas[@]}"; do
        [[ -d $repo_root/tests/$area ]] || continue
        while IFS= read -r f; do
            rel=${f#"$repo_root/tests/$area/"}
            rel=${rel%.rs}
            rel=${rel%/mod}
            module=${rel//\//::}
            [[ $module == main ]] && module="" || module="$module::"
            while IFS= read -r name; do
                if [[ $name != upstream_* ]]; then
                    die "test $area: $module$name has \`upstream_\` inside its name; only tests that read upstream fixtures may, and at the start (the runners skip them by that)"
                fi
                if [[ ${#filters[@]} -gt 0 ]]; then
                    local hit=0 filter
                    for filter in "${filters[@]}"; do
                        [[ $module$name == *"$filter"* ]] && hit=1
                    done
                    [[ $hit -eq 1 ]] || continue
                fi
                printf '%s: %s%s\n' "$area" "$module" "$name"
            done < <(awk '
                /^[ \t]*#\[([a-z_]+::)?test(\(.*\))?\][ \t]*$/ { t = 1; next }
                t && /^[ \t]*#\[/ { next }
                t { if (match($0, /fn [a-z0-9_]*upstream_[a-z0-9_]*/)) print substr($0, RSTART + 3, RLENGTH - 3); t = 0 }
            ' "$f")
        done < <(find "$repo_root/tests/$area" -name '*.rs' | sort)
    done
}

# upstream_skip_report TESTS [NOTE]: the loud closing report of a run that
# skipped TESTS (the lines upstream_tests printed); NOTE is added at the end.
upstream_skip_report() {
    local n
    n=$(grep -c . <<<"$1" || true)
    {
        printf '\n'
        printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
        printf '!! %s upstream-fixture tests skipped: fixtures unavailable\n' "$n"
        printf '!! why: %s\n' "$UPSTREAM_UNAVAILABLE"
        printf '!! not run:\n'
        sed 's/^/!!   /' <<<"$1"
        printf '!! To run them, set BURNRATE_UPSTREAM_FIXTURES to a directory holding the\n'
        printf '!! files of %s, or give this machine access to\n' "$UPSTREAM_MANIFEST"
        printf '!! raw.githubusercontent.com so that scripts/test.sh downloads them.\n'
        printf '!! CI=true never skips them.\n'
        [[ -z ${2:-} ]] || printf '!! %s\n' "$2"
        printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
    } >&2
}
