#!/usr/bin/env bash
# uarda index, streamed: the index of synthetic images does not depend on the block it is made
# in, byte for byte; an F16 index (--index-dtype f16) verifies, is smaller by half its region
# data, and ranks with scores close to the F32 index's (attention too); bench shortlist
# --reference compares the two; flags that make no index are usage errors.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
T=$(mktemp -d /tmp/uarda-test-XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
D="$T/data/synth_tiny_precomp"
"$B" train --data-path "$T/data" --data-name synth_tiny_precomp --vocab-path "$T/vocab" --embed-size 16 --word-dim 8 \
    --batch-size 32 --val-step 0 --threads 2 --quiet --num-epochs 1 --model-name "$T/a" --logger-name "$T/a" 2>/dev/null
C="$T/a/model_best.safetensors"

# synthetic images, in blocks of 128 and of 256: the same file
"$B" index --checkpoint "$C" --synthetic-images 300 --synthetic-regions 12 --block-images 128 --output "$T/s1.safetensors" 2>/dev/null
"$B" index --checkpoint "$C" --synthetic-images 300 --synthetic-regions 12 --block-images 256 --output "$T/s2.safetensors" 2>/dev/null
cmp -s "$T/s1.safetensors" "$T/s2.safetensors" || fail "the synthetic index depends on --block-images"
out=$("$B" index --verify "$T/s1.safetensors" --checkpoint "$C")
grep -q "OK: 300 images, 0 captions, checksum verified" <<<"$out" || fail "verify the synthetic index: $out"
[ "$(stat -c %s "$T/s1.safetensors")" -gt $((300 * 12 * (16 + 12 + 1) * 4)) ] || fail "the synthetic index is too small"
grep -aq '"images":"synthetic:300:12:1"' "$T/s1.safetensors" || fail "the synthetic index does not say what it holds"
"$B" search --index "$T/s1.safetensors" --checkpoint "$C" --query "a dog" --shortlist 20 --top-k 3 >/dev/null 2>&1

# F16: verifies; the region data takes half the bytes; the scores are close to F32's
"$B" index --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/g32.safetensors" 2>/dev/null
"$B" index --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --index-dtype f16 \
    --output "$T/g16.safetensors" 2>/dev/null
out=$("$B" index --verify "$T/g16.safetensors" --checkpoint "$C")
grep -q "OK: 16 images, 80 captions, checksum verified, made by this checkpoint" <<<"$out" || fail "verify f16: $out"
s32=$(stat -c %s "$T/g32.safetensors"); s16=$(stat -c %s "$T/g16.safetensors")
[ $((s32 - s16)) -eq $((16 * 36 * (16 + 36) * 2)) ] || fail "f16 index of $s16 bytes against f32's $s32"
q=$(sed -n 4p "$D/test_caps.txt")
pairs() { grep -o '"image":[0-9]*,"score":[-0-9.e]*' | sed 's/"image"://; s/,"score":/ /' | sort -k1,1; }
a=$("$B" search --index "$T/g32.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json 2>/dev/null | pairs)
b=$("$B" search --index "$T/g16.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json 2>/dev/null | pairs)
worst=$(join <(cat <<<"$a") <(cat <<<"$b") | awk '{d = $2 - $3; if (d < 0) d = -d; if (d > m) m = d; n++} END {if (n != 16) print "missing"; else printf "%.3g", m}')
awk -v w="$worst" 'BEGIN {exit !(w + 0 < 5e-3 && w != "missing")}' || fail "f16 scores differ from f32's by $worst"
att=$("$B" search --index "$T/g16.safetensors" --checkpoint "$C" --query "$q" --top-k 2 --json --attention 2>/dev/null)
[ "$(grep -o '"region":[0-9]*' <<<"$att" | wc -l)" -ge 6 ] || fail "f16 --attention: $att"
"$B" search --index "$T/g16.safetensors" --checkpoint "$C" --image-row 3 --top-k 3 2>/dev/null | grep -q '^1 ' || fail "f16 image query"

# bench shortlist --reference: the F32 index's exhaustive search first, then the F16 index's rows
bs=$("$B" bench shortlist --index "$T/g16.safetensors" --reference "$T/g32.safetensors" --checkpoint "$C" \
    --captions "$D/test_caps.txt" --shortlist 16,4 --json 2>/dev/null)
[ "$(grep -c '"bench":"shortlist"' <<<"$bs")" -eq 4 ] || fail "bench shortlist --reference rows: $bs"
head -1 <<<"$bs" | grep -q '"index":"reference","dtype":"f32","shortlist":0,.*"max_dscore":0,' || fail "reference row: $bs"
ds=$(sed -n 2p <<<"$bs" | grep -o '"max_dscore":[-0-9.e]*' | cut -d: -f2)
sed -n 2p <<<"$bs" | grep -q '"index":"index","dtype":"f16","shortlist":0,' && awk -v d="$ds" 'BEGIN {exit !(d < 5e-3)}' ||
    fail "f16 exhaustive row: $bs"
# without a reference, shortlisted scores are the exhaustive ones exactly
bs=$("$B" bench shortlist --index "$T/g32.safetensors" --checkpoint "$C" --captions "$D/test_caps.txt" --shortlist 8,4 --json 2>/dev/null)
[ "$(grep -c '"max_dscore":0,' <<<"$bs")" -eq 3 ] || fail "shortlisted scores differ from the exhaustive ones: $bs"
set +e
msg=$("$B" bench shortlist --index "$T/g16.safetensors" --reference "$T/s1.safetensors" --checkpoint "$C" \
    --captions "$D/test_caps.txt" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "s1.safetensors: 300 images of 12 regions, but .*g16.safetensors has 16 of 36: not an index of the same gallery" <<<"$msg" ||
    fail "bench shortlist, a reference of another gallery: $st $msg"

# usage errors
expect2() {  # TEXT ARGS...: exit 2 and TEXT in the message
    local text=$1; shift
    set +e
    msg=$("$B" index "$@" 2>&1); st=$?
    set -e
    [ $st -eq 2 ] && grep -qF -- "$text" <<<"$msg" || fail "index $*: exit $st ($msg)"
}
expect2 "must be a multiple of 128" --checkpoint "$C" --synthetic-images 10 --block-images 200 --output "$T/x.safetensors"
expect2 "one of --images / --synthetic-images" --checkpoint "$C" --images "$D/test_ims.npy" --synthetic-images 10 --output "$T/x.safetensors"
expect2 "one of --images / --synthetic-images" --checkpoint "$C" --output "$T/x.safetensors"
expect2 "--index-dtype" --checkpoint "$C" --synthetic-images 10 --index-dtype f64 --output "$T/x.safetensors"
expect2 "it takes no --images, --synthetic-images" --verify "$T/s1.safetensors" --synthetic-images 10
expect2 "--shard 2/2: K/N" --checkpoint "$C" --synthetic-images 300 --shard 2/2 --output "$T/x.safetensors"
expect2 "would be empty" --checkpoint "$C" --synthetic-images 300 --shard 3/4 --output "$T/x.safetensors"
expect2 "index the captions" --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --shard 0/2 \
    --output "$T/x.safetensors"
[ ! -e "$T/x.safetensors" ] || fail "a usage error wrote an index"

# Issue 13: shards (--shard K/N, whole chunks of 128 images) searched together give the unsharded
# index's top 10, with gallery ids and the same scores; a shard twice, or a missing one, is refused
for k in 0 1 2; do
    "$B" index --checkpoint "$C" --synthetic-images 300 --synthetic-regions 12 --shard $k/3 --output "$T/sh$k.safetensors" \
        2>/dev/null
done
head -5 "$D/test_caps.txt" > "$T/q.txt"
"$B" search --index "$T/s1.safetensors" --checkpoint "$C" --queries "$T/q.txt" --top-k 10 --json > "$T/one.json"
"$B" search --index "$T/sh2.safetensors" --index "$T/sh0.safetensors" --index "$T/sh1.safetensors" --checkpoint "$C" \
    --queries "$T/q.txt" --top-k 10 --json > "$T/merged.json"
strip() { sed -E 's/,"scored".*//' "$1"; }
diff <(strip "$T/one.json") <(strip "$T/merged.json") || fail "the merged search over 3 shards differs from the unsharded index"
top=$(grep -oE '"image":[0-9]+' "$T/merged.json" | cut -d: -f2 | sort -n | tail -1)
[ "$top" -ge 128 ] || fail "no result comes from a later shard (the largest id is $top)"
out=$("$B" search --index "$T/sh0.safetensors" --index "$T/sh0.safetensors" --index "$T/sh1.safetensors" --checkpoint "$C" \
    --query "a dog" 2>&1) && fail "a shard given twice was searched"
grep -q "given twice" <<<"$out" || fail "shard twice: $out"
out=$("$B" search --index "$T/sh0.safetensors" --index "$T/sh1.safetensors" --checkpoint "$C" --query "a dog" 2>&1) &&
    fail "2 of 3 shards were searched as a gallery"
grep -q "give every shard" <<<"$out" || fail "a missing shard: $out"
# shard metadata that does not describe the file (first_image edited in the header) is refused
/usr/bin/python3 - "$T/sh1.safetensors" "$T/bad.safetensors" <<'PY'
import sys
b = open(sys.argv[1], "rb").read()
assert b.count(b'"first_image":"128"') == 1
open(sys.argv[2], "wb").write(b.replace(b'"first_image":"128"', b'"first_image":"000"'))
PY
out=$("$B" search --index "$T/bad.safetensors" --checkpoint "$C" --query "a dog" 2>&1) && fail "bad shard metadata was searched"
grep -q "shard metadata" <<<"$out" || fail "bad shard metadata: $out"
echo "index.sh: OK"
