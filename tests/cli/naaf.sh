#!/usr/bin/env bash
# NAAF's score from the command line: --model naaf as a training preset (flags given alongside
# win, the checkpoint records it), and any SCAN checkpoint scored and evaluated with NAAF's test
# form (--t-test fixed --t-fixed X) or its training form (--score-form train); the flags' errors.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
D="$T/data/synth_tiny_precomp"
common=(--data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 24 --word-dim 12
        --batch-size 32 --num-epochs 1 --val-step 0 --threads 2 --quiet)
"$B" train "${common[@]}" --model-name "$T/scan" --logger-name "$T/scan" 2>/dev/null
C="$T/scan/model_best.safetensors"
# the options a checkpoint records (the "opt" metadata in the safetensors header)
opt() { head -c 4000 "$1" | strings | tr -d '\\' | grep -o "\"$2\":[^,}]*" | head -1; }

# --model naaf: NAAF's recipe, with a flag given alongside winning over the preset
"$B" train "${common[@]}" --model naaf --learning-rate 1e-3 --model-name "$T/naaf" --logger-name "$T/naaf" 2>/dev/null
N="$T/naaf/checkpoint.safetensors"
[ "$(opt "$N" score)" = '"score":"naaf"' ] || fail "the checkpoint does not record NAAF's score: $(opt "$N" score)"
[ "$(opt "$N" model)" = '"model":"naaf"' ] || fail "model kind: $(opt "$N" model)"
[ "$(opt "$N" lambda_softmax)" = '"lambda_softmax":20' ] || fail "preset lambda: $(opt "$N" lambda_softmax)"
[ "$(opt "$N" lr_update)" = '"lr_update":10' ] || fail "preset lr_update: $(opt "$N" lr_update)"
[ "$(opt "$N" t_est)" = '"t_est":"naaf_compat"' ] || fail "preset t_est: $(opt "$N" t_est)"
[ "$(opt "$N" learning_rate)" = '"learning_rate":0.001' ] || fail "--learning-rate given with --model naaf lost: $(opt "$N" learning_rate)"
[ "$(opt "$N" num_epochs)" = '"num_epochs":1' ] || fail "--num-epochs given with --model naaf lost: $(opt "$N" num_epochs)"
[ "$(opt "$C" score)" = '"score":"scan"' ] || fail "a SCAN checkpoint's score: $(opt "$C" score)"
# a NAAF checkpoint evaluates (its own test form)
"$B" eval --checkpoint "$N" --split test | grep -q "^NAAF: test form at threshold" || fail "eval of a NAAF checkpoint"

# a SCAN checkpoint scored with NAAF's test form at X, its training form at X, and SCAN's
score() { "$B" score --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --threads 2 "$@" 2>/dev/null; }
score --output "$T/scan.npy"
score --model naaf --t-test fixed --t-fixed 0.5 --output "$T/test.npy"
score --model naaf --t-test fixed --t-fixed 0.5 --score-form train --output "$T/train.npy"
score --model naaf --t-test fixed --t-fixed 0.3 --output "$T/test03.npy"
score --model naaf --t-test fixed --t-fixed 0.5 --skip off --output "$T/test_noskip.npy"
score --model naaf --t-test fixed --t-fixed 0.5 --lambda-softmax 9 --output "$T/test_l9.npy"
cmp -s "$T/scan.npy" "$T/test.npy" && fail "--model naaf scored as SCAN"
cmp -s "$T/test.npy" "$T/train.npy" && fail "--score-form train scored as the test form"
cmp -s "$T/test.npy" "$T/test03.npy" && fail "--t-fixed had no effect"
cmp -s "$T/test.npy" "$T/test_l9.npy" && fail "--lambda-softmax given with --model naaf had no effect"
cmp -s "$T/test.npy" "$T/test_noskip.npy" || fail "--skip changes NAAF's scores"
head -c 100 "$T/test.npy" | grep -aq "'shape': (16, 80)" || fail "score output shape"

# eval takes the same flags
j=$("$B" eval --checkpoint "$C" --split test --json --model naaf --t-test fixed --t-fixed 0.5)
grep -Eq '"score":\s*"naaf"' <<<"$j" && grep -Eq '"score_form":\s*"test"' <<<"$j" && grep -Eq '"threshold":\s*0.5,' <<<"$j" \
    || fail "eval --model naaf: $j"
j=$("$B" eval --checkpoint "$C" --split test --json --model naaf --t-test fixed --t-fixed 0.5 --score-form train)
grep -Eq '"score_form":\s*"train"' <<<"$j" || fail "eval --score-form train: $j"
j=$("$B" eval --checkpoint "$C" --split test --json)
grep -Eq '"score":\s*"naaf"' <<<"$j" && fail "a SCAN checkpoint evaluated as NAAF without --model naaf"

# errors: one line, the right status
expect() {  # expect STATUS TEXT CMD...
    local want=$1 text=$2; shift 2
    set +e; msg=$("$@" 2>&1); st=$?; set -e
    [ $st -eq "$want" ] || fail "$*: status $st (want $want): $msg"
    grep -qF -- "$text" <<<"$msg" || fail "$*: message lacks '$text': $msg"
    [ "$(wc -l <<<"$msg")" -eq 1 ] || fail "$*: not one line: $msg"
}
S=(score --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/x.npy")
expect 2 "--score-form applies to NAAF's score" "$B" "${S[@]}" --score-form train
expect 2 "must be one of test|train" "$B" "${S[@]}" --model naaf --score-form eval
expect 2 "must be one of scan|naaf" "$B" "${S[@]}" --model uarda
expect 2 "agg_func must be Mean" "$B" "${S[@]}" --model naaf --agg-func LogSumExp
expect 1 "learned no t_tr or t_te" "$B" "${S[@]}" --model naaf --t-test safe
expect 1 "--t-test fixed needs --t-fixed X" "$B" "${S[@]}" --model naaf --t-test fixed
expect 1 "is a SCAN model" "$B" "${S[@]}" --t-test fixed --t-fixed 0.5
expect 2 "--score-form applies to NAAF's score" "$B" eval --checkpoint "$C" --split test --score-form train
expect 2 "--irr does not apply to NAAF's score" "$B" train "${common[@]}" --model naaf --irr zero --model-name "$T/bad"
[ -e "$T/x.npy" ] && fail "a refused score wrote its output"
echo "naaf: ok"
