#!/usr/bin/env bash
# uarda index + uarda search: rankings equal the full similarity matrix's (uarda score), a
# mismatched checkpoint is refused, and image queries rank the indexed captions.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
D="$T/data/synth_tiny_precomp"
common=(--data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 16 --word-dim 8
        --batch-size 32 --val-step 0 --threads 2 --quiet)
"$B" train "${common[@]}" --num-epochs 1 --model-name "$T/a" --logger-name "$T/a" 2>/dev/null
"$B" train "${common[@]}" --num-epochs 1 --seed 9 --model-name "$T/b" --logger-name "$T/b" 2>/dev/null
C="$T/a/model_best.safetensors"
"$B" index --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/g.safetensors" 2>/dev/null
sed -n 4p "$D/test_caps.txt" > "$T/q.txt"
q=$(cat "$T/q.txt")
"$B" score --checkpoint "$C" --images "$D/test_ims.npy" --captions "$T/q.txt" --output "$T/s.npy" 2>/dev/null
out=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json)
# the ranking from the index equals the ranking of uarda score's column
got=$(grep '"image"' <<<"$out" | tr -dc '0-9\n' | tr '\n' ' ')
want=$(od -An -v -tf4 -j 128 "$T/s.npy" | tr -s ' ' '\n' | grep -v '^$' | awk '{print NR-1, $1}' | sort -k2,2gr -k1,1n | awk '{printf "%s ", $1}')
[ "$(wc -w <<<"$want")" -eq 16 ] || fail "could not read 16 scores"
[ -n "$got" ] && [ "$got" = "$want" ] || fail "search ranking ($got) differs from score's ($want)"
# image query over the indexed captions
out=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --image-row 2 --top-k 3)
[ "$(grep -c '^[123] ' <<<"$out")" -eq 3 ] || fail "image query: $out"
# another model's index is refused
set +e
msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$T/b/model_best.safetensors" --query "$q" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "was not made with" <<<"$msg" || fail "mismatched checkpoint: $st $msg"
echo "search: OK"
