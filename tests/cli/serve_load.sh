#!/usr/bin/env bash
# The load client (bench/serve_load.sh) against uarda serve, briefly: 4 concurrent clients for
# 3 seconds, text queries with and without attention, and not one error; the server's memory
# after the run stays within a bound of before it (not under AddressSanitizer, whose quarantine
# holds freed memory). docs/benchmarks.md has the 30-second figures. Skipped (77) without
# libmicrohttpd.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
PID=""
trap '[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null; rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/lib/serve_common.sh"
serve_skip_without_mhd
serve_make_fixture
LOAD="$(dirname "$0")/../../bench/serve_load.sh"

serve_start load --index "$T/uarda.idx" --checkpoint "$UARDA" --threads 2 "${PICTURES[@]}"
for attention in 0 1; do
    out=$(bash "$LOAD" --url "$URL" --pid "$PID" --queries "$D/test_caps.txt" --clients 4 --seconds 3 --attention "$attention" --json)
    n=$(grep -o '"requests":[0-9]*' <<<"$out" | cut -d: -f2)
    errors=$(grep -o '"errors":[0-9]*' <<<"$out" | cut -d: -f2)
    [ -n "$n" ] && [ "$n" -ge 40 ] || fail "attention $attention: too few requests: $out"
    [ "$errors" = 0 ] || fail "attention $attention: $errors errors: $out"
    grep -q '"p50_ms":[0-9.]*,"p90_ms":[0-9.]*,"p99_ms":[0-9.]*' <<<"$out" || fail "no latencies: $out"
    if ! ldd "$B" 2>/dev/null | grep -q libasan; then
        before=$(grep -o '"rss_anon_kb_before":[0-9]*' <<<"$out" | cut -d: -f2)
        after=$(grep -o '"rss_anon_kb_after":[0-9]*' <<<"$out" | cut -d: -f2)
        [ $((after - before)) -lt 32768 ] || fail "the server's anonymous memory grew by $(((after - before) / 1024)) MB: $out"
    fi
    echo "attention $attention: $out"
done
get /api/health
[ "$STATUS" = 200 ] || fail "health after the load: $STATUS"
serve_stop
grep -q "uarda serve: [0-9]* on" "$T/load.err" && fail "server errors under load: $(cat "$T/load.err")"
echo "serve_load: OK"
