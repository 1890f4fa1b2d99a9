#!/usr/bin/env bash
# uarda plot: the three pictures (hist, log, attention) from a tiny trained model, in PNG and
# SVG, what they say (--texts) for a SCAN and a UARDA model, and the command line's errors.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$B" plot --help >/dev/null || fail "--help"
"$B" plot --help | grep -q "attention" || fail "--help does not list the pictures"

# without cairo the command must fail with a clear message; nothing else can be checked
msg=$("$B" plot log --log /dev/null --output "$T/x.png" 2>&1 || true)
if grep -q "without cairo" <<<"$msg"; then
    echo "uarda was built without cairo: skipping the pictures"
    exit 0
fi

"$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
"$B" train --data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 16 --word-dim 8 \
    --batch-size 32 --num-epochs 1 --val-step 0 --model-name "$T/run" --logger-name "$T/run" --quiet 2>/dev/null
C="$T/run/model_best.safetensors"
[ -s "$C" ] || fail "no checkpoint"

png_size() { od -An -tu1 -j16 -N8 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4 "x" $5*16777216+$6*65536+$7*256+$8}'; }
is_png() { [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "$1 is not a PNG"; }

"$B" plot hist --checkpoint "$C" --output "$T/hist.png" >/dev/null || fail "hist"
is_png "$T/hist.png"
[ "$(png_size "$T/hist.png")" = "1200x750" ] || fail "hist size $(png_size "$T/hist.png")"
"$B" plot hist --checkpoint "$C" --data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" \
    --split test --max-captions 20 --by grounding --output "$T/pics/hist.svg" >/dev/null || fail "hist --by grounding"
grep -q "<svg" "$T/pics/hist.svg" || fail "hist.svg is not an SVG"
"$B" plot log --log "$T/run/train.jsonl" --output "$T/log.png" >/dev/null || fail "log"
is_png "$T/log.png"
"$B" plot attention --checkpoint "$C" --split test --caption 3 --output "$T/attention.png" >/dev/null || fail "attention"
is_png "$T/attention.png"

# what the pictures say (--texts): a SCAN model (C) has no UARDA threshold anywhere, and no word of
# it is hatched as irrelevant (its checkpoint holds a never-updated relevance state, which once
# labelled its plots with t_tr / t_te); a fixed-threshold UARDA model has both lines at its t
"$B" plot hist --checkpoint "$C" --output "$T/scan.png" --texts "$T/scan_hist.json" >/dev/null || fail "hist --texts"
grep -q '"t = 0: SCAN' "$T/scan_hist.json" || fail "SCAN hist: no t = 0 line: $(cat "$T/scan_hist.json")"
! grep -Eq 't_tr|t_te|UARDA' "$T/scan_hist.json" || fail "SCAN hist carries UARDA labels: $(cat "$T/scan_hist.json")"
"$B" plot attention --checkpoint "$C" --split test --caption 3 --output "$T/scan_att.svg" --texts "$T/scan_att.json" \
    >/dev/null || fail "attention --texts"
grep -q '"picture":"attention"' "$T/scan_att.json" && grep -q '"rows_off":0' "$T/scan_att.json" ||
    fail "SCAN attention: words hatched: $(cat "$T/scan_att.json")"
! grep -Eq 't_te|UARDA|irrelevant' "$T/scan_att.json" || fail "SCAN attention carries UARDA labels: $(cat "$T/scan_att.json")"
"$B" train --data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 16 --word-dim 8 \
    --batch-size 32 --num-epochs 1 --val-step 0 --clip uarda --mask hard --irr zero --t-est naaf_compat --t-test safe --t-mode fixed --t-fixed 0.99 --model-name "$T/uarda" \
    --logger-name "$T/uarda" --quiet 2>/dev/null
U="$T/uarda/model_best.safetensors"
"$B" plot hist --checkpoint "$U" --output "$T/u.png" --texts "$T/u_hist.json" >/dev/null || fail "UARDA hist"
grep -q '"t_tr = 0.990 (training threshold)"' "$T/u_hist.json" && grep -q '"t_te = 0.990 (test threshold)"' "$T/u_hist.json" ||
    fail "UARDA hist thresholds: $(cat "$T/u_hist.json")"
"$B" plot attention --checkpoint "$U" --split test --caption 3 --output "$T/u_att.png" --texts "$T/u_att.json" >/dev/null ||
    fail "UARDA attention"
grep -q '"irrelevant word: max similarity ≤ t_te = 0.990"' "$T/u_att.json" && ! grep -q '"rows_off":0' "$T/u_att.json" ||
    fail "UARDA attention at t = 0.99: no word hatched: $(cat "$T/u_att.json")"

# a log with relevance lines gets the second panel (a taller picture)
{
    echo '{"event":"train","epoch":0,"iter":5,"loss":1.0}'
    for e in 0 1 2; do
        echo "{\"event\":\"relevance\",\"epoch\":$e,\"iter\":$((e * 10 + 10)),\"t_tr\":0.4$e,\"t_te\":0.2$e,\"mu_pos\":0.6,\"sigma_pos\":0.1,\"mu_neg\":0.2,\"sigma_neg\":0.1}"
        echo "{\"event\":\"val\",\"epoch\":$e,\"iter\":$((e * 10 + 10)),\"rsum\":$((100 + e * 20))}"
    done
    printf '{"event":"val","epo'   # a line still being written is ignored
} > "$T/log2.jsonl"
"$B" plot log --log "$T/log2.jsonl" --output "$T/log2.png" | grep -q "3 validation points, 3 relevance points" || fail "log2"
[ "$(png_size "$T/log2.png")" = "1200x975" ] || fail "two-panel log size $(png_size "$T/log2.png")"

# errors: one line, non-zero exit
set +e
msg=$("$B" plot hist --checkpoint "$C" --output "$T/hist.pdf" 2>&1); st=$?
[ $st -eq 2 ] && grep -q "unknown picture format" <<<"$msg" && [ "$(wc -l <<<"$msg")" -eq 1 ] || fail "bad extension: $st $msg"
[ -e "$T/hist.pdf" ] && fail "a .pdf was written"
msg=$("$B" plot scatter --output "$T/a.png" 2>&1); st=$?
[ $st -eq 2 ] && grep -q "hist, log or attention" <<<"$msg" || fail "unknown picture: $st $msg"
msg=$("$B" plot hist --output "$T/a.png" 2>&1); st=$?
[ $st -eq 2 ] && grep -q "checkpoint is required" <<<"$msg" || fail "no checkpoint: $st $msg"
msg=$("$B" plot log --output "$T/a.png" 2>&1); st=$?
[ $st -eq 2 ] && grep -q "\-\-log is required" <<<"$msg" || fail "no log: $st $msg"
echo 'not json' > "$T/bad.jsonl"
msg=$("$B" plot log --log "$T/bad.jsonl" --output "$T/a.png" 2>&1); st=$?
[ $st -eq 1 ] && grep -q "bad.jsonl:1: not a JSON object" <<<"$msg" || fail "bad log: $st $msg"
echo '{"event":"train"}' > "$T/empty.jsonl"
msg=$("$B" plot log --log "$T/empty.jsonl" --output "$T/a.png" 2>&1); st=$?
[ $st -eq 1 ] && grep -q "no \"val\" or \"relevance\" lines" <<<"$msg" || fail "empty log: $st $msg"
msg=$("$B" plot attention --checkpoint "$C" --split test --caption 100000 --output "$T/a.png" 2>&1); st=$?
[ $st -eq 1 ] && grep -q "out of range" <<<"$msg" || fail "caption out of range: $st $msg"
rm "$T/data/synth_tiny_precomp/dev_caps_grounding.txt"
msg=$("$B" plot hist --checkpoint "$C" --by grounding --output "$T/a.png" 2>&1); st=$?
[ $st -eq 1 ] && grep -q "dev_caps_grounding.txt, which does not exist" <<<"$msg" || fail "no grounding file: $st $msg"
echo "plot: OK"
