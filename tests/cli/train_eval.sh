#!/usr/bin/env bash
# train -> eval (full, --fold5, ensemble, --json) -> score on the tiny synthetic set, and the
# command line's errors.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
S=${UARDA_SHARED:-../shared}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$B" synth --preset tiny --testall --n-testall 100 --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
common=(--data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 24 --word-dim 12
        --batch-size 32 --num-epochs 2 --val-step 0 --threads 2 --quiet)
"$B" train "${common[@]}" --model-name "$T/t2i" --logger-name "$T/t2i" 2>/dev/null
"$B" train "${common[@]}" --cross-attn i2t --agg-func LogSumExp --lambda-softmax 4 --lambda-lse 5 \
    --model-name "$T/i2t" --logger-name "$T/i2t" 2>/dev/null
[ -s "$T/t2i/model_best.safetensors" ] && [ -s "$T/t2i/checkpoint.safetensors" ] || fail "no checkpoints"
grep -q '"event":"val"' "$T/t2i/train.jsonl" || fail "no validation lines in the log"

out=$("$B" eval --checkpoint "$T/t2i/model_best.safetensors" --split test)
grep -q "rsum" <<<"$out" || fail "eval printed no rsum: $out"
grep -q "16 images x 80 captions" <<<"$out" || fail "eval: wrong split size: $out"
# progress on stderr (every update with UARDA_PROGRESS_INTERVAL=0; every 10 s otherwise), not on stdout
prog=$(UARDA_PROGRESS_INTERVAL=0 "$B" eval --checkpoint "$T/t2i/model_best.safetensors" --split test 2>&1 >/dev/null)
grep -q "^eval: encoding captions 80/80 (100%)" <<<"$prog" || fail "eval progress (captions): $prog"
grep -q "^eval: similarity 80/80 (100%)" <<<"$prog" || fail "eval progress (similarity): $prog"
grep -q "eval:" <<<"$out" && fail "progress on stdout: $out"
json=$("$B" eval --checkpoint "$T/t2i/model_best.safetensors" --split test --json)
grep -q '"rsum"' <<<"$json" || fail "--json: $json"
# an ensemble of a model with itself is that model
one=$(grep -E '"(r1|r5|r10)"' <<<"$json")
two=$("$B" eval --checkpoint "$T/t2i/model_best.safetensors" --checkpoint "$T/t2i/model_best.safetensors" --split test --json | grep -E '"(r1|r5|r10)"')
[ "$one" = "$two" ] || fail "self-ensemble differs from the model"
"$B" eval --checkpoint "$T/t2i/model_best.safetensors" --checkpoint "$T/i2t/model_best.safetensors" --split test | grep -q "ensemble" \
    || fail "ensemble of t2i and i2t"
fold=$("$B" eval --checkpoint "$T/t2i/model_best.safetensors" --split testall --fold5)
grep -q "5 folds of 1K" <<<"$fold" && grep -q "20 images x 100 captions per fold" <<<"$fold" || fail "fold5: $fold"
"$B" eval --checkpoint "$T/t2i/model_best.safetensors" --split test --fold5 >/dev/null 2>&1 && fail "--fold5 on 16 images must fail cleanly"

# score: [images, captions] float32
head -n 3 "$T/data/synth_tiny_precomp/test_caps.txt" > "$T/caps.txt"
"$B" score --checkpoint "$T/t2i/model_best.safetensors" --images "$T/data/synth_tiny_precomp/test_ims.npy" \
    --captions "$T/caps.txt" --output "$T/sims.npy" 2>/dev/null
head -c 100 "$T/sims.npy" | grep -aq "'shape': (16, 3)" || fail "score output shape"
"$B" score --checkpoint "$T/t2i/model_best.safetensors" --images "$T/data/synth_tiny_precomp/test_ims.npy" \
    --captions "$T/caps.txt" --output "$T/sims2.npy" --lambda-softmax 4 2>/dev/null
cmp -s "$T/sims.npy" "$T/sims2.npy" && fail "--lambda-softmax override had no effect"

# errors: one line, non-zero exit
set +e
if [ -f "$S/data/vocab/f30k_precomp_vocab.json" ]; then
    msg=$("$B" eval --checkpoint "$T/t2i/model_best.safetensors" --split test --vocab-path "$S/data/vocab/f30k_precomp_vocab.json" 2>&1); st=$?
    [ $st -ne 0 ] && grep -q "vocabulary of" <<<"$msg" || fail "vocabulary mismatch: $st $msg"
else
    echo "train_eval: no $S/data (set UARDA_SHARED): the vocabulary mismatch check skipped"
fi
msg=$("$B" train --no-such-flag 2>&1); st=$?
[ $st -eq 2 ] && grep -q "unknown option '--no-such-flag'" <<<"$msg" || fail "unknown flag: $st $msg"
msg=$("$B" train --batch-size many 2>&1); st=$?
[ $st -eq 2 ] && grep -q "expects an integer" <<<"$msg" || fail "bad value: $st $msg"
msg=$("$B" train --cross-attn x2y 2>&1); st=$?
[ $st -eq 2 ] && grep -q "must be one of t2i|i2t" <<<"$msg" || fail "bad choice: $st $msg"
msg=$("$B" eval --checkpoint "$T/vocab/synth_tiny_precomp_vocab.json" 2>&1); st=$?
[ $st -eq 1 ] || fail "a non-checkpoint must be an error: $st $msg"
[ "$(wc -l <<<"$msg")" -eq 1 ] || fail "error is not one line: $msg"
msg=$("$B" frobnicate 2>&1); st=$?
[ $st -eq 2 ] || fail "unknown command"
set -e
for c in synth vocab tokenize data train eval score bench; do
    "$B" "$c" --help >/dev/null || fail "$c --help"
done
echo "train/eval/score: OK"
