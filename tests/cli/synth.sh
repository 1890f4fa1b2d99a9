#!/usr/bin/env bash
# uarda synth through the CLI: the tiny preset into a temp folder, overrides, determinism,
# --help, and one-line errors with exit status 2 (usage) or 1 (runtime); the captions preset
# from caption files made here and, at a small size, from its default sources in ../shared.
set -euo pipefail
BIN=${UARDA_BIN:-build/uarda}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/uarda-test-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# runs the command, expecting exit status $1 and exactly one line on stderr
expect_error() {
    local want=$1; shift
    local rc=0
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq "$want" ] || fail "$* exited $rc, expected $want: $(cat "$tmp/err")"
    [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$*: expected one line on stderr, got: $(cat "$tmp/err")"
}

"$BIN" synth --help >"$tmp/help" || fail "synth --help exited $?"
grep -q -- '--preset {tiny|small|f30k|captions}' "$tmp/help" || fail "--help does not list --preset"
grep -q -- '--noise X' "$tmp/help" || fail "--help does not list --noise"
"$BIN" synth --preset tiny --help | grep -q -- '--img-dim N .*(default: 32)' || fail "--help does not show the tiny preset's defaults"

# the tiny preset
"$BIN" synth --preset tiny --data-path "$tmp/data" --vocab-path "$tmp/vocab" --seed 3 >"$tmp/out" 2>"$tmp/err" ||
    fail "synth --preset tiny: $(cat "$tmp/err")"
[ ! -s "$tmp/err" ] || fail "a short run printed on stderr: $(cat "$tmp/err")"
grep -q "wrote $tmp/data/synth_tiny_precomp" "$tmp/out" || fail "no summary line: $(cat "$tmp/out")"
d=$tmp/data/synth_tiny_precomp
[ -s "$tmp/vocab/synth_tiny_precomp_vocab.json" ] || fail "no vocabulary"
for split in train:64 dev:16 test:16; do
    s=${split%:*} n=${split#*:}
    for f in ims.npy caps.txt caps_grounding.txt; do [ -s "$d/${s}_$f" ] || fail "no ${s}_$f"; done
    [ "$(wc -l <"$d/${s}_caps.txt")" -eq $((5 * n)) ] || fail "${s}_caps.txt: expected $((5 * n)) lines"
    [ "$(wc -l <"$d/${s}_caps_grounding.txt")" -eq $((5 * n)) ] || fail "${s}_caps_grounding.txt: expected $((5 * n)) lines"
    head -c 128 "$d/${s}_ims.npy" | grep -aq "'shape': ($n, 36, 32)" || fail "${s}_ims.npy: wrong shape"
    # every grounding line has one 0/1 per caption token
    paste -d '|' "$d/${s}_caps.txt" "$d/${s}_caps_grounding.txt" |
        awk -F'|' '{ if (split($1, a, " ") != split($2, b, " ")) { print "line " NR; exit 1 } }' ||
        fail "${s}: grounding does not align with the captions"
done
[ ! -e "$d/testall_ims.npy" ] || fail "testall written without --testall"
grep -q '^seed            3$' "$d/README.synth.txt" || fail "README.synth.txt does not state the seed"

# deterministic: the same seed gives the same bytes
"$BIN" synth --preset tiny --data-path "$tmp/again" --vocab-path "$tmp/vocab2" --seed 3 >/dev/null
for f in "$d"/*; do
    if [ -d "$f" ]; then   # the thumbnails' folders
        diff -r -q "$f" "$tmp/again/synth_tiny_precomp/$(basename "$f")" >/dev/null || fail "$(basename "$f")/ differs between runs"
    else
        cmp -s "$f" "$tmp/again/synth_tiny_precomp/$(basename "$f")" || fail "$(basename "$f") differs between runs"
    fi
done
# pictures of the dev and test images, none of train's; --no-pictures writes none and changes nothing else
for s in dev test; do
    head -c 128 "$d/${s}_boxes.npy" | grep -aq "'shape': (16, 36, 4)" || fail "${s}_boxes.npy: wrong shape"
    [ "$(ls "$d/${s}_images" | wc -l)" -eq 16 ] || fail "${s}_images: expected 16 thumbnails"
    [ "$(wc -l <"$d/${s}_image_names.txt")" -eq 16 ] && [ "$(head -1 "$d/${s}_image_names.txt")" = 000000.png ] ||
        fail "${s}_image_names.txt: $(head -2 "$d/${s}_image_names.txt")"
    head -c 8 "$d/${s}_images/000015.png" | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a' || fail "${s}_images/000015.png is no PNG"
done
[ ! -e "$d/train_boxes.npy" ] && [ ! -e "$d/train_images" ] || fail "pictures written for the train split"
"$BIN" synth --preset tiny --data-path "$tmp/nopic" --vocab-path "$tmp/vocab3" --seed 3 --no-pictures >/dev/null
[ "$(ls "$tmp/nopic/synth_tiny_precomp" | grep -c -e boxes -e image)" -eq 0 ] || fail "--no-pictures wrote pictures"
for f in "$tmp/nopic/synth_tiny_precomp"/*_*; do
    cmp -s "$f" "$d/$(basename "$f")" || fail "$(basename "$f") differs with --no-pictures"
done
cmp -s "$tmp/vocab/synth_tiny_precomp_vocab.json" "$tmp/vocab2/synth_tiny_precomp_vocab.json" || fail "the vocabulary differs between runs"

# overrides, --data-name, --testall
"$BIN" synth --preset tiny --data-path "$tmp/data" --data-name mine --vocab-path "$tmp/vocab" \
    --n-train 10 --testall --n-testall 20 --img-dim 8 --noise 0 >/dev/null
m=$tmp/data/mine
[ "$(wc -l <"$m/train_caps.txt")" -eq 50 ] || fail "--n-train 10 did not give 50 captions"
[ "$(wc -l <"$m/testall_caps.txt")" -eq 100 ] || fail "--testall --n-testall 20 did not give 100 captions"
head -c 128 "$m/train_ims.npy" | grep -aq "'shape': (10, 36, 8)" || fail "--img-dim 8 not applied"
[ -s "$tmp/vocab/mine_vocab.json" ] || fail "no vocabulary for --data-name mine"

# errors: one line each, nothing written
expect_error 2 "$BIN" synth --preset huge --data-path "$tmp/x"
grep -q "preset" "$tmp/err" || fail "unknown preset: message does not name the option"
[ ! -e "$tmp/x" ] || fail "an unknown preset wrote files"
expect_error 2 "$BIN" synth --preset tiny --n-train 0 --data-path "$tmp/x"
grep -q "n_train" "$tmp/err" || fail "--n-train 0: message does not name the field"
expect_error 2 "$BIN" synth --preset tiny --seed -1 --data-path "$tmp/x"
expect_error 2 "$BIN" synth --preset tiny --no-such-option
[ ! -e "$tmp/x" ] || fail "a usage error wrote files"
touch "$tmp/file"
expect_error 1 "$BIN" synth --preset tiny --data-path "$tmp/file" --vocab-path "$tmp/vocab"
grep -q "$tmp/file" "$tmp/err" || fail "an unwritable data path: message does not name it"

# ---- the captions preset ----
grep -q -- '--captions-from' "$tmp/help" || fail "--help does not list --captions-from"
"$BIN" synth --preset captions --help | grep -q -- '--threshold N .*(default: 4)' || fail "--help does not show the captions preset's defaults"
"$BIN" synth --captions-from x.txt --help | grep -q -- '--n-train N .*(default: 0)' || fail "--captions-from does not select the captions preset"
# two caption files: 6 and 4 images, 5 captions each, real punctuation ("dog." is two tokens)
for k in 0 1 2 3 4 5; do
    printf 'A dog%s runs on the grass.\nThe dog%s is playing in the grass .\nA brown animal with a ball\n' "$k" "$k"
    printf "Two men's pets outside .\nA puppy%s plays.\n" "$k"
done >"$tmp/capsA.txt"
for k in 0 1 2 3; do
    printf 'A man%s riding a red bike .\nMan%s on a bike\nA person on a bicycle .\nSomeone cycling\nA rider , a bike .\n' "$k" "$k"
done >"$tmp/capsB.txt"
C="--n-dev 2 --n-test 2 --threshold 1 --img-dim 8 --vocab-path $tmp/cvocab"
"$BIN" synth --captions-from "$tmp/capsA.txt" "$tmp/capsB.txt" $C --data-path "$tmp/cap1" >"$tmp/out" 2>"$tmp/err" ||
    fail "synth --captions-from: $(cat "$tmp/err")"
grep -q "wrote $tmp/cap1/synth_captions_precomp (preset captions, seed 1: train 6, dev 2, test 2 images from 2 caption files" "$tmp/out" ||
    fail "--captions-from without --preset: not the captions preset, or a wrong summary: $(cat "$tmp/out")"
c=$tmp/cap1/synth_captions_precomp
"$BIN" data --data-path "$tmp/cap1" --data-name synth_captions_precomp --vocab-path "$tmp/cvocab" >"$tmp/data.out" ||
    fail "uarda data cannot read the captions preset's dataset"
grep -Eq '^train +6 +36 +8 +30 +5 ' "$tmp/data.out" || fail "uarda data: $(cat "$tmp/data.out")"
for s in train dev test; do
    # one flag per token as SCAN's tokenizer splits the caption
    "$BIN" tokenize "$c/${s}_caps.txt" >"$tmp/tok"
    paste -d '|' "$tmp/tok" "$c/${s}_caps_grounding.txt" |
        awk -F'|' '{ if (split($1, a, " ") != split($2, b, " ")) { print "line " NR; exit 1 } }' ||
        fail "${s}: grounding does not align with the tokenized captions"
done
grep -q "^source .*capsA.txt (6 images)" "$c/README.synth.txt" || fail "README.synth.txt does not name the sources"
# the same files with the flag repeated, or with = and a trailing file: the same bytes
"$BIN" synth --preset captions --captions-from "$tmp/capsA.txt" --captions-from "$tmp/capsB.txt" $C --data-path "$tmp/cap2" >/dev/null ||
    fail "--captions-from twice"
"$BIN" synth --preset captions --captions-from="$tmp/capsA.txt" "$tmp/capsB.txt" $C --data-path "$tmp/cap3" >/dev/null ||
    fail "--captions-from=FILE FILE"
for f in train_ims.npy train_caps.txt dev_caps_grounding.txt test_ims.npy; do
    cmp -s "$c/$f" "$tmp/cap2/synth_captions_precomp/$f" || fail "$f: --captions-from A --captions-from B differs from --captions-from A B"
    cmp -s "$c/$f" "$tmp/cap3/synth_captions_precomp/$f" || fail "$f: --captions-from=A B differs from --captions-from A B"
done
# the order of the files is the pool's: B A is another dataset
"$BIN" synth --captions-from "$tmp/capsB.txt" "$tmp/capsA.txt" $C --data-path "$tmp/cap4" >/dev/null
! cmp -s "$c/train_caps.txt" "$tmp/cap4/synth_captions_precomp/train_caps.txt" || fail "the files' order does not matter"

# errors
expect_error 2 "$BIN" synth --captions-from "$tmp/capsA.txt" --seed 2 "$tmp/capsB.txt" $C --data-path "$tmp/x"
grep -q "unexpected argument '$tmp/capsB.txt'" "$tmp/err" || fail "a file after another option: $(cat "$tmp/err")"
expect_error 2 "$BIN" synth --preset captions "$tmp/capsA.txt" --data-path "$tmp/x"
grep -q -- "--captions-from" "$tmp/err" || fail "a file without --captions-from: $(cat "$tmp/err")"
expect_error 2 "$BIN" synth --preset small --captions-from "$tmp/capsA.txt" --data-path "$tmp/x"
grep -q -- "--captions-from needs --preset captions" "$tmp/err" || fail "--captions-from with small: $(cat "$tmp/err")"
expect_error 2 "$BIN" synth --captions-from "$tmp/capsA.txt" --n-nouns 5 --data-path "$tmp/x"
grep -q -- "--n-nouns does not apply to --preset captions" "$tmp/err" || fail "--n-nouns with captions: $(cat "$tmp/err")"
expect_error 2 "$BIN" synth --captions-from "$tmp/capsA.txt" --testall --data-path "$tmp/x"
expect_error 1 "$BIN" synth --captions-from "$tmp/nowhere.txt" $C --data-path "$tmp/x"
grep -q "$tmp/nowhere.txt" "$tmp/err" || fail "a missing caption file: message does not name it"
expect_error 1 "$BIN" synth --captions-from "$tmp/capsA.txt" --n-dev 3 --n-test 3 --data-path "$tmp/x"
grep -q "hold 6 images: none left for train" "$tmp/err" || fail "too few images: $(cat "$tmp/err")"
expect_error 1 "$BIN" synth --captions-from "$tmp/capsA.txt" "$tmp/capsB.txt" "$tmp/capsA.txt" $C --data-path "$tmp/x"
grep -q "$tmp/capsA.txt line 1: the same 5 captions as $tmp/capsA.txt line 1" "$tmp/err" || fail "a file given twice: $(cat "$tmp/err")"
expect_error 2 "$BIN" synth --captions-from --seed 3 --data-path "$tmp/x"
grep -q -- "--captions-from needs a file, got '--seed'" "$tmp/err" || fail "--captions-from without a file: $(cat "$tmp/err")"
head -n 7 "$tmp/capsA.txt" >"$tmp/seven.txt"
expect_error 1 "$BIN" synth --captions-from "$tmp/seven.txt" $C --data-path "$tmp/x"
grep -q "seven.txt: 7 captions, not a multiple of 5" "$tmp/err" || fail "7 lines: $(cat "$tmp/err")"
# the default sources missing: the message names --captions-from
UARDA_SHARED=$tmp/nowhere expect_error 1 "$BIN" synth --preset captions --data-path "$tmp/x"
grep -q -- "--captions-from" "$tmp/err" || fail "missing default sources: $(cat "$tmp/err")"
grep -q "$tmp/nowhere/data/f30k_precomp/test_caps.txt" "$tmp/err" || fail "missing default sources: the path is not named"
[ ! -e "$tmp/x" ] || fail "a captions error wrote files"

# the default sources (Flickr30K test + dev, COCO testall), at a small size
S=${UARDA_SHARED:-../shared}
if [ -s "$S/data/coco_precomp/testall_caps.txt" ]; then
    "$BIN" synth --preset captions --n-train 60 --n-dev 20 --n-test 20 --img-dim 16 --data-path "$tmp/def" \
        --vocab-path "$tmp/def/vocab" >"$tmp/out" 2>"$tmp/err" || fail "synth --preset captions: $(cat "$tmp/err")"
    d=$tmp/def/synth_captions_precomp
    for f in f30k_precomp/test_caps.txt f30k_precomp/dev_caps.txt coco_precomp/testall_caps.txt; do
        grep -q "^source .*$f" "$d/README.synth.txt" || fail "README.synth.txt does not name $f"
    done
    grep -q "coco_precomp/test_caps.txt" "$d/README.synth.txt" && fail "COCO's test_caps.txt (testall's first 1000 images) is a source"
    grep -q "^pool            7014 images" "$d/README.synth.txt" || fail "the default pool is not 7014 images"
    "$BIN" data --data-path "$tmp/def" --data-name synth_captions_precomp --vocab-path "$tmp/def/vocab" >"$tmp/data.out" ||
        fail "uarda data cannot read the default captions dataset"
    # every caption is a line of a source
    cat "$S/data/f30k_precomp/test_caps.txt" <(echo) "$S/data/f30k_precomp/dev_caps.txt" "$S/data/coco_precomp/testall_caps.txt" |
        sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | sort -u >"$tmp/all_lines"
    sort -u "$d/test_caps.txt" | comm -23 - "$tmp/all_lines" >"$tmp/extra"
    [ ! -s "$tmp/extra" ] || fail "test captions that are no source line: $(head -2 "$tmp/extra")"
    # eval --grounding reads its grounding files
    "$BIN" train --data-path "$tmp/def" --data-name synth_captions_precomp --vocab-path "$tmp/def/vocab" --embed-size 16 \
        --word-dim 8 --batch-size 32 --num-epochs 1 --val-step 0 --model-name "$tmp/run" --logger-name "$tmp/run" --quiet 2>/dev/null ||
        fail "training on the captions dataset"
    "$BIN" eval --checkpoint "$tmp/run/model_best.safetensors" --split test --grounding >"$tmp/eval.out" ||
        fail "eval --grounding on the captions dataset"
    grep -q "^grounding" "$tmp/eval.out" || fail "eval --grounding: $(cat "$tmp/eval.out")"
else
    echo "cli synth: $S/data missing, the default captions sources are not tried"
fi
echo "cli synth: ok"
