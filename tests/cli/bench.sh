#!/usr/bin/env bash
# uarda bench at tiny sizes: the output lines of train, eval (SCAN, and UARDA with skip on/off)
# and sgemm, --json, bad sizes, and --vs-torch without torch (it says the comparison is skipped
# and exits 0). Times are never checked. The comparison with torch itself is not run here.
set -euo pipefail
BIN=${UARDA_BIN:-build/uarda}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uarda-test-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

TINY=(--img-dim 32 --embed-size 16 --word-dim 8 --vocab-size 50 --batch-size 8 --images 10 --captions 50
      --repeats 1 --threads 2)
run() { "$BIN" bench "$@" >"$tmp/out" 2>"$tmp/err" || fail "bench $*: exit $?: $(cat "$tmp/err")"; }

run sgemm --threads 2
grep -Eq '^SGEMM peak \(2048\^3\): [0-9.]+ GFLOP/s$' "$tmp/out" || fail "sgemm: $(cat "$tmp/out")"

for dir in t2i i2t; do
    run train "${TINY[@]}" --cross-attn $dir
    grep -q '^SGEMM peak' "$tmp/out" || fail "train $dir: no SGEMM line"
    grep -Eq "^train $dir Mean batch 8, 36x32 -> 16, word_dim 8, mean length [0-9.]+: [0-9.]+ ms per batch \(median of 1\), [0-9.]+ GFLOP, [0-9.]+ GFLOP/s = [0-9]+% of the SGEMM peak, peak RSS [0-9]+ MB$" "$tmp/out" ||
        fail "train $dir: $(cat "$tmp/out")"
    run eval "${TINY[@]}" --cross-attn $dir
    grep -Eq "^eval $dir Mean 10 images x 50 captions: [0-9]+ ms \(median of 1\), [0-9]+ GFLOP, [0-9.]+ GFLOP/s = [0-9]+% of the SGEMM peak, peak RSS [0-9]+ MB$" "$tmp/out" ||
        fail "eval $dir: $(cat "$tmp/out")"
done

# UARDA: a fixed threshold, eval with and without skipping
run train "${TINY[@]}" --clip uarda --mask hard --irr zero --t-est naaf_compat --t-test safe --t-fixed 0.1
grep -Eq '^train t2i Mean uarda t=0.1 batch 8, .* ms per batch' "$tmp/out" || fail "train uarda: $(cat "$tmp/out")"
run eval "${TINY[@]}" --clip uarda --mask hard --irr zero --t-est naaf_compat --t-test safe --t-fixed 0.1 --skip both --cross-attn i2t
grep -Eq '^eval i2t Mean uarda t=0.1 skip off 10 images x 50 captions: .*% of queries irrelevant, .*% of entries masked$' "$tmp/out" ||
    fail "eval uarda skip off: $(cat "$tmp/out")"
grep -Eq '^eval i2t Mean uarda t=0.1 skip on 10 images x 50 captions: ' "$tmp/out" || fail "eval uarda skip on: $(cat "$tmp/out")"
[ "$(grep -c '^eval ' "$tmp/out")" -eq 2 ] || fail "--skip both: expected two eval lines"

# --json: one object per line
run eval "${TINY[@]}" --json
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "--json: expected 2 lines: $(cat "$tmp/out")"
grep -q '^{"bench":"sgemm","gflops":' "$tmp/out" || fail "--json: no sgemm object"
grep -q '^{"bench":"eval",.*"ms":.*"gflops":.*"peak_fraction":' "$tmp/out" || fail "--json: no eval object: $(cat "$tmp/out")"

# --vs-torch without torch: the comparison is skipped, uarda's own measurement still runs, exit 0
UARDA_PYTHON=/bin/false "$BIN" bench train "${TINY[@]}" --vs-torch >"$tmp/out" 2>"$tmp/err" ||
    fail "--vs-torch without torch exited $?: $(cat "$tmp/err")"
grep -q '^torch comparison skipped: /bin/false cannot import torch' "$tmp/out" || fail "no skip message: $(cat "$tmp/out")"
grep -q '^train t2i Mean batch 8' "$tmp/out" || fail "--vs-torch skipped: no train line"
UARDA_PYTHON=/bin/false "$BIN" bench eval "${TINY[@]}" --vs-torch --json >"$tmp/out" 2>"$tmp/err" ||
    fail "--vs-torch --json without torch exited $?"
grep -q '^{"bench":"torch","skipped":true,"reason":' "$tmp/out" || fail "--json: no skip object: $(cat "$tmp/out")"
# a missing tool is skipped the same way (when torch is there)
if UARDA_PYTHON=/bin/true UARDA_TOOLS="$tmp/none" "$BIN" bench sgemm --vs-torch >"$tmp/out" 2>&1; then :; else fail "sgemm --vs-torch"; fi
UARDA_PYTHON=/bin/true UARDA_TOOLS="$tmp/none" "$BIN" bench train "${TINY[@]}" --vs-torch >"$tmp/out" 2>"$tmp/err" ||
    fail "--vs-torch with a missing tool exited $?"
grep -q "^torch comparison skipped: $tmp/none/bench_torch.py not found" "$tmp/out" || fail "missing tool: $(cat "$tmp/out")"

# usage errors: one line, exit 2
for bad in "train --repeats 0" "eval --images 10 --captions 55" "eval --clip uarda --mask hard --irr zero --t-est naaf_compat --t-test safe --t-mode adaptive" "frobnicate" ""; do
    rc=0
    # shellcheck disable=SC2086
    "$BIN" bench $bad >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] || fail "bench $bad: exit $rc, expected 2"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "bench $bad: expected one line on stderr: $(cat "$tmp/err")"
done
echo "bench CLI: OK"
