#!/usr/bin/env bash
# uarda index + uarda search: rankings equal the full similarity matrix's (uarda score), a
# shortlist as long as the gallery changes nothing and a shorter one keeps the exact scores of
# the images it keeps, --queries answers each line, --attention names a region per word, a
# mismatched checkpoint is refused, and image queries rank the indexed captions. Integrity:
# index --verify reads an index back (checksum, values, header), search --verify too, a corrupt
# index is refused by both and by a plain search through its non-finite scores, files from before
# checksums work with a warning, and an empty caption file is refused.
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
# the full similarity matrix of every test caption (the evaluation's blocks), [16 images, 80 captions]
"$B" score --checkpoint "$C" --images "$D/test_ims.npy" --captions "$D/test_caps.txt" --output "$T/s.npy" 2>/dev/null
out=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json)
# the ranking from the index equals the ranking of the matrix's column 3 (line 4), and the scores
# agree (a query alone runs its products in another order: the last bits may differ)
images() { grep -o '"image":[0-9]*' | cut -d: -f2 | tr '\n' ' '; }
pairs() { grep -o '"image":[0-9]*,"score":[-0-9.e]*' | sed 's/"image"://; s/,"score":/ /'; }
got=$(images <<<"$out")
column=$(od -An -v -tf4 -j 128 "$T/s.npy" | tr -s ' ' '\n' | grep -v '^$' | awk '(NR - 1) % 80 == 3 {print int((NR - 1) / 80), $1}')
want=$(sort -k2,2gr -k1,1n <<<"$column" | awk '{printf "%s ", $1}')
[ "$(wc -w <<<"$want")" -eq 16 ] || fail "could not read 16 scores"
[ -n "$got" ] && [ "$got" = "$want" ] || fail "search ranking ($got) differs from the full matrix's ($want)"
joined=$(join <(pairs <<<"$out" | sort -k1,1) <(sort -k1,1 <<<"$column"))
[ "$(wc -l <<<"$joined")" -eq 16 ] || fail "could not pair 16 scores: $joined"
worst=$(awk '{d = $2 - $3; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.3g", m}' <<<"$joined")
awk -v w="$worst" 'BEGIN {exit !(w < 1e-5)}' || fail "search scores differ from the full matrix's by $worst"
# a shortlist of the whole gallery is the exhaustive search; a shorter one keeps exact scores
full=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json --shortlist 16)
[ "$(images <<<"$full")" = "$got" ] || fail "--shortlist 16 of 16 images changed the ranking"
short=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 16 --json --shortlist 5)
grep -q '"scored":5' <<<"$short" || fail "--shortlist 5 scored: $short"
[ "$(pairs <<<"$short" | wc -l)" -eq 5 ] || fail "--shortlist 5 returned: $short"
while read -r id score; do
    grep -qx "$id $score" <(pairs <<<"$out") || fail "shortlisted image $id: score $score is not the exhaustive one"
done < <(pairs <<<"$short")
# --queries: one JSON line per line of the file, the first equal to --query's answer
sed -n 7,8p "$D/test_caps.txt" >> "$T/q.txt"
multi=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --queries "$T/q.txt" --top-k 16 --json)
[ "$(wc -l <<<"$multi")" -eq 3 ] || fail "--queries with 3 lines: $multi"
[ "$(head -1 <<<"$multi" | images)" = "$got" ] || fail "--queries' first answer differs from --query's"
# --attention: a region (or "relevant": false) for every word of every result
att=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --top-k 2 --json --attention)
n_words=$(grep -o '"word":' <<<"$att" | wc -l)
[ "$n_words" -ge 6 ] && [ $((n_words % 2)) -eq 0 ] || fail "--attention words: $att"
[ "$(grep -o '"region":[0-9]*' <<<"$att" | wc -l)" -eq "$n_words" ] || fail "--attention regions: $att"
# nonsense flags
for bad in "--query x --shortlist -1:--shortlist must be between 0 and" "--query x --top-k 0:--top-k must be between 1 and" \
           "--image-row 1 --attention:--attention is for text"; do
    set +e
    msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" ${bad%%:*} 2>&1); st=$?
    set -e
    [ $st -eq 2 ] && grep -q -- "${bad#*:}" <<<"$msg" || fail "search ${bad%%:*}: exit $st ($msg)"
done
# bench shortlist: a shortlist of the whole gallery loses nothing; a short one reports its loss
bs=$("$B" bench shortlist --index "$T/g.safetensors" --checkpoint "$C" --captions "$D/test_caps.txt" --shortlist 16,2,1 --json)
[ "$(grep -c '"bench":"shortlist"' <<<"$bs")" -eq 4 ] || fail "bench shortlist rows: $bs"
rk() { grep "\"shortlist\":$1," <<<"$bs" | grep -o "\"r$2\":[0-9.]*" | cut -d: -f2; }
r10() { rk "$1" 10; }
[ -n "$(r10 0)" ] && [ "$(r10 16)" = "$(r10 0)" ] || fail "bench shortlist: K=16 of 16 images differs from exhaustive: $bs"
# a true image outside a shortlist of K < 10 is a miss at every cutoff: with K = 1 or 2 the list
# is all there is, so R@5 = R@10 = the share of queries whose image it holds (= R@1 for K = 1;
# these once read 100 whenever K < 5)
[ "$(rk 2 5)" = "$(rk 2 10)" ] || fail "bench shortlist: K=2: R@5 $(rk 2 5) != R@10 $(rk 2 10): $bs"
[ "$(rk 1 1)" = "$(rk 1 5)" ] && [ "$(rk 1 5)" = "$(rk 1 10)" ] || fail "bench shortlist: K=1: R@1/5/10 differ: $bs"
awk -v a="$(rk 1 10)" -v b="$(rk 2 10)" -v c="$(r10 0)" 'BEGIN {exit !(a <= b && b <= 100 && a < 100)}' ||
    fail "bench shortlist: R@10 of K=1 ($(rk 1 10)), K=2 ($(rk 2 10)), exhaustive $(r10 0): $bs"
grep "\"shortlist\":16," <<<"$bs" | grep -q '"top1_same":100.00' || fail "bench shortlist: K=16 top-1: $bs"
grep "\"shortlist\":2," <<<"$bs" | grep -q '"queries":80,' || fail "bench shortlist: 80 queries: $bs"
set +e
msg=$("$B" bench shortlist --index "$T/g.safetensors" --checkpoint "$C" --captions "$T/q.txt" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "3 lines, but the index holds 16 images x 5 captions" <<<"$msg" || fail "bench shortlist, wrong captions: $st $msg"
# a queries file that is missing or empty; shortlist sizes that are not sizes
for case in "$T/none.txt:cannot open" "/dev/null:no queries"; do
    set +e
    msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --queries "${case%%:*}" 2>&1); st=$?
    set -e
    [ $st -eq 1 ] && grep -q -- "${case#*:}" <<<"$msg" || fail "search --queries ${case%%:*}: $st $msg"
done
set +e
msg=$("$B" bench shortlist --index "$T/g.safetensors" --checkpoint "$C" --captions "$D/test_caps.txt" --shortlist 5,x 2>&1); st=$?
set -e
[ $st -eq 2 ] && grep -q "is not a list of up to" <<<"$msg" || fail "bench shortlist --shortlist 5,x: $st $msg"
# a blank query line, and a blank line among bench shortlist's captions, are errors naming the line
printf 'a dog\n  \na cat\n' > "$T/blank.txt"
set +e
msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --queries "$T/blank.txt" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "blank.txt: line 2: blank caption" <<<"$msg" || fail "search, a blank query line: $st $msg"
sed '7s/.*/ /' "$D/test_caps.txt" > "$T/caps_blank.txt"
set +e
msg=$("$B" bench shortlist --index "$T/g.safetensors" --checkpoint "$C" --captions "$T/caps_blank.txt" --queries 2 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "caps_blank.txt: line 7: blank caption" <<<"$msg" || fail "bench shortlist, a blank line: $st $msg"
# region files: the wrong rank shows the shape found; more regions than the attention takes are refused
npy() {  # FILE SHAPE FLOATS: a float32 .npy of zeros
    local h="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
    while [ $(((10 + ${#h} + 1) % 64)) -ne 0 ]; do h="$h "; done
    { printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $(((${#h} + 1) % 256)))\\x$(printf %02x $(((${#h} + 1) / 256)))";
      printf '%s\n' "$h"; head -c $((4 * $3)) /dev/zero; } > "$1"
}
npy "$T/rank2.npy" "(4, 2048)" 8192
npy "$T/many.npy" "(1, 4097, 32)" 131104
for case in "index --output $T/x.safetensors --images $T/rank2.npy:rank2.npy: expected region features of shape (images, regions, dims), got shape (4, 2048)" \
            "score --captions $T/q.txt --output $T/x.npy --images $T/many.npy:many.npy: 4097 regions per image (shape (1, 4097, 32)), more than the limit of 4096"; do
    set +e
    # shellcheck disable=SC2086
    msg=$("$B" ${case%%:*} --checkpoint "$C" 2>&1); st=$?
    set -e
    [ $st -eq 1 ] && grep -qF -- "${case#*:}" <<<"$msg" || fail "${case%% *} with a bad region file: $st $msg"
done
# a vocabulary of another size is refused, not read as the model's
printf '%s' '{"word2idx":{"<pad>":0,"<start>":1,"<end>":2,"<unk>":3},"idx2word":{"0":"<pad>","1":"<start>","2":"<end>","3":"<unk>"},"idx":4}' > "$T/v4.json"
set +e
msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --query "$q" --vocab-path "$T/v4.json" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "v4.json has 4 words but .* was trained with" <<<"$msg" || fail "search, another vocabulary: $st $msg"
# image query over the indexed captions
out=$("$B" search --index "$T/g.safetensors" --checkpoint "$C" --image-row 2 --top-k 3)
[ "$(grep -c '^[123] ' <<<"$out")" -eq 3 ] || fail "image query: $out"
# another model's index is refused
set +e
msg=$("$B" search --index "$T/g.safetensors" --checkpoint "$T/b/model_best.safetensors" --query "$q" 2>&1); st=$?
set -e
[ $st -eq 1 ] && grep -q "was not made with" <<<"$msg" || fail "mismatched checkpoint: $st $msg"

# ---- integrity ----
# expect STATUS TEXT CMD...: the command exits STATUS and its output holds TEXT (grep -F)
expect() {
    local want=$1 text=$2; shift 2
    set +e
    msg=$("$@" 2>&1); st=$?
    set -e
    [ $st -eq "$want" ] && grep -qF -- "$text" <<<"$msg" || fail "$* -> exit $st (want $want, '$text'): $msg"
}
G="$T/g.safetensors"
expect 0 "$G: OK: 16 images, 80 captions, checksum verified" "$B" index --verify "$G"
expect 0 "checksum verified, made by this checkpoint" "$B" index --verify "$G" --checkpoint "$C"
expect 1 "was not made with" "$B" index --verify "$G" --checkpoint "$T/b/model_best.safetensors"
expect 2 "--verify checks an existing index" "$B" index --verify "$G" --output "$T/x.safetensors"
expect 0 '"scored":16' "$B" search --index "$G" --checkpoint "$C" --query "$q" --json --verify
# the last 100 bytes overwritten with 0xff (NaN floats): cap_glob's, then img_glob's in an index
# of images alone
"$B" index --checkpoint "$C" --images "$D/test_ims.npy" --output "$T/gi.safetensors" 2>/dev/null
ff() { head -c "$1" /dev/zero | tr '\0' '\377'; }
spoil_tail() { cp "$1" "$2"; ff 100 | dd of="$2" bs=1 seek=$(($(stat -c %s "$1") - 100)) conv=notrunc status=none; }
spoil_tail "$G" "$T/bad.safetensors"
spoil_tail "$T/gi.safetensors" "$T/badi.safetensors"
for bad in "$T/bad.safetensors" "$T/badi.safetensors"; do
    expect 1 "uarda index: $bad: corrupt: the tensor data's checksum" "$B" index --verify "$bad"
    expect 1 "uarda search: $bad: corrupt" "$B" search --index "$bad" --checkpoint "$C" --query "$q" --verify
done
# a plain search reads no checksum, but every score it makes is checked: the shortlists read the
# spoiled global embeddings
expect 1 "$T/bad.safetensors: the shortlist score of caption" "$B" search --index "$T/bad.safetensors" --checkpoint "$C" --image-row 2 --shortlist 5
expect 1 "may be corrupt (check it with uarda index --verify $T/badi.safetensors)" \
    "$B" search --index "$T/badi.safetensors" --checkpoint "$C" --query "$q" --shortlist 5
# 0xff over the first image's regions: the exhaustive search's exact scores
cp "$G" "$T/bad0.safetensors"
hl=$(od -An -tu8 -N8 "$G" | tr -d ' ')
ff 100 | dd of="$T/bad0.safetensors" bs=1 seek=$((8 + hl)) conv=notrunc status=none
expect 1 "$T/bad0.safetensors: the score of image 0 is NaN: the index may be corrupt" \
    "$B" search --index "$T/bad0.safetensors" --checkpoint "$C" --query "$q"
# files from before checksums (the key renamed away): used, with a one-line warning
LC_ALL=C sed 's/"data_xxh3"/"data_xxh0"/' "$G" > "$T/old.safetensors"
LC_ALL=C sed 's/"data_xxh3"/"data_xxh0"/' "$C" > "$T/old_ckpt.safetensors"
cmp -s "$G" "$T/old.safetensors" && fail "the index's checksum key was not renamed"
expect 0 "$T/old.safetensors: OK: 16 images, 80 captions, no checksum to verify" "$B" index --verify "$T/old.safetensors"
expect 0 "uarda index: warning: $T/old.safetensors records no checksum" "$B" index --verify "$T/old.safetensors"
expect 0 "uarda search: warning: $T/old.safetensors records no checksum" \
    "$B" search --index "$T/old.safetensors" --checkpoint "$C" --query "$q" --verify
expect 0 "uarda search: warning: $T/old_ckpt.safetensors records no checksum" \
    "$B" search --index "$G" --checkpoint "$T/old_ckpt.safetensors" --query "$q"
[ "$(grep -c warning <<<"$msg")" -eq 1 ] || fail "one warning: $msg"
# a corrupt checkpoint is refused
cp "$C" "$T/bad_ckpt.safetensors"
ff 4 | dd of="$T/bad_ckpt.safetensors" bs=1 seek=$(($(stat -c %s "$C") - 4)) conv=notrunc status=none
expect 1 "uarda search: $T/bad_ckpt.safetensors: corrupt" "$B" search --index "$G" --checkpoint "$T/bad_ckpt.safetensors" --query "$q"
# an empty caption file is not a gallery of captions
: > "$T/empty.txt"
expect 1 "uarda index: $T/empty.txt: empty caption file" \
    "$B" index --checkpoint "$C" --images "$D/test_ims.npy" --captions "$T/empty.txt" --output "$T/e.safetensors"
[ ! -e "$T/e.safetensors" ] || fail "index --captions EMPTY wrote an index"
echo "search: OK"
