#!/usr/bin/env bash
# The fault campaign of issue 10, replayed: every input that once gave a silent wrong answer or
# lost data. For each, the command must exit with the right code (2: usage, 1: runtime), its
# one-line message must name the input, and no file that existed before it may have changed.
set -euo pipefail
B=${UARDA_BIN:-build/uarda}
B=$(cd "$(dirname "$B")" && pwd)/$(basename "$B")
T=$(mktemp -d /tmp/uarda-faults-XXXXXX)
cleanup() {
    [ -n "${BG:-}" ] && kill "$BG" 2>/dev/null || true
    mountpoint -q "$T/small" 2>/dev/null && umount "$T/small" || true
    rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
cases=0

# the md5 of every file under $T (what a failing command must leave as it was)
snapshot() { find "$T" -type f ! -name '.uarda.lock' -print0 | sort -z | xargs -0 md5sum; }

# expect CODE PATTERN -- command...: exit CODE, stderr names PATTERN (grep -E), nothing changed
expect() {
    local code=$1 pattern=$2; shift 3
    local before after out st
    before=$(snapshot | grep -vF "${MAY_GROW:-/nothing/}" || true)
    set +e
    out=$("$@" 2>&1 >/dev/null); st=$?
    set -e
    after=$(snapshot)
    [ "$st" -eq "$code" ] || fail "$*: exit $st, expected $code ($out)"
    grep -qE -- "$pattern" <<<"$out" || fail "$*: the message does not name '$pattern': $out"
    [ "$(wc -l <<<"$out")" -eq 1 ] || fail "$*: more than one line: $out"
    # every file that existed is unchanged (new files may appear only where a test says so)
    diff <(printf '%s\n' "$before") <(grep -Ff <(cut -c35- <<<"$before") <<<"$after" || true) >/dev/null ||
        fail "$*: changed an existing file: $(diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -5)"
    cases=$((cases + 1))
}

# poke_f32 FILE INDEX BYTES: overwrite float32 element INDEX of a version-1 .npy with 4 bytes
poke_f32() {
    local hlen
    hlen=$(od -An -tu2 -j 8 -N 2 "$1" | tr -d ' ')
    printf "$3" | dd of="$1" bs=1 seek=$((10 + hlen + 4 * $2)) conv=notrunc status=none
}
NAN='\x00\x00\xc0\x7f'
INF='\x00\x00\x80\x7f'

"$B" synth --preset tiny --data-path "$T/data" --vocab-path "$T/vocab" >/dev/null
N=synth_tiny_precomp
D="$T/data/$N"
R=36; F=32   # the tiny preset's regions and feature size
common=(--data-path "$T/data" --data-name "$N" --vocab-path "$T/vocab" --embed-size 16 --word-dim 8 --batch-size 32
        --val-step 0 --threads 1 --quiet)
"$B" train "${common[@]}" --num-epochs 1 --model-name "$T/a" --logger-name "$T/a"
C="$T/a/model_best.safetensors"
[ -s "$C" ] && [ -s "$T/a/checkpoint.safetensors" ] || fail "the first training wrote no checkpoint"

# --- one NaN poisons a run: caught where it enters ------------------------------------------
cp -r "$T/data" "$T/nan"
poke_f32 "$T/nan/$N/train_ims.npy" $(((3 * R + 2) * F + 5)) "$NAN"
expect 1 "train_ims.npy: image 3, region 2, feature 5 is nan" -- \
    "$B" train "${common[@]}" --data-path "$T/nan" --num-epochs 1 --model-name "$T/nanrun" --logger-name "$T/nanrun"
[ ! -e "$T/nanrun/model_best.safetensors" ] || fail "a NaN run wrote model_best"
# a NaN dev image: validation fails, no model_best
cp -r "$T/data" "$T/nandev"
poke_f32 "$T/nandev/$N/dev_ims.npy" $(((1 * R + 0) * F + 0)) "$INF"
expect 1 "dev_ims.npy: image 1, region 0, feature 0 is inf" -- \
    "$B" train "${common[@]}" --data-path "$T/nandev" --num-epochs 1 --model-name "$T/nandevrun" --logger-name "$T/nandevrun"
[ ! -e "$T/nandevrun/model_best.safetensors" ] || fail "a run with a NaN validation wrote model_best"
expect 2 "--lambda-softmax must be between" -- "$B" train "${common[@]}" --lambda-softmax 1e40 --model-name "$T/l" --logger-name "$T/l"
# a gradient that turns NaN mid-run: stopped at that iteration, the last checkpoint untouched
"$B" train "${common[@]}" --num-epochs 2 --save-step 3 --max-steps 3 --model-name "$T/g" --logger-name "$T/g"
expect 1 "iteration 5: the gradient norm is not finite" -- \
    "$B" train "${common[@]}" --num-epochs 2 --save-step 3 --debug-nan-at 5 --resume "$T/g/checkpoint.safetensors" \
    --model-name "$T/g" --logger-name "$T/g2"
# a NaN test image, in eval and score
cp "$D/test_ims.npy" "$T/test_nan.npy"
poke_f32 "$T/test_nan.npy" $(((7 * R + 35) * F + 31)) "$NAN"
cp -r "$T/data" "$T/nantest"
cp "$T/test_nan.npy" "$T/nantest/$N/test_ims.npy"
expect 1 "test_ims.npy: image 7, region 35, feature 31 is nan" -- \
    "$B" eval --checkpoint "$C" --data-path "$T/nantest" --split test
echo old > "$T/s.npy"
expect 1 "test_nan.npy: image 7, region 35, feature 31 is nan" -- \
    "$B" score --checkpoint "$C" --images "$T/test_nan.npy" --captions "$D/test_caps.txt" --output "$T/s.npy"

# a checkpoint with one NaN weight: refused on load (its checksum, then its values), never scored
cp "$C" "$T/nanw.safetensors"
hl=$(od -An -tu8 -N 8 "$T/nanw.safetensors" | tr -d ' ')
printf "$NAN" | dd of="$T/nanw.safetensors" bs=1 seek=$((8 + hl + 400)) conv=notrunc status=none
expect 1 "nanw.safetensors: .*checksum" -- "$B" eval --checkpoint "$T/nanw.safetensors"

# --- corruption ---------------------------------------------------------------------------------
"$B" index --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/g.safetensors" 2>/dev/null
"$B" index --verify "$T/g.safetensors" --checkpoint "$C" >/dev/null || fail "index --verify refuses a good index"
cp "$T/g.safetensors" "$T/bad.safetensors"
size=$(stat -c %s "$T/bad.safetensors")
head -c 100 /dev/zero | tr '\0' '\377' | dd of="$T/bad.safetensors" bs=1 seek=$((size - 100)) conv=notrunc status=none
expect 1 "bad.safetensors.*checksum" -- "$B" index --verify "$T/bad.safetensors"
expect 1 "bad.safetensors.*checksum" -- "$B" search --verify --index "$T/bad.safetensors" --checkpoint "$C" --query "a dog"
expect 1 "bad.safetensors.*(corrupt|not finite)" -- \
    "$B" search --index "$T/bad.safetensors" --checkpoint "$C" --image-row 0 --shortlist 4
expect 1 "empty.txt: empty caption file" -- \
    bash -c ": > '$T/empty.txt' && '$B' index --checkpoint '$C' --images '$D/test_ims.npy' --captions '$T/empty.txt' --output '$T/g.safetensors'"
# an index is written block by block: a bad image mid-gallery leaves the old index and no temporary file
expect 1 "test_nan.npy: image 7, region 35, feature 31 is nan" -- \
    "$B" index --checkpoint "$C" --images "$T/test_nan.npy" --block-images 128 --output "$T/g.safetensors"
cp "$D/test_ims.npy" "$T/test_big.npy"
poke_f32 "$T/test_big.npy" $(((5 * R + 3) * F + 1)) '\x20\xbc\xbe\x4c'   # 1e8: unnormalised, beyond the half range
"$B" train "${common[@]}" --num-epochs 1 --no-imgnorm --model-name "$T/ni" --logger-name "$T/ni"
expect 1 "g.safetensors: image 5: a region embedding value .* is beyond the half range \(65504\)" -- \
    "$B" index --checkpoint "$T/ni/model_best.safetensors" --images "$T/test_big.npy" --index-dtype f16 --output "$T/g.safetensors"
! ls "$T"/g.safetensors.tmp.* >/dev/null 2>&1 || fail "a failed index left its temporary file"

# --- inputs that were taken silently or misreported ---------------------------------------------
# a region file of the wrong rank shows the shape it found
hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (4, 32), }"
while [ $(( (10 + ${#hdr} + 1) % 64 )) -ne 0 ]; do hdr="$hdr "; done
{ printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $(( (${#hdr} + 1) % 256 )))\\x$(printf %02x $(( (${#hdr} + 1) / 256 )))";
  printf '%s\n' "$hdr"; head -c $((4 * 32 * 4)) /dev/zero; } > "$T/rank2.npy"
expect 1 "rank2.npy: expected region features of shape \(images, regions, dims\), got shape \(4, 32\)" -- \
    "$B" score --checkpoint "$C" --images "$T/rank2.npy" --captions "$D/test_caps.txt" --output "$T/s.npy"
# a caption of 33,000 tokens names itself, not a similarity block
{ head -3 "$D/test_caps.txt"; printf 'dog %.0s' $(seq 33000); echo; } > "$T/long.txt"
expect 1 "long.txt: line 4: a caption of 33000 tokens, more than the limit" -- \
    "$B" score --checkpoint "$C" --images "$D/test_ims.npy" --captions "$T/long.txt" --output "$T/s.npy"
# the limits are stated where users look
for cmd in train eval score index search; do
    "$B" "$cmd" --help | grep -q "Limits: captions of at most 4094 tokens" || fail "uarda $cmd --help states no input limits"
done
# a blank caption line is an error, not an empty caption
cp -r "$T/data" "$T/blank"
sed -i '7s/.*//' "$T/blank/$N/test_caps.txt"
expect 1 "test_caps.txt: line 7: blank caption" -- "$B" eval --checkpoint "$C" --data-path "$T/blank" --split test

# --- run folders ------------------------------------------------------------------------------
expect 1 "$T/a/.*holds an earlier run: continue it with --resume, replace it with --overwrite" -- \
    "$B" train "${common[@]}" --num-epochs 1 --model-name "$T/a" --logger-name "$T/a"
expect 1 "train.jsonl holds an earlier run" -- \
    "$B" train "${common[@]}" --num-epochs 1 --model-name "$T/a2" --logger-name "$T/a"
# two runs at once into one folder: the second is refused, the first's files stay good
"$B" train "${common[@]}" --num-epochs 1 --model-name "$T/r" --logger-name "$T/r"
"$B" train "${common[@]}" --num-epochs 100000 --resume "$T/r/checkpoint.safetensors" --model-name "$T/r" --logger-name "$T/r" 2>/dev/null &
BG=$!
for _ in $(seq 100); do [ "$(wc -l < "$T/r/train.jsonl")" -gt 3 ] && break; sleep 0.05; done
kill -STOP "$BG"    # frozen while the second one tries (its files then cannot change under the check)
expect 1 "$T/r is in use by another training run" -- \
    "$B" train "${common[@]}" --num-epochs 1 --overwrite --model-name "$T/r" --logger-name "$T/r"
expect 1 "is in use by another training run" -- \
    "$B" train "${common[@]}" --num-epochs 1 --model-name "$T/r3" --logger-name "$T/r"
kill -CONT "$BG"; kill -INT "$BG"
set +e; wait "$BG"; st=$?; set -e
BG=
[ "$st" -eq 130 ] || fail "the first run, interrupted, exited $st"
"$B" eval --checkpoint "$T/r/model_best.safetensors" >/dev/null 2>&1 || fail "the first run's model_best does not evaluate"
# --overwrite replaces an earlier run: a fresh log, not an appended one
"$B" train "${common[@]}" --num-epochs 1 --overwrite --model-name "$T/a" --logger-name "$T/a"
[ "$(grep -c '"event":"val"' "$T/a/train.jsonl")" -eq 1 ] || fail "--overwrite appended to the old log"

# a full disk under the logger: an error, and the earlier files intact
mkdir -p "$T/small"
if mount -t tmpfs -o size=1m tmpfs "$T/small" 2>/dev/null; then
    "$B" train "${common[@]}" --num-epochs 1 --model-name "$T/smallck" --logger-name "$T/small"
    cp "$T/small/train.jsonl" "$T/log.before"
    dd if=/dev/zero of="$T/small/fill" bs=4k status=none 2>/dev/null || true
    # the log may gain whole lines in its last page's slack before the disk refuses one
    MAY_GROW="$T/small/train.jsonl" expect 1 "small/train.jsonl: cannot write the log: No space left on device" -- \
        "$B" train "${common[@]}" --num-epochs 4 --log-step 1 --batch-size 2 --resume "$T/smallck/checkpoint.safetensors" \
        --model-name "$T/smallck" --logger-name "$T/small"
    cmp -s "$T/log.before" <(head -c "$(stat -c %s "$T/log.before")" "$T/small/train.jsonl") ||
        fail "full disk: the log lost its earlier lines"
    [ "$(tail -c 1 "$T/small/train.jsonl" | od -An -c | tr -d ' ')" = '\n' ] || fail "full disk: a half-written log line"
    umount "$T/small"
else
    echo "faults: full-disk case skipped (cannot mount a tmpfs here: not root, or no CAP_SYS_ADMIN)"
fi

# --- flags that cannot be honoured, ranges, exit codes -------------------------------------------
expect 2 "--embed-size 64 cannot apply: .*made with embed-size 16" -- \
    "$B" train "${common[@]}" --embed-size 64 --resume "$T/a/checkpoint.safetensors" --model-name "$T/a" --logger-name "$T/a"
expect 2 "--embed-size 64 cannot apply: .*made with embed-size 16" -- \
    "$B" score --checkpoint "$C" --embed-size 64 --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/s.npy"
expect 2 "--bi-gru 0 cannot apply: .*made with bi-gru 1" -- \
    "$B" score --checkpoint "$C" --no-bi-gru --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/s.npy"
expect 2 "--word-dim 9 cannot apply" -- "$B" eval --checkpoint "$C" --word-dim 9
expect 2 "unknown option '--margin'" -- \
    "$B" score --checkpoint "$C" --margin 5 --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/s.npy"
expect 2 "--seed must be between 0 and" -- "$B" train "${common[@]}" --seed -1 --model-name "$T/x" --logger-name "$T/x"
expect 2 "--threads must be between 0 and 1024, got '-2'" -- "$B" eval --checkpoint "$C" --threads -2
expect 2 "--save-step must be between 0 and" -- "$B" train "${common[@]}" --save-step -1 --model-name "$T/x" --logger-name "$T/x"
expect 2 "--batch-size must be between 2 and" -- "$B" train "${common[@]}" --batch-size 1 --model-name "$T/x" --logger-name "$T/x"
expect 1 "--batch-size 100000 is more than the 320 training captions" -- \
    "$B" train "${common[@]}" --batch-size 100000 --model-name "$T/x" --logger-name "$T/x"
expect 2 "--t-fixed 0.3 applies with --t-mode fixed" -- \
    "$B" train "${common[@]}" --clip uarda --mask hard --irr zero --t-mode adaptive --t-fixed 0.3 --model-name "$T/x" --logger-name "$T/x"
expect 2 "--threads expects an integer, got '1.2'" -- "$B" eval --checkpoint "$C" --threads $'1\n2'
for cmd in synth vocab tokenize data train eval score index search bench plot; do
    expect 2 "uarda $cmd: unknown option '--no-such-flag'" -- "$B" "$cmd" --no-such-flag
done
# a scoring flag still overrides (and changes the scores)
"$B" score --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/s1.npy" 2>/dev/null
"$B" score --checkpoint "$C" --lambda-softmax 2 --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/s2.npy" 2>/dev/null
! cmp -s "$T/s1.npy" "$T/s2.npy" || fail "score --lambda-softmax 2 changed nothing"

# bench shortlist with K < 10: a truth outside the shortlist is a miss at every K
"$B" index --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/g2.safetensors" 2>/dev/null
bs=$("$B" bench shortlist --index "$T/g2.safetensors" --checkpoint "$C" --captions "$D/test_caps.txt" --shortlist 2 --json 2>/dev/null)
k2=$(grep '"shortlist":2,' <<<"$bs")
[ "$(grep -o '"r5":[0-9.]*' <<<"$k2" | cut -d: -f2)" = "$(grep -o '"r10":[0-9.]*' <<<"$k2" | cut -d: -f2)" ] ||
    fail "bench shortlist K=2: R@10 differs from R@5 although only 2 images are ranked: $k2"

# --resume of something that is not a checkpoint: named, before anything is trained
expect 1 "vocab/synth_tiny_precomp_vocab.json" -- \
    "$B" train "${common[@]}" --resume "$T/vocab/synth_tiny_precomp_vocab.json" --model-name "$T/nr" --logger-name "$T/nr"
# on --resume a loss or scoring flag is honoured, not ignored: the resumed losses change
cp "$T/g/checkpoint.safetensors" "$T/g3.safetensors"   # 3 iterations in (--max-steps 3 above)
for extra in "" "--margin 0.5" "--lambda-softmax 2"; do
    "$B" train "${common[@]}" --num-epochs 1 --log-step 1 --resume "$T/g3.safetensors" $extra \
        --model-name "$T/resumed${extra// /}" --logger-name "$T/resumed${extra// /}" 2>/dev/null
done
first_loss() { grep '"event":"train"' "$1/train.jsonl" | head -1 | grep -o '"loss":[-0-9.e]*'; }
[ -n "$(first_loss "$T/resumed")" ] || fail "the resumed run logged no loss"
[ "$(first_loss "$T/resumed")" != "$(first_loss "$T/resumed--margin0.5")" ] || fail "--resume --margin 0.5 changed no loss"
[ "$(first_loss "$T/resumed")" != "$(first_loss "$T/resumed--lambda-softmax2")" ] || fail "--resume --lambda-softmax 2 changed no loss"

# --- defaults and paths ---------------------------------------------------------------------------
mkdir -p "$T/empty"
expect 1 "\./vocab/+precomp_vocab.json" -- bash -c "cd '$T/empty' && '$B' train --quiet --model-name '$T/e' --logger-name '$T/e'"
# a checkpoint trained with relative paths evaluates from anywhere
(cd "$T" && "$B" train --data-path data --data-name "$N" --vocab-path vocab --embed-size 16 --word-dim 8 --batch-size 32 \
    --val-step 0 --threads 1 --quiet --num-epochs 1 --model-name rel --logger-name rel)
(cd "$T/empty" && "$B" eval --checkpoint "$T/rel/model_best.safetensors" >/dev/null 2>&1) ||
    fail "a checkpoint trained with relative paths does not evaluate from another folder"

# --- --quiet is quiet ---------------------------------------------------------------------------
out=$("$B" train "${common[@]}" --num-epochs 1 --overwrite --model-name "$T/q" --logger-name "$T/q" 2>&1)
[ -z "$out" ] || fail "train --quiet printed: $out"

echo "faults: $cases cases OK"
