#!/usr/bin/env bash
# Issue 3: a run killed by SIGKILL mid-epoch (after a --save-step checkpoint) and resumed with
# --resume continues exactly: its later losses equal an uninterrupted run's to the last bit.
# Also: SIGINT leaves a resumable checkpoint; a weights-only checkpoint starts fresh at epoch 0.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
"$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
common=(--data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 24 --word-dim 12
        --batch-size 16 --num-epochs 2 --log-step 1 --val-step 0 --seed 5 --threads 2 --quiet)

# uninterrupted: 2 epochs x 20 batches
"$B" train "${common[@]}" --model-name "$T/full" --logger-name "$T/full" 2>/dev/null

# killed at iteration 27 (epoch 1, mid-epoch), after the checkpoint of iteration 25
set +e
"$B" train "${common[@]}" --save-step 5 --debug-kill-after 27 --model-name "$T/cut" --logger-name "$T/cut" 2>/dev/null
st=$?
set -e
[ "$st" -eq 137 ] || { echo "expected death by SIGKILL (137), got $st"; exit 1; }
ls "$T/cut" | grep -q '\.tmp' && { echo "a temporary checkpoint file was left behind"; exit 1; }
"$B" train "${common[@]}" --resume "$T/cut/checkpoint.safetensors" --model-name "$T/cut" --logger-name "$T/resumed" 2>/dev/null

losses() { grep '"event":"train"' "$1/train.jsonl" | sed -E 's/.*"iter":([0-9]+).*"loss":([^,]+),.*/\1 \2/'; }
first=$(losses "$T/resumed" | head -1 | cut -d' ' -f1)
[ "$first" = 26 ] || { echo "resumed run should start at iteration 26, starts at $first"; exit 1; }
diff <(losses "$T/full" | awk '$1 >= 26') <(losses "$T/resumed") || { echo "losses after resume differ"; exit 1; }
n=$(losses "$T/resumed" | wc -l)
[ "$n" -eq 15 ] || { echo "expected 15 resumed iterations, got $n"; exit 1; }
# the last validation's recalls (its wall time, "seconds", naturally differs)
lastval() { grep '"event":"val"' "$1/train.jsonl" | tail -1 | sed -E 's/,"seconds":[^,}]*//'; }
cmp <(lastval "$T/full") <(lastval "$T/resumed") || { echo "final validation differs"; exit 1; }

# killed right after the checkpoint of an epoch's last step (iteration 20 of 20), before the
# epoch's validation: the resumed run validates epoch 0 first, then goes on as the full run
set +e
"$B" train "${common[@]}" --save-step 20 --debug-kill-after 20 --model-name "$T/edge" --logger-name "$T/edge" 2>/dev/null
st=$?
set -e
[ "$st" -eq 137 ] || { echo "edge: expected death by SIGKILL (137), got $st"; exit 1; }
"$B" train "${common[@]}" --resume "$T/edge/checkpoint.safetensors" --model-name "$T/edge" --logger-name "$T/eresumed" \
    2>/dev/null || { echo "a checkpoint of an epoch's last step does not resume"; exit 1; }
diff <(losses "$T/full" | awk '$1 >= 21') <(losses "$T/eresumed") || { echo "edge: losses after resume differ"; exit 1; }
cmp <(lastval "$T/full") <(lastval "$T/eresumed") || { echo "edge: final validation differs"; exit 1; }
[ "$(grep -c '"event":"val"' "$T/eresumed/train.jsonl")" = 2 ] || { echo "edge: epoch 0's validation is missing"; exit 1; }

# the same for UARDA with the mixture estimator: the thresholds, the rings and the fitted weight
# come back with the checkpoint, so the resumed losses and thresholds are the uninterrupted run's
uarda=(--clip uarda --mask hard --t-mode adaptive --t-test safe --irr neg --t-est mixture --neg-src random)
"$B" train "${common[@]}" "${uarda[@]}" --model-name "$T/ufull" --logger-name "$T/ufull" 2>/dev/null
set +e
"$B" train "${common[@]}" "${uarda[@]}" --save-step 5 --debug-kill-after 27 --model-name "$T/ucut" --logger-name "$T/ucut" 2>/dev/null
st=$?
set -e
[ "$st" -eq 137 ] || { echo "uarda: expected death by SIGKILL (137), got $st"; exit 1; }
"$B" train "${common[@]}" "${uarda[@]}" --resume "$T/ucut/checkpoint.safetensors" --model-name "$T/ucut" \
    --logger-name "$T/uresumed" 2>/dev/null
diff <(losses "$T/ufull" | awk '$1 >= 26') <(losses "$T/uresumed") || { echo "uarda: losses after resume differ"; exit 1; }
# the threshold state (the epoch's query statistics count only the resumed part of the epoch)
rel() { grep '"event":"relevance"' "$1/train.jsonl" | tail -1 | sed -E 's/,"irrelevant_matched".*//'; }
grep -q '"pos_weight"' <<<"$(rel "$T/ufull")" || { echo "uarda: no relevance event with pos_weight"; exit 1; }
cmp <(rel "$T/ufull") <(rel "$T/uresumed") || { echo "uarda: final thresholds differ after resume"; exit 1; }

# SIGINT: saves a resumable checkpoint and exits 130
"$B" train "${common[@]}" --num-epochs 200 --model-name "$T/int" --logger-name "$T/int" 2>/dev/null &
pid=$!
for _ in $(seq 100); do [ -s "$T/int/train.jsonl" ] && break; sleep 0.1; done
kill -INT $pid
set +e; wait $pid; st=$?; set -e
[ "$st" -eq 130 ] || { echo "SIGINT should exit 130, got $st"; exit 1; }
out=$("$B" train "${common[@]}" --no-quiet --num-epochs 1 --resume "$T/int/checkpoint.safetensors" --model-name "$T/int" \
    --logger-name "$T/int2" 2>&1)
grep -q "resuming" <<<"$out" || { echo "SIGINT checkpoint is not resumable: $out"; exit 1; }

# weights only (as a converted SCAN checkpoint): fresh Adam at epoch 0
out=$("$B" train "${common[@]}" --no-quiet --num-epochs 1 --resume "$T/full/model_best.safetensors" --model-name "$T/w" \
    --logger-name "$T/w" 2>&1)
grep -q "no optimizer state" <<<"$out" || { echo "weights-only resume not announced: $out"; exit 1; }
[ "$(losses "$T/w" | head -1 | cut -d' ' -f1)" = 1 ] || { echo "weights-only resume should restart the count"; exit 1; }
echo "resume: OK"
