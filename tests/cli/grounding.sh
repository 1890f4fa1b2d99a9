#!/usr/bin/env bash
# uarda eval --grounding: agreement of a fixed-threshold UARDA model's relevance judgements on
# matched pairs with the generator's grounding files (tiny preset, one epoch), in text and JSON,
# and a one-line error when the grounding file is missing.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

"$B" eval --help | grep -q -- "--grounding" || fail "--help does not list --grounding"

"$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
"$B" train --data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 16 --word-dim 8 \
    --batch-size 32 --num-epochs 1 --val-step 0 --clip uarda --mask hard --irr zero --t-est naaf_compat --t-test safe --t-mode fixed --t-fixed 0.3 \
    --model-name "$T/run" --logger-name "$T/run" --quiet 2>/dev/null
C="$T/run/model_best.safetensors"
[ -s "$C" ] || fail "no checkpoint"

out=$("$B" eval --checkpoint "$C" --split test --grounding) || fail "eval --grounding exited $?"
line=$(grep "^grounding" <<<"$out") || fail "no grounding line: $out"
grep -Eq "t = 0\.3000\): [0-9.]+% of grounded words relevant \([0-9]+ of [1-9][0-9]*\), [0-9.]+% of ungrounded words irrelevant \([0-9]+ of [1-9][0-9]*\)" <<<"$line" \
    || fail "grounding line: $line"

# JSON: the counts add up to the words of the split's captions (without <start>/<end>), and the
# percentages are the counts' ratios
"$B" eval --checkpoint "$C" --split test --grounding --json > "$T/e.json" || fail "eval --grounding --json"
/usr/bin/python3 - "$T/e.json" "$T/data/synth_tiny_precomp/test_caps_grounding.txt" <<'EOF' || fail "grounding JSON"
import json, sys
j = json.load(open(sys.argv[1]))
g = j["grounding"]
u = j["uarda"]
# the skip comparison times SCAN's own similarity on the same embeddings too
assert u["similarity_seconds_scan"] > 0 and u["max_abs_score_difference"] == 0, u
flags = open(sys.argv[2]).read().split()
assert abs(g["threshold"] - 0.3) < 1e-12, g
assert g["grounded_words"] == flags.count("1"), (g, flags.count("1"))
assert g["ungrounded_words"] == flags.count("0"), (g, flags.count("0"))
assert 0 <= g["grounded_relevant"] <= g["grounded_words"] and 0 <= g["ungrounded_irrelevant"] <= g["ungrounded_words"]
assert abs(g["grounded_relevant_percent"] - 100.0 * g["grounded_relevant"] / g["grounded_words"]) < 1e-9
assert abs(g["ungrounded_irrelevant_percent"] - 100.0 * g["ungrounded_irrelevant"] / g["ungrounded_words"]) < 1e-9
assert "uarda" in j and abs(j["uarda"]["threshold"] - 0.3) < 1e-12
EOF

# another threshold at test (--t-fixed / --t-test): the line says which t it judged with
out=$("$B" eval --checkpoint "$C" --split test --grounding --t-fixed 0.5) || fail "eval --t-fixed exited $?"
grep -q "^grounding (matched pairs, t = 0\.5000)" <<<"$out" || fail "--t-fixed 0.5 not used: $out"
# the skip line compares each time as "N% less" or "N% more", never "-N% less" (the times of
# this tiny split are too short to check the word against them)
grep -qE "without \([0-9]+% (less|more)\) and .* embeddings \([0-9]+% (less|more)\)" <<<"$out" ||
    fail "skip line's comparisons: $out"
# --repeats: each of the three timed similarity runs that many times (rotated), the medians
# reported, and every skip-on matrix still the same bits as skip off's
"$B" eval --checkpoint "$C" --split test --repeats 3 --json > "$T/r.json" || fail "eval --repeats 3"
/usr/bin/python3 - "$T/r.json" <<'EOF' || fail "--repeats JSON"
import json, sys
u = json.load(open(sys.argv[1]))["uarda"]
assert u["timing_repeats"] == 3 and u["max_abs_score_difference"] == 0, u
assert min(u["similarity_seconds_skip_off"], u["similarity_seconds_skip_on"], u["similarity_seconds_scan"]) > 0, u
EOF
out=$("$B" eval --checkpoint "$C" --split test --repeats 2) || fail "eval --repeats 2 exited $?"
grep -q "SCAN's own similarity on the same embeddings ([0-9]*% [a-z]*), medians of the repeats; max |score difference| 0$" \
    <<<"$out" || fail "--repeats 2 text: $out"
set +e
msg=$("$B" eval --checkpoint "$C" --split test --repeats 0 2>&1); st=$?
set -e
[ $st -eq 2 ] && grep -q -- "--repeats" <<<"$msg" || fail "--repeats 0: $st $msg"
# a negative value is a value too (it was once taken for "not given")
out=$("$B" eval --checkpoint "$C" --split test --grounding --t-fixed -0.5) || fail "eval --t-fixed -0.5 exited $?"
grep -q "^grounding (matched pairs, t = -0\.5000)" <<<"$out" || fail "--t-fixed -0.5 not used: $out"
set +e
msg=$("$B" eval --checkpoint "$C" --split test --t-test fixed 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q -- "--t-test fixed needs --t-fixed X" <<<"$msg" || fail "--t-test fixed alone: $st $msg"
"$B" train --data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 16 --word-dim 8 \
    --batch-size 32 --num-epochs 1 --val-step 0 --max-steps 1 --model-name "$T/scan" --logger-name "$T/scan" --quiet 2>/dev/null
set +e
msg=$("$B" eval --checkpoint "$C" --split test --t-test train 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "trained with --t-mode fixed: it learned no t_tr or t_te" <<<"$msg" || fail "--t-test train on a fixed-t checkpoint: $st $msg"
set +e
msg=$("$B" eval --checkpoint "$T/scan/checkpoint.safetensors" --split test --t-test train 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "is a SCAN model" <<<"$msg" || fail "--t-test on a SCAN checkpoint: $st $msg"

# without --grounding nothing about it is printed
"$B" eval --checkpoint "$C" --split test | grep -q "^grounding" && fail "grounding line without --grounding"

# a missing grounding file: exit 1, one line naming it
rm "$T/data/synth_tiny_precomp/test_caps_grounding.txt"
set +e
msg=$("$B" eval --checkpoint "$C" --split test --grounding 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "test_caps_grounding.txt, which does not exist" <<<"$msg" && [ "$(wc -l <<<"$msg")" -eq 1 ] \
    || fail "no grounding file: $st $msg"

# a malformed one: exit 1, one line naming the line
printf '1 0 x\n' > "$T/data/synth_tiny_precomp/test_caps_grounding.txt"
set +e
msg=$("$B" eval --checkpoint "$C" --split test --grounding 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "test_caps_grounding.txt:1:" <<<"$msg" && [ "$(wc -l <<<"$msg")" -eq 1 ] \
    || fail "bad grounding file: $st $msg"
echo "grounding: OK"
